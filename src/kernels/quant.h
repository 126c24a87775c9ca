// Block-wise weight quantisers of `dsv3 quantize` and the integer weight formats the
// matmul kernels read (README "Quantization" documents the checkpoint layout).
//
// Every format is "stored code × scale of its block", the scale multiplied to dequantise
// (DeepSeek's FP8 convention, so all three share WeightMatrix::scale_inv and one layout
// f32 [ceil(N/block_rows), ceil(K/block_cols)]):
//   I8       int8 code q in [-127, 127], one byte per weight, [N, K].
//   I4       4-bit code q in [-8, 7] stored as the nibble q + 8, two per byte, each row
//            ceil(K/2) bytes: weight 2i in the low nibble of byte i, 2i+1 in the high one
//            (an odd K pads the last high nibble with 8, i.e. zero).
//   F8_E4M3  DeepSeek's layout: e4m3 codes, 128×128 blocks of `weight_scale_inv`.
// I8/I4 are written with block_rows = 1 (a group of `block_cols` weights of one row shares
// a scale); kernels accept any block_rows. Groups are a multiple of kIntGroupMultiple
// weights so that SIMD chunks never straddle two scales (the last group of a row may be
// partial).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/matmul.h"

namespace dsv3 {

inline constexpr int64_t kIntGroupMultiple = 32;

inline bool is_int_weight(DType t) { return t == DType::I8 || t == DType::I4; }

// Bytes of one stored row of K weights (I4: ceil(K/2); others K × element size).
int64_t weight_row_bytes(DType t, int64_t K);

// The integer code of weight k of an I4 row (q in [-8, 7]).
inline int int4_code(const uint8_t* row, int64_t k) {
  const uint8_t b = row[k >> 1];
  return int((k & 1) ? (b >> 4) : (b & 15)) - 8;
}

// A quantised weight owning its bytes and scales.
struct QuantizedMatrix {
  DType dtype = DType::I8;  // I8, I4 or F8_E4M3
  int64_t rows = 0, cols = 0;
  int64_t block_rows = 1, block_cols = 128;
  std::vector<uint8_t> data;   // rows × weight_row_bytes(dtype, cols)
  std::vector<float> scales;   // [ceil(rows/block_rows), ceil(cols/block_cols)]
  std::vector<int64_t> scale_shape() const;
  // Shape as stored in safetensors: I4 is U8 [N, ceil(K/2)]; others [N, K].
  std::vector<int64_t> data_shape() const;
  WeightMatrix view(const std::string& name) const;
};

// Quantises any matmul weight (read through dequantize_row, so FP8 and bf16 sources both
// work) to `to`: I8 / I4 with groups of `group` weights along K (block_rows 1), or
// F8_E4M3 with group × group blocks (DeepSeek: 128). Scales: I8 max|w|/127; I4 the
// largest-magnitude weight of the group maps to -8 exactly (llama.cpp's Q4_0 rule, one
// more level than ±7); F8 max|w|/448 as DeepSeek's weight_quant. An all-zero group gets
// scale 0. Rows are split over `pool`. Throws on a bad group or target type.
QuantizedMatrix quantize_weight(const WeightMatrix& src, DType to, int64_t group,
                                ThreadPool& pool = ThreadPool::global());

// Checks a group size for `to` (positive; I8/I4: a multiple of kIntGroupMultiple).
void check_quant_group(DType to, int64_t group);

}  // namespace dsv3
