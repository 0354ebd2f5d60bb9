// C (+)= A · B on the system BLAS (cblas_sgemm / cblas_dgemm), for strided views of the
// callers' typed arrays read in place: a view with a unit column stride is a row-major BLAS
// operand, one with a unit row stride a transposed one; any other view (strides of 2 and
// more in both directions) is first packed densely (thread-local buffer, reused).
#include "gemm.h"

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <vector>

namespace convd {

namespace {

void blas(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const float* a, int lda, const float* b,
          int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}
void blas(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const double* a, int lda, const double* b,
          int ldb, double beta, double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
}

template <typename T>
struct Operand {
  const T* data;
  CBLAS_TRANSPOSE trans;
  int ld;
};

/** A rows x cols view as BLAS reads it (rows, cols >= 1), packed into `pack` when its strides do not allow that. */
template <typename T>
Operand<T> operand(const T* base, int64_t rows, int64_t cols, int64_t rs, int64_t cs, std::vector<T>& pack) {
  if (cs == 1 && (rows == 1 || (rs >= cols && rs <= INT_MAX)))
    return {base, CblasNoTrans, static_cast<int>(rows == 1 ? cols : rs)};
  if (rs == 1 && (cols == 1 || (cs >= rows && cs <= INT_MAX)))
    return {base, CblasTrans, static_cast<int>(cols == 1 ? rows : cs)};
  pack.resize(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++) pack[i * cols + j] = base[i * rs + j * cs];
  return {pack.data(), CblasNoTrans, static_cast<int>(cols)};
}

template <typename T>
void run(const GemmArgs& g) {
  T* c = g.c.as<T>() + g.cOffset;
  if (g.k == 0) {
    if (!g.accumulate)
      for (int64_t i = 0; i < g.m; i++) std::fill(c + i * g.ldc, c + i * g.ldc + g.n, T(0));
    return;
  }
  thread_local std::vector<T> packA, packB;
  const Operand<T> a = operand(g.a.as<T>() + g.aOffset, g.m, g.k, g.aRs, g.aCs, packA);
  const Operand<T> b = operand(g.b.as<T>() + g.bOffset, g.k, g.n, g.bRs, g.bCs, packB);
  blas(a.trans, b.trans, static_cast<int>(g.m), static_cast<int>(g.n), static_cast<int>(g.k), a.data, a.ld, b.data,
       b.ld, g.accumulate ? T(1) : T(0), c, static_cast<int>(g.m == 1 ? g.n : g.ldc));
}

}  // namespace

void gemm(const GemmArgs& g) {
  checkType(g.b, g.a.float64, "B");
  checkType(g.c, g.a.float64, "C");
  for (const int64_t v : {g.m, g.n, g.k})
    if (v > INT_MAX) throw RangeError("GEMM extent " + std::to_string(v) + " exceeds the BLAS int range");
  if (g.m == 0 || g.n == 0) return;
  if (g.m > 1 && g.ldc < g.n)
    throw RangeError("ldc " + std::to_string(g.ldc) + " is below the " + std::to_string(g.n) + " columns of C");
  if (g.ldc > INT_MAX) throw RangeError("ldc " + std::to_string(g.ldc) + " exceeds the BLAS int range");
  checkView(g.a, g.aOffset, g.m, g.k, g.aRs, g.aCs, "A");
  checkView(g.b, g.bOffset, g.k, g.n, g.bRs, g.bCs, "B");
  checkView(g.c, g.cOffset, g.m, g.n, g.ldc, 1, "C");
  if (g.a.float64)
    run<double>(g);
  else
    run<float>(g);
}

}  // namespace convd
