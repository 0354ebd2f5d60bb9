#pragma once

#include "args.h"

namespace convd {

/** C[i, j] = (accumulate ? C[i, j] : 0) + sum_l A[i, l] B[l, j], with A, B strided views and C[i, j] = c[cOffset + i * ldc + j]. */
struct GemmArgs {
  int64_t m, n, k;
  Array a;
  int64_t aOffset, aRs, aCs;
  Array b;
  int64_t bOffset, bRs, bCs;
  Array c;
  int64_t cOffset, ldc;
  bool accumulate;
};

/** Validates every extent and view against its array (TypeError / RangeError), then runs the BLAS GEMM. */
void gemm(const GemmArgs& g);

}  // namespace convd
