// Block-wise quantisers (see quant.h for the formats).
#include "kernels/quant.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace dsv3 {

int64_t weight_row_bytes(DType t, int64_t K) {
  return t == DType::I4 ? (K + 1) / 2 : int64_t(dtype_size(t)) * K;
}

std::vector<int64_t> QuantizedMatrix::scale_shape() const {
  return {(rows + block_rows - 1) / block_rows, (cols + block_cols - 1) / block_cols};
}

std::vector<int64_t> QuantizedMatrix::data_shape() const {
  return {rows, dtype == DType::I4 ? (cols + 1) / 2 : cols};
}

WeightMatrix QuantizedMatrix::view(const std::string& name) const {
  WeightMatrix w;
  w.dtype = dtype;
  w.rows = rows;
  w.cols = cols;
  w.data = data.data();
  w.scale_inv = scales.data();
  w.block_rows = block_rows;
  w.block_cols = block_cols;
  w.name = name;
  return w;
}

void check_quant_group(DType to, int64_t group) {
  DSV3_CHECK(to == DType::I8 || to == DType::I4 || to == DType::F8_E4M3,
             "quantize: unsupported target dtype ", dtype_name(to), " (expected I8, I4 or F8_E4M3)");
  DSV3_CHECK(group > 0, "quantize: group size must be positive, got ", group);
  if (is_int_weight(to))
    DSV3_CHECK(group % kIntGroupMultiple == 0, "quantize: group size ", group, " is not a multiple of ",
               kIntGroupMultiple, " (int8/int4 kernels read whole 32-weight chunks per scale)");
}

namespace {

// One row's groups of an I8/I4 weight.
void quantize_int_row(const float* w, int64_t K, int64_t G, DType to, uint8_t* out, float* scales) {
  const int64_t groups = (K + G - 1) / G;
  if (to == DType::I4) std::fill(out, out + (K + 1) / 2, uint8_t(0x88));
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t k0 = g * G, k1 = std::min(K, k0 + G);
    float amax = 0, extreme = 0;
    for (int64_t k = k0; k < k1; ++k)
      if (std::fabs(w[k]) > amax) amax = std::fabs(w[k]), extreme = w[k];
    // I4: the extreme weight maps to -8 exactly, so the scale carries its sign.
    const float s = to == DType::I8 ? amax / 127.0f : extreme / -8.0f;
    scales[g] = s;
    const float inv = s != 0 ? 1.0f / s : 0.0f;
    for (int64_t k = k0; k < k1; ++k) {
      const float q = std::nearbyint(w[k] * inv);
      if (to == DType::I8) {
        out[k] = uint8_t(int8_t(std::clamp(q, -127.0f, 127.0f)));
      } else {
        const uint8_t u = uint8_t(int(std::clamp(q, -8.0f, 7.0f)) + 8);
        uint8_t& b = out[k >> 1];
        b = (k & 1) ? uint8_t((b & 0x0f) | (u << 4)) : uint8_t((b & 0xf0) | u);
      }
    }
  }
}

// One block row (rows r0..r1) of an F8_E4M3 weight with G × G blocks.
void quantize_fp8_rows(const float* w, int64_t rows, int64_t K, int64_t G, uint8_t* out, float* scales) {
  for (int64_t c0 = 0, b = 0; c0 < K; c0 += G, ++b) {
    const int64_t c1 = std::min(K, c0 + G);
    float amax = 0;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = c0; k < c1; ++k) amax = std::max(amax, std::fabs(w[r * K + k]));
    const float s = amax / 448.0f;
    scales[b] = s;
    const float inv = s != 0 ? 1.0f / s : 0.0f;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = c0; k < c1; ++k) out[r * K + k] = f32_to_fp8e4m3(w[r * K + k] * inv);
  }
}

}  // namespace

QuantizedMatrix quantize_weight(const WeightMatrix& src, DType to, int64_t group, ThreadPool& pool) {
  check_quant_group(to, group);
  QuantizedMatrix q;
  q.dtype = to;
  q.rows = src.rows;
  q.cols = src.cols;
  q.block_rows = to == DType::F8_E4M3 ? group : 1;
  q.block_cols = group;
  const int64_t N = src.rows, K = src.cols, rb = weight_row_bytes(to, K);
  const std::vector<int64_t> ss = q.scale_shape();
  q.data.assign(size_t(N * rb), 0);
  q.scales.assign(size_t(ss[0] * ss[1]), 0.0f);
  const int64_t br = q.block_rows, blocks = ss[0];
  // Each task dequantises one block row (br rows) to f32 and quantises it.
  pool.parallel_for(blocks, [&](int64_t b0, int64_t b1) {
    std::vector<float> buf(size_t(br * K));
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t r0 = b * br, r1 = std::min(N, r0 + br);
      for (int64_t r = r0; r < r1; ++r) dequantize_row(src, r, buf.data() + (r - r0) * K);
      float* srow = q.scales.data() + b * ss[1];
      if (to == DType::F8_E4M3) {
        quantize_fp8_rows(buf.data(), r1 - r0, K, group, q.data.data() + r0 * K, srow);
      } else {
        quantize_int_row(buf.data(), K, group, to, q.data.data() + r0 * rb, srow);
      }
    }
  });
  return q;
}

}  // namespace dsv3
