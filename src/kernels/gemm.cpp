#include "kernels/gemm.h"

#include <cblas.h>

#include <algorithm>

#include "core/error.h"

namespace dsv3 {

void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C,
          bool accumulate) {
  DSV3_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm: negative shape ", M, "x", N, "x", K);
  if (M == 0 || N == 0) return;
  if (K == 0) {
    if (!accumulate) std::fill(C, C + M * N, 0.0f);
    return;
  }
  const int64_t lda = ta == Trans::kNo ? K : M, ldb = tb == Trans::kNo ? N : K;
  cblas_sgemm(CblasRowMajor, ta == Trans::kNo ? CblasNoTrans : CblasTrans, tb == Trans::kNo ? CblasNoTrans : CblasTrans,
              int(M), int(N), int(K), 1.0f, A, int(lda), B, int(ldb), accumulate ? 1.0f : 0.0f, C, int(N));
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
