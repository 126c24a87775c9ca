#include "kernels/gemm.h"

#include <cblas.h>

#include <algorithm>
#include <cstdlib>

#include "core/error.h"
#include "core/thread_pool.h"

namespace dsv3 {

namespace {

// OpenBLAS's pthreads build starts OPENBLAS_NUM_THREADS - 1 workers (default: one per core)
// from its own initialiser, and idle workers spin on sched_yield for a while, stealing the
// cores of inference that never calls BLAS. OpenBLAS is linked statically (CMakeLists.txt), so
// this initialiser, having a priority, runs before OpenBLAS's unprioritised one: it starts no
// worker. BLAS calls are single-threaded anyway (run_panels). A user's own value is overwritten
// on purpose (it could only start idle workers), and child processes inherit the 1.
__attribute__((constructor(101))) void openblas_without_workers() { ::setenv("OPENBLAS_NUM_THREADS", "1", 1); }

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

// One single-threaded BLAS call on a sub-block: C[M, N] (row stride ldc) = op(A)·op(B).
void blas(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
          int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  cblas_sgemm(CblasRowMajor, op(ta), op(tb), int(M), int(N), int(K), 1.0f, A, int(lda), B, int(ldb),
              accumulate ? 1.0f : 0.0f, C, int(ldc));
}
void blas(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const double* A, int64_t lda, const double* B,
          int64_t ldb, double* C, int64_t ldc, bool accumulate) {
  cblas_dgemm(CblasRowMajor, op(ta), op(tb), int(M), int(N), int(K), 1.0, A, int(lda), B, int(ldb),
              accumulate ? 1.0 : 0.0, C, int(ldc));
}

// OpenBLAS's own threading splits the K sum differently for 1 and 2 threads on larger shapes
// (0.3.21: different bits at 300x300x128), which would make training depend on the thread
// count. So OpenBLAS runs single-threaded and C is cut into panels whose boundaries depend only
// on the shape; the panels run on our pool. Each element is then always computed by the same
// BLAS call, whatever the thread count.
template <class F>
void run_panels(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const F* A, const F* B, F* C,
                bool accumulate) {
  static const bool single = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)single;
  const int64_t lda = ta == Trans::kNo ? K : M, ldb = tb == Trans::kNo ? N : K;
  const bool by_cols = N >= M;
  const int64_t extent = by_cols ? N : M;
  // Up to 16 panels of at least 128 rows/columns (a multiple of 16), none for small products.
  int64_t panels = M * N * K < (int64_t(1) << 18) ? 1 : std::clamp<int64_t>(extent / 128, 1, 16);
  const int64_t width = ((extent + panels - 1) / panels + 15) / 16 * 16;
  panels = (extent + width - 1) / width;
  auto run = [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t lo = p * width, n = std::min(extent, lo + width) - lo;
      if (by_cols) {  // columns [lo, lo+n) of C: B's columns (kNo) or rows (kYes)
        const F* Bp = tb == Trans::kNo ? B + lo : B + lo * K;
        blas(ta, tb, M, n, K, A, lda, Bp, ldb, C + lo, N, accumulate);
      } else {  // rows [lo, lo+n) of C: A's rows (kNo) or columns (kYes)
        const F* Ap = ta == Trans::kNo ? A + lo * K : A + lo;
        blas(ta, tb, n, N, K, Ap, lda, B, ldb, C + lo * N, N, accumulate);
      }
    }
  };
  if (panels == 1) run(0, 1);
  else ThreadPool::global().parallel_for(panels, run);
}

}  // namespace

void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C,
          bool accumulate) {
  if (!prepare(M, N, K, C, accumulate)) return;
  run_panels(ta, tb, M, N, K, A, B, C, accumulate);
}

void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const double* A, const double* B, double* C,
          bool accumulate) {
  if (!prepare(M, N, K, C, accumulate)) return;
  run_panels(ta, tb, M, N, K, A, B, C, accumulate);
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


}  // namespace dsv3
