// The MLA cache holds only the compressed latent c_kv (Rkv) and the shared rope key k_pe (Dr)
// per token per layer (report section 2.1.1): rows of width Rkv + Dr.
//
// LatentRows addresses one layer's rows through a block table, so the same attention code
// serves a contiguous cache (one block) and the paged cache of the serving runtime.
//
// Storage formats of a row (chosen when the cache is created):
//   f32  Rkv + Dr floats, (Rkv + Dr)·4 bytes (2304 in V3). Attention reads the rows in place.
//   fp8  DeepSeek's FP8 MLA cache as FlashMLA stores it for V3.2 (FlashMLA README "FP8 KV
//        Cache" and tests/quant.py quantize_k_cache): Rkv e4m3 codes, then one f32 scale per
//        128-value tile (scale = tile amax / 448, code = e4m3(x / scale), x ≈ code · scale),
//        then the Dr rope values as bf16 ("not quantized for accuracy": RoPE'd keys are
//        precision sensitive). 512 + 4·4 + 64·2 = 656 bytes per row in V3 (3.5x less).
//        An all-zero tile stores scale 0 and zero codes (FlashMLA would divide 0 by 0).
// Every write goes through write_latent_row and every fp8 read through read_latent_row /
// decode_latent_rows; f32 rows are also addressed directly through LatentRows::row.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dsv3 {

enum class LatentFormat : uint8_t { kF32, kFp8 };

// "f32" | "fp8"; anything else throws Error naming the accepted values.
LatentFormat parse_latent_format(const std::string& s);
const char* latent_format_name(LatentFormat f);

// The shape of one cache row: Rkv latent values then Dr rope values, in `format`.
struct LatentLayout {
  static constexpr int64_t kFp8Tile = 128;  // values sharing one f32 scale (FlashMLA tile_size)
  LatentFormat format = LatentFormat::kF32;
  int64_t rkv = 0, dr = 0;
  int64_t width() const { return rkv + dr; }  // values per row
  int64_t tiles() const { return (rkv + kFp8Tile - 1) / kFp8Tile; }
  int64_t row_bytes() const {
    return format == LatentFormat::kF32 ? width() * int64_t(sizeof(float))
                                        : rkv + tiles() * int64_t(sizeof(float)) + dr * 2;
  }
};

struct LatentRows {
  uint8_t* const* blocks = nullptr;  // block table: blocks[i] holds rows [i·B, (i+1)·B)
  int64_t block_size = 0;            // B, rows per block
  LatentLayout layout;
  int64_t row_bytes = 0;             // layout.row_bytes(), kept for addressing
  int64_t width() const { return layout.width(); }
  bool is_f32() const { return layout.format == LatentFormat::kF32; }
  uint8_t* raw(int64_t s) const { return blocks[s / block_size] + (s % block_size) * row_bytes; }
  // Row s as floats: f32 format only.
  float* row(int64_t s) const { return reinterpret_cast<float*>(raw(s)); }
};

// Quantises the Rkv + Dr values of `v` into row s (f32: a plain copy).
void write_latent_row(const LatentRows& rows, int64_t s, const float* v);
// Row s as Rkv + Dr floats (fp8: codes · scale, bf16 rope widened).
void read_latent_row(const LatentRows& rows, int64_t s, float* out);
// Encodes / decodes one row in the layout's format (the functions above, without addressing).
void encode_latent_row(const LatentLayout& layout, const float* v, uint8_t* dst);
void decode_latent_row(const LatentLayout& layout, const uint8_t* src, float* out);

// For attention: an f32 view of rows [0, n). An f32 cache is returned as is (no copy); any
// other format is decoded row by row into `scratch` ([n, Rkv + Dr]) which the view points to.
struct DecodedLatents {
  LatentRows view;
  std::vector<float> scratch;
  uint8_t* table = nullptr;
};
void decode_latent_rows(const LatentRows& rows, int64_t n, DecodedLatents& out);

// A single sequence's cache over `layers` layers, contiguous per layer, fixed capacity.
class ContiguousLatentCache {
 public:
  ContiguousLatentCache(int64_t layers, const LatentLayout& layout, int64_t capacity);
  // f32 rows of `width` values.
  ContiguousLatentCache(int64_t layers, int64_t width, int64_t capacity)
      : ContiguousLatentCache(layers, LatentLayout{LatentFormat::kF32, width, 0}, capacity) {}
  LatentRows layer(int64_t l) const {
    return {&block_ptrs_[size_t(l)], capacity_, layout_, layout_.row_bytes()};
  }
  // layer(l) for every layer, as Model::forward takes them.
  std::vector<LatentRows> layers() const {
    std::vector<LatentRows> v;
    for (size_t l = 0; l < block_ptrs_.size(); ++l) v.push_back(layer(int64_t(l)));
    return v;
  }
  int64_t capacity() const { return capacity_; }
  int64_t width() const { return layout_.width(); }
  const LatentLayout& layout() const { return layout_; }
  size_t bytes() const { return storage_.size() * sizeof(float); }

 private:
  LatentLayout layout_;
  int64_t capacity_;
  std::vector<float> storage_;  // floats keep f32 rows aligned; fp8 rows are bytes within
  std::vector<uint8_t*> block_ptrs_;
};

}  // namespace dsv3
