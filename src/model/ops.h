// Element-wise and row-wise f32 ops of the transformer (RMSNorm, SiLU·up, softmax).
// Written as plain loops the compiler vectorises; they are their own scalar reference.
#pragma once
#include <cstdint>

namespace dsv3 {

// y = x / sqrt(mean(x²) + eps) · w over n values (RMSNorm; y may alias x).
void rmsnorm(const float* x, const float* w, float eps, int64_t n, float* y);
// gate[i] = silu(gate[i]) · up[i]  (SwiGLU, in place in gate)
void silu_mul(float* gate, const float* up, int64_t n);
// In-place numerically stable softmax over n values (kernels/softmax.h: SIMD exp).
void softmax_inplace(float* x, int64_t n);

}  // namespace dsv3
