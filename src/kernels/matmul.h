// Matrix products against weights kept in their stored dtype (DESIGN.md: FP8 stays FP8;
// kernels dequantise on the fly). Activations and accumulation are f32.
//
// Layout is Hugging Face's nn.Linear: W[N, K] (out × in), y[T, N] = x[T, K] · Wᵀ.
// Every variant has a scalar twin (matmul_ref) and a test comparing the two.
#pragma once
#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "core/thread_pool.h"

namespace dsv3 {

struct WeightMatrix {
  DType dtype = DType::F32;  // F32, F16, BF16, F8_E4M3
  int64_t rows = 0;          // N, output features
  int64_t cols = 0;          // K, input features
  const void* data = nullptr;
  // F8_E4M3 only: DeepSeek's `weight_scale_inv`, f32 [ceil(N/block_rows), ceil(K/block_cols)],
  // row-major; the real weight is fp8 value × scale_inv of its block (edge blocks partial).
  const float* scale_inv = nullptr;
  int64_t block_rows = 128, block_cols = 128;
  std::string name;  // for error messages
};

// y[T, N] = x[T, K] · Wᵀ, overwriting y. Runs on `pool` split over output rows (decode)
// or over row blocks × tokens (prefill). Picks AVX-512 / AVX2 / scalar at run time.
void matmul(const float* x, int64_t T, const WeightMatrix& w, float* y,
            ThreadPool& pool = ThreadPool::global());

// Plain scalar twin of matmul: same contract, single thread, no SIMD.
void matmul_ref(const float* x, int64_t T, const WeightMatrix& w, float* y);

// Row r of W as f32 (embedding lookup, absorbed-MLA weight slices, tests).
void dequantize_row(const WeightMatrix& w, int64_t r, float* out);

// Which SIMD level matmul dispatches to on this CPU ("avx512bf16", "avx512", "avx2", "scalar").
const char* matmul_isa();

}  // namespace dsv3
