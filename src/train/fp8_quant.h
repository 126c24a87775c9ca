// E4M3 fake quantisation with fine-grained scales (DeepSeek-V3 report section 3.3.2): each
// group of values (a tile or block) gets its own scale s = group amax / 448 (the largest finite
// e4m3 value), and every value x of the group becomes e4m3(x / s) · s, e4m3 rounding to nearest
// even and saturating (core/dtype.h). An all-zero group stays zero. The values stay in F: CPU
// training emulates FP8 GEMMs by running the f32 GEMMs on these rounded values.
//
// Error bound (tested in tests/unit/train_fp8_activations_test.cpp): |x/s| ≤ 448 < 2^9, so a
// normal e4m3 value keeps 3 mantissa bits: |q − x| ≤ 2^-4·|x|; below 2^-6 (subnormals, steps of
// 2^-9) |q − x| ≤ 2^-10·s = amax·2^-10/448. Values already on a group's grid stay unchanged.
#pragma once
#include <cstdint>

namespace dsv3 {

// In place on a row-major [rows, cols] matrix, F ∈ {float, double}:
//   quantize_tiles_e4m3      1 × tile groups along each row (activations: per token per 128 channels);
//   quantize_col_tiles_e4m3  tile × 1 groups along each column (per channel per 128 tokens);
//   quantize_blocks_e4m3     br × bc blocks (weights: 128 × 128).
// Partial groups at the ends are groups of their own.
template <class F>
void quantize_tiles_e4m3(F* x, int64_t rows, int64_t cols, int64_t tile = 128);
template <class F>
void quantize_col_tiles_e4m3(F* x, int64_t rows, int64_t cols, int64_t tile = 128);
template <class F>
void quantize_blocks_e4m3(F* w, int64_t rows, int64_t cols, int64_t br = 128, int64_t bc = 128);

}  // namespace dsv3
