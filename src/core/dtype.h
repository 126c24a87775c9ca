// Element types of stored tensors and their scalar conversions.
// FP8 is OCP e4m3fn (the `F8_E4M3` of safetensors, used by DeepSeek-V3's released weights):
// no infinities, 0x7f/0xff are NaN, max finite 448.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace dsv3 {

enum class DType : uint8_t { F32, F16, BF16, F8_E4M3, F64, I64, I32, I16, I8, U8, BOOL, I4 };

// Bytes per element; I4 packs two per byte and reports 0 here (use storage_bytes()).
size_t dtype_size(DType t);
// Bytes needed to store n elements of type t.
size_t storage_bytes(DType t, int64_t n);
// safetensors spelling ("BF16", "F8_E4M3", ...).
std::string_view dtype_name(DType t);
// Parses a safetensors dtype string; returns false when unknown.
bool parse_dtype(std::string_view s, DType* out);

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round-to-nearest-even, NaN kept quiet (the rounding torch's .to(bfloat16) uses).
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

namespace detail {
constexpr float fp8_decode(int v) {
  int exp = (v >> 3) & 0xf, mant = v & 7;
  if (exp == 0xf && mant == 7) return __builtin_nanf("");
  float scale = 1.0f / 512.0f;  // subnormal quantum: 2^-9
  float f = float(mant) * scale;
  if (exp != 0) {
    float p = 1.0f;
    for (int e = exp - 7; e > 0; --e) p *= 2.0f;
    for (int e = exp - 7; e < 0; ++e) p *= 0.5f;
    f = (1.0f + float(mant) / 8.0f) * p;
  }
  return (v & 0x80) ? -f : f;
}
struct Fp8Table {
  float v[256];
  constexpr Fp8Table() : v() {
    for (int i = 0; i < 256; ++i) v[i] = fp8_decode(i);
  }
};
}  // namespace detail

// Table-driven decode of all 256 e4m3fn codes, built at compile time.
inline constexpr detail::Fp8Table kFp8E4m3ToF32{};
inline float fp8e4m3_to_f32(uint8_t v) { return kFp8E4m3ToF32.v[v]; }
// Round-to-nearest-even with saturation to +-448 (torch's float8_e4m3fn cast saturates
// only when asked; callers scale into range first, as DeepSeek's weight_quant does).
uint8_t f32_to_fp8e4m3(float f);

}  // namespace dsv3
