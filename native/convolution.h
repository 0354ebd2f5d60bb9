#pragma once

#include "args.h"

namespace convd {

/**
 * A float32 convolution on oneDNN, planned once (workers/engines/native.ts keeps the plans):
 * memory descriptors with the caller's strides (either layout, groups, dilation, 1-D to 3-D,
 * zeros padding) and, made on first use, the forward, backward-data and backward-weights
 * primitives with the reorders between the caller's layout and the one each primitive chose.
 */
class Convolution;

/** Number of float64 fields in a convolution record (workers/engines/native.ts CONV_LAYOUT). */
constexpr int CONV_FIELDS = 34;

/** Validates a record into a plan; throws RangeError naming the field. */
Convolution* makeConvolution(const double* record);
void destroy(Convolution* c);

/**
 * Element offsets: the call's first image of x (dx) and of y (dy). Forward and backward
 * weights return false, computing nothing, when taps meet zero padding and the weight (dy)
 * holds a non-finite value: oneDNN skips padded taps, so 0 · inf would not become the NaN the
 * definition gives; the caller runs im2col + GEMM then.
 */
bool convForward(Convolution& c, const Array& x, int64_t xAt, const Array& w, const Array* bias, const Array& y,
                 int64_t yAt);
void convBackwardData(Convolution& c, const Array& w, const Array& dy, int64_t dyAt, const Array& dx, int64_t dxAt);
bool convBackwardWeights(Convolution& c, const Array& x, int64_t xAt, const Array& dy, int64_t dyAt, const Array& dw);

/** "oneDNN 2.6.3 (avx512_core_bf16)": version and the instruction set its kernels dispatch to. */
std::string convolutionLibrary();

/** The implementation oneDNN chose for each direction made so far ("" when not made), for the bench and tests. */
std::string convolutionImplementations(const Convolution& c);

}  // namespace convd
