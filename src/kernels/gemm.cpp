#include "kernels/gemm.h"

#include <cblas.h>

#include <algorithm>

#include "core/error.h"

namespace dsv3 {

namespace {

// Shared checks; returns false when there is nothing for BLAS to do.
template <class F>
bool prepare(int64_t M, int64_t N, int64_t K, F* C, bool accumulate) {
  DSV3_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm: negative shape ", M, "x", N, "x", K);
  DSV3_CHECK(M < (int64_t(1) << 31) && N < (int64_t(1) << 31) && K < (int64_t(1) << 31), "gemm: shape ", M, "x",
             N, "x", K, " exceeds BLAS int range");
  if (M == 0 || N == 0) return false;
  if (K == 0) {
    if (!accumulate) std::fill(C, C + M * N, F(0));
    return false;
  }
  return true;
}

CBLAS_TRANSPOSE op(Trans t) { return t == Trans::kNo ? CblasNoTrans : CblasTrans; }

}  // namespace

void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C,
          bool accumulate) {
  if (!prepare(M, N, K, C, accumulate)) return;
  const int64_t lda = ta == Trans::kNo ? K : M, ldb = tb == Trans::kNo ? N : K;
  cblas_sgemm(CblasRowMajor, op(ta), op(tb), int(M), int(N), int(K), 1.0f, A, int(lda), B, int(ldb),
              accumulate ? 1.0f : 0.0f, C, int(N));
}

void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const double* A, const double* B, double* C,
          bool accumulate) {
  if (!prepare(M, N, K, C, accumulate)) return;
  const int64_t lda = ta == Trans::kNo ? K : M, ldb = tb == Trans::kNo ? N : K;
  cblas_dgemm(CblasRowMajor, op(ta), op(tb), int(M), int(N), int(K), 1.0, A, int(lda), B, int(ldb),
              accumulate ? 1.0 : 0.0, C, int(N));
}

void gemm_ref(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C,
              bool accumulate) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = accumulate ? C[m * N + n] : 0.0;
      for (int64_t k = 0; k < K; ++k) {
        const float a = ta == Trans::kNo ? A[m * K + k] : A[k * M + m];
        const float b = tb == Trans::kNo ? B[k * N + n] : B[n * K + k];
        s += double(a) * double(b);
      }
      C[m * N + n] = float(s);
    }
}

void set_gemm_threads(int n) { openblas_set_num_threads(std::max(1, n)); }

}  // namespace dsv3
