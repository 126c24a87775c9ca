// Dense f32 GEMM for training (forward and backward passes over f32 master weights).
// Backward needs all three layouts: dX = dY·W (NN), dW = dYᵀ·X (TN), Y = X·Wᵀ (NT).
// Runs on OpenBLAS (single-threaded calls on fixed panels of C, split over the global
// ThreadPool, so results do not depend on the thread count); gemm_ref is the scalar twin.
#pragma once
#include <cstdint>

namespace dsv3 {

enum class Trans : uint8_t { kNo, kYes };

// C[M, N] = op(A)·op(B) (accumulate: C += op(A)·op(B)). Row-major and contiguous:
// A is [M, K] (kNo) or [K, M] (kYes); B is [K, N] (kNo) or [N, K] (kYes).
void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C,
          bool accumulate = false);

// The same in double precision (finite-difference gradient checks of training layers).
void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const double* A, const double* B, double* C,
          bool accumulate = false);

// Plain scalar twin (double accumulation): same contract.
void gemm_ref(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C,
              bool accumulate = false);

}  // namespace dsv3
