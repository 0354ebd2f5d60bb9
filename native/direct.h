#pragma once

#include "args.h"

namespace convd {

/**
 * The direct correlation of one channel on a dense padded volume (workers/kernels/direct.ts:
 * the depthwise path), its extents validated once per call against every array.
 */
struct DirectDims {
  int64_t span[3], out[3], k[3], stride[3], dilation[3];
};

/** Fields of a direct-dims record: span, out, k, stride, dilation (D, H, W each). */
constexpr int DIRECT_FIELDS = 15;

DirectDims makeDirectDims(const double* record);

/** out[outAt + o] = sum_t wk[t] xp[o * stride + t * dilation] + bias. */
void directForward(const DirectDims& d, const Array& xp, const Array& wk, double bias, const Array& out, int64_t outAt);
/** dxp[o * stride + t * dilation] += wk[t] dy[dyAt + o]. */
void directGradInput(const DirectDims& d, const Array& dy, int64_t dyAt, const Array& wk, const Array& dxp);
/** dwk[dwkAt + t] += sum_o dy[dyAt + o] xp[o * stride + t * dilation]. */
void directGradWeight(const DirectDims& d, const Array& dy, int64_t dyAt, const Array& xp, const Array& dwk,
                      int64_t dwkAt);

}  // namespace convd
