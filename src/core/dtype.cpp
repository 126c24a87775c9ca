#include "core/dtype.h"

#include <array>
#include <cmath>

namespace dsv3 {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F64: case DType::I64: return 8;
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: return 2;
    case DType::F8_E4M3: case DType::I8: case DType::U8: case DType::BOOL: return 1;
    case DType::I4: return 0;
  }
  return 0;
}

size_t storage_bytes(DType t, int64_t n) {
  if (t == DType::I4) return size_t((n + 1) / 2);
  return dtype_size(t) * size_t(n);
}

namespace {
struct Name {
  DType t;
  std::string_view s;
};
constexpr std::array<Name, 12> kNames{{{DType::F32, "F32"},
                                       {DType::F16, "F16"},
                                       {DType::BF16, "BF16"},
                                       {DType::F8_E4M3, "F8_E4M3"},
                                       {DType::F64, "F64"},
                                       {DType::I64, "I64"},
                                       {DType::I32, "I32"},
                                       {DType::I16, "I16"},
                                       {DType::I8, "I8"},
                                       {DType::U8, "U8"},
                                       {DType::BOOL, "BOOL"},
                                       {DType::I4, "I4"}}};
}  // namespace

std::string_view dtype_name(DType t) {
  for (const auto& n : kNames)
    if (n.t == t) return n.s;
  return "?";
}

bool parse_dtype(std::string_view s, DType* out) {
  for (const auto& n : kNames)
    if (n.s == s) {
      *out = n.t;
      return true;
    }
  return false;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  float f;
  if (exp == 0) {
    f = std::ldexp(float(mant), -24);
    return sign ? -f : f;
  }
  uint32_t u = exp == 31 ? (sign | 0x7f800000u | (mant << 13))
                         : (sign | ((exp + 112) << 23) | (mant << 13));
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint16_t sign = uint16_t((u >> 16) & 0x8000);
  float a = std::fabs(f);
  if (std::isnan(f)) return sign | 0x7e00;
  if (a >= 65520.0f) return sign | 0x7c00;
  if (a < 6.103515625e-05f) {  // subnormal: quantum 2^-24, RNE via nearbyint
    return sign | uint16_t(std::nearbyint(a * 16777216.0f));
  }
  uint32_t ua;
  std::memcpy(&ua, &a, 4);
  ua += 0xfffu + ((ua >> 13) & 1u);
  return sign | uint16_t(((ua >> 23) - 112) << 10 | ((ua >> 13) & 0x3ff));
}

uint8_t f32_to_fp8e4m3(float f) {
  if (std::isnan(f)) return 0x7f;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  const float a = std::fabs(f);
  if (a >= 448.0f) return sign | 0x7e;  // saturate (no infinities in e4m3fn)
  if (a < 0.015625f) {
    // Subnormal range (below 2^-6): multiples of 2^-9; nearbyint rounds half to even, and
    // a result of 8 is exactly the smallest normal code 0x08.
    return sign | uint8_t(std::nearbyint(a * 512.0f));
  }
  // Normal: keep 3 mantissa bits with round-to-nearest-even on the f32 bit pattern; a carry
  // out of the mantissa bumps the exponent, which is what rounding up to it means.
  uint32_t bits;
  std::memcpy(&bits, &a, 4);
  bits += 0x7ffffu + ((bits >> 20) & 1u);
  const int exp = int(bits >> 23) - 127 + 7;
  const uint32_t mant = (bits >> 20) & 7u;
  if (exp > 15 || (exp == 15 && mant == 7)) return sign | 0x7e;
  return sign | uint8_t((uint32_t(exp) << 3) | mant);
}

}  // namespace dsv3
