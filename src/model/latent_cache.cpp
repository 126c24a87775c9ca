#include "model/latent_cache.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/dtype.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/matmul.h"

namespace dsv3 {

LatentFormat parse_latent_format(const std::string& s) {
  if (s == "f32") return LatentFormat::kF32;
  if (s == "fp8") return LatentFormat::kFp8;
  throw Error("--kv-cache: unknown latent cache format '" + s + "' (expected f32 or fp8)");
}

const char* latent_format_name(LatentFormat f) { return f == LatentFormat::kFp8 ? "fp8" : "f32"; }

void encode_latent_row(const LatentLayout& layout, const float* v, uint8_t* dst) {
  if (layout.format == LatentFormat::kF32) {
    std::memcpy(dst, v, sizeof(float) * size_t(layout.width()));
    return;
  }
  // [Rkv e4m3 codes][tiles f32 scales][Dr bf16], as FlashMLA's quantize_k_cache.
  const int64_t T = LatentLayout::kFp8Tile;
  uint8_t* scales = dst + layout.rkv;
  for (int64_t t = 0; t < layout.tiles(); ++t) {
    const int64_t c0 = t * T, c1 = std::min(layout.rkv, c0 + T);
    float amax = 0.0f;
    for (int64_t c = c0; c < c1; ++c) amax = std::max(amax, std::fabs(v[c]));
    const float scale = amax / 448.0f;
    std::memcpy(scales + t * int64_t(sizeof(float)), &scale, sizeof(float));
    if (scale == 0.0f) {  // all-zero tile (or amax subnormal enough to vanish): zero codes
      std::memset(dst + c0, 0, size_t(c1 - c0));
      continue;
    }
    for (int64_t c = c0; c < c1; ++c) dst[c] = f32_to_fp8e4m3(v[c] / scale);
  }
  uint8_t* rope = scales + layout.tiles() * int64_t(sizeof(float));
  for (int64_t i = 0; i < layout.dr; ++i) {
    const uint16_t b = f32_to_bf16(v[layout.rkv + i]);
    std::memcpy(rope + 2 * i, &b, 2);
  }
}

void decode_latent_row(const LatentLayout& layout, const uint8_t* src, float* out) {
  if (layout.format == LatentFormat::kF32) {
    std::memcpy(out, src, sizeof(float) * size_t(layout.width()));
    return;
  }
  // The latent part is a 1 × Rkv FP8 matrix with 128-wide scale blocks, so the weights'
  // SIMD dequantize_row decodes it (code · scale, bit-identical to the scalar product).
  // The scales are copied out: within a row they need not be 4-byte aligned.
  const uint8_t* scales = src + layout.rkv;
  float scale_buf[64];
  std::vector<float> scale_heap;
  float* sc = scale_buf;
  if (layout.tiles() > 64) {
    scale_heap.resize(size_t(layout.tiles()));
    sc = scale_heap.data();
  }
  std::memcpy(sc, scales, sizeof(float) * size_t(layout.tiles()));
  WeightMatrix m;
  m.dtype = DType::F8_E4M3;
  m.rows = 1;
  m.cols = layout.rkv;
  m.data = src;
  m.scale_inv = sc;
  m.block_rows = 1;
  m.block_cols = LatentLayout::kFp8Tile;
  if (layout.rkv > 0) dequantize_row(m, 0, out);
  const uint8_t* rope = scales + layout.tiles() * int64_t(sizeof(float));
  for (int64_t i = 0; i < layout.dr; ++i) {
    uint16_t b;
    std::memcpy(&b, rope + 2 * i, 2);
    out[layout.rkv + i] = bf16_to_f32(b);
  }
}

void write_latent_row(const LatentRows& rows, int64_t s, const float* v) { encode_latent_row(rows.layout, v, rows.raw(s)); }

void read_latent_row(const LatentRows& rows, int64_t s, float* out) { decode_latent_row(rows.layout, rows.raw(s), out); }

void decode_latent_rows(const LatentRows& rows, int64_t n, DecodedLatents& out) {
  if (rows.is_f32()) {
    out.view = rows;
    return;
  }
  const int64_t W = rows.width();
  out.scratch.resize(size_t(std::max<int64_t>(n, 1) * W));
  // Rows are independent: the split over threads does not change any value.
  ThreadPool::global().parallel_for(n, [&](int64_t b, int64_t e) {
    for (int64_t s = b; s < e; ++s) read_latent_row(rows, s, &out.scratch[size_t(s * W)]);
  }, 64);
  out.table = reinterpret_cast<uint8_t*>(out.scratch.data());
  const LatentLayout f32{LatentFormat::kF32, rows.layout.rkv, rows.layout.dr};
  out.view = LatentRows{&out.table, std::max<int64_t>(n, 1), f32, f32.row_bytes()};
}

ContiguousLatentCache::ContiguousLatentCache(int64_t layers, const LatentLayout& layout, int64_t capacity)
    : layout_(layout), capacity_(capacity) {
  DSV3_CHECK(layers >= 0 && layout.width() > 0 && layout.rkv >= 0 && layout.dr >= 0 && capacity > 0,
             "invalid latent cache geometry");
  const int64_t layer_bytes = layout.row_bytes() * capacity;
  storage_.resize(size_t((layers * layer_bytes + 3) / 4));
  auto* base = reinterpret_cast<uint8_t*>(storage_.data());
  for (int64_t l = 0; l < layers; ++l) block_ptrs_.push_back(base + l * layer_bytes);
}

}  // namespace dsv3
