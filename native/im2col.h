#pragma once

#include "args.h"

namespace convd {

/**
 * A lowered convolution as im2col / col2im read it (workers/kernels/lowering.ts ConvDims; the
 * record layout is workers/engines/wasm.ts PLAN_LAYOUT), validated once when it is made.
 */
struct Im2colPlan {
  int64_t inExt[3], kExt[3], outExt[3], stride[3], dilation[3], padBefore[3], xSpatial[3];
  int64_t xC, cinG, rowPerChannel, rowPerOffset;
  int mode;  // 0 zeros, 1 reflect, 2 replicate, 3 circular (PADDING_MODES order)
  int64_t positions, kSize;
  /** Largest im2col row index, and the largest input offset one group's channels reach from its first channel. */
  int64_t lastRow, channelReach;
};

/** Number of float64 fields in a plan record. */
constexpr int PLAN_FIELDS = 26;

/** Validates a record (extents, strides, padding within what each mode can map) into a plan; throws RangeError naming the field. */
Im2colPlan makePlan(const double* record);

/** cols[row * ld + (p - p0)] = im2col of group `group` of the image at element `image` of x, positions [p0, p1). */
void im2col(const Im2colPlan& p, const Array& x, int64_t image, int64_t group, int64_t p0, int64_t p1, const Array& cols,
            int64_t colsOffset, int64_t ld);

/** dx += col2im(dcols): the adjoint of im2col. */
void col2im(const Im2colPlan& p, const Array& dcols, int64_t colsOffset, int64_t ld, int64_t group, int64_t p0,
            int64_t p1, const Array& dx, int64_t image);

}  // namespace convd
