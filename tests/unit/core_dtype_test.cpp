// Scalar dtype conversions of core/dtype.h: exhaustive round trips for bf16, f16 and fp8
// e4m3fn, the fp8 table against the format's formula, and round-to-nearest-even (with
// saturation for fp8) against an independent double-precision reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "core/dtype.h"

namespace dsv3 {
namespace {

// e4m3fn by its definition (OCP 8-bit floating point spec): bias 7, no infinities,
// S.1111.111 is NaN, exponent 0 is subnormal with quantum 2^-9.
double fp8_formula(int c) {
  const int s = c >> 7, e = (c >> 3) & 15, m = c & 7;
  if (e == 15 && m == 7) return std::numeric_limits<double>::quiet_NaN();
  const double mag = e == 0 ? std::ldexp(m, -9) : std::ldexp(1.0 + m / 8.0, e - 7);
  return s ? -mag : mag;
}

// Nearest of two candidates lo < hi (doubles) to v, ties to the one whose code is even.
template <class Code>
Code nearest(double v, double lo, Code lo_code, double hi, Code hi_code) {
  const double dlo = v - lo, dhi = hi - v;
  if (dlo < dhi) return lo_code;
  if (dhi < dlo) return hi_code;
  return (lo_code & 1) ? hi_code : lo_code;
}

TEST(DType, SizesAndNames) {
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::F8_E4M3, DType::F64, DType::I64, DType::I32,
                  DType::I16, DType::I8, DType::U8, DType::BOOL, DType::I4}) {
    DType back;
    ASSERT_TRUE(parse_dtype(dtype_name(t), &back)) << dtype_name(t);
    EXPECT_EQ(back, t);
  }
  DType dummy;
  EXPECT_FALSE(parse_dtype("F8_E5M2_NOPE", &dummy));
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
  EXPECT_EQ(dtype_size(DType::F8_E4M3), 1u);
  EXPECT_EQ(storage_bytes(DType::I4, 5), 3u);
  EXPECT_EQ(storage_bytes(DType::F32, 5), 20u);
}

TEST(Fp8, DecodeTableMatchesFormulaExhaustively) {
  for (int c = 0; c < 256; ++c) {
    const double want = fp8_formula(c);
    const float got = fp8e4m3_to_f32(uint8_t(c));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << c;
      continue;
    }
    EXPECT_EQ(double(got), want) << "code " << c;
    EXPECT_EQ(std::signbit(got), bool(c & 0x80)) << "code " << c;  // -0 for 0x80
  }
  EXPECT_EQ(fp8e4m3_to_f32(0x7e), 448.0f);
  EXPECT_EQ(fp8e4m3_to_f32(0xfe), -448.0f);
  EXPECT_TRUE(std::isnan(fp8e4m3_to_f32(0x7f)));
  EXPECT_TRUE(std::isnan(fp8e4m3_to_f32(0xff)));
  EXPECT_EQ(fp8e4m3_to_f32(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
  EXPECT_EQ(fp8e4m3_to_f32(0x07), 7 * std::ldexp(1.0f, -9));
  EXPECT_EQ(fp8e4m3_to_f32(0x08), std::ldexp(1.0f, -6));  // smallest normal
}

TEST(Fp8, RoundTripEveryFiniteCode) {
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7f) == 0x7f) continue;
    EXPECT_EQ(int(f32_to_fp8e4m3(fp8e4m3_to_f32(uint8_t(c)))), c) << "code " << c;
  }
  EXPECT_EQ(f32_to_fp8e4m3(std::numeric_limits<float>::quiet_NaN()) & 0x7f, 0x7f);
}

TEST(Fp8, EncodeRoundsToNearestEvenAndSaturates) {
  // Midpoints between neighbouring codes go to the even code; nudged ones go to the nearer.
  for (int c = 0; c < 126; ++c) {
    const double lo = fp8_formula(c), hi = fp8_formula(c + 1);
    const float mid = float((lo + hi) / 2);  // exact in f32
    const int even = (c & 1) ? c + 1 : c;
    EXPECT_EQ(int(f32_to_fp8e4m3(mid)), even) << "midpoint after code " << c;
    EXPECT_EQ(int(f32_to_fp8e4m3(-mid)), even | 0x80) << "negative midpoint after code " << c;
    EXPECT_EQ(int(f32_to_fp8e4m3(std::nextafter(mid, 0.0f))), c) << c;
    EXPECT_EQ(int(f32_to_fp8e4m3(std::nextafter(mid, 1e9f))), c + 1) << c;
  }
  // Random values against the two-candidate reference.
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> logmag(-12.0, 9.5);
  for (int i = 0; i < 200000; ++i) {
    const float v = float(std::exp2(logmag(rng)));
    uint8_t want;
    if (v >= 448.0f) {
      want = 0x7e;
    } else {
      int lo = 0;
      while (lo < 126 && fp8_formula(lo + 1) <= v) ++lo;
      want = lo == 126 ? uint8_t(126) : nearest<uint8_t>(v, fp8_formula(lo), uint8_t(lo), fp8_formula(lo + 1), uint8_t(lo + 1));
    }
    ASSERT_EQ(int(f32_to_fp8e4m3(v)), int(want)) << v;
    ASSERT_EQ(int(f32_to_fp8e4m3(-v)), int(want | 0x80)) << -v;
  }
  // Saturation: everything at or beyond the largest finite value clamps to ±448.
  for (float v : {448.0f, 449.0f, 464.0f, 480.0f, 1e6f, 3.0e38f, std::numeric_limits<float>::infinity()}) {
    EXPECT_EQ(int(f32_to_fp8e4m3(v)), 0x7e) << v;
    EXPECT_EQ(int(f32_to_fp8e4m3(-v)), 0xfe) << -v;
  }
  // Underflow: below half the smallest subnormal rounds to zero; exactly half ties to 0.
  EXPECT_EQ(int(f32_to_fp8e4m3(std::ldexp(1.0f, -10))), 0);
  EXPECT_EQ(int(f32_to_fp8e4m3(std::ldexp(1.0f, -10) * 1.01f)), 1);
  EXPECT_EQ(int(f32_to_fp8e4m3(1e-30f)), 0);
  EXPECT_EQ(int(f32_to_fp8e4m3(-0.0f)), 0x80);
}

TEST(Bf16, RoundTripAllPatterns) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_f32(uint16_t(h));
    EXPECT_EQ(std::bit_cast<uint32_t>(f), h << 16);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(f))));
      continue;
    }
    ASSERT_EQ(f32_to_bf16(f), h) << std::hex << h;
  }
}

TEST(Bf16, EncodeRoundsToNearestEven) {
  // Exact ties: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 → even (1.0).
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);  // tie → even 0x3f82
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds up to inf (IEEE RNE)
  std::mt19937 rng(12);
  for (int i = 0; i < 1000000; ++i) {
    const uint32_t u = rng();
    const float f = std::bit_cast<float>(u);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(f))));
      continue;
    }
    const uint16_t lo = uint16_t(u >> 16);
    const uint16_t hi = uint16_t(lo + 1);
    // Magnitudes: lo toward zero, hi away from zero (hi of the largest finite is ±inf = 2^128).
    const double a = std::fabs(double(f));
    const double alo = std::fabs(double(bf16_to_f32(lo)));
    const double ahi = (hi & 0x7fff) == 0x7f80 ? std::ldexp(1.0, 128) : std::fabs(double(bf16_to_f32(hi)));
    const uint16_t want = nearest<uint16_t>(a, alo, lo, ahi, hi);
    ASSERT_EQ(f32_to_bf16(f), want) << std::hex << u;
  }
}

TEST(F16, RoundTripAllPatterns) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32(uint16_t(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f))));
      continue;
    }
    ASSERT_EQ(f32_to_f16(f), h) << std::hex << h;
  }
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_TRUE(std::isinf(f16_to_f32(0x7c00)));
}

TEST(F16, EncodeRoundsToNearestEven) {
  // All finite f16 magnitudes, ascending, as doubles.
  std::vector<double> mags;
  for (int h = 0; h < 0x7c00; ++h) mags.push_back(double(f16_to_f32(uint16_t(h))));
  mags.push_back(65536.0);  // the "next" value past 65504: ties at 65520 go to it (inf)
  std::mt19937 rng(13);
  std::uniform_real_distribution<double> logmag(-26.0, 16.5);
  for (int i = 0; i < 300000; ++i) {
    const float v = float(std::exp2(logmag(rng)));
    uint16_t want = 0x7c00;  // at or past 65520 (the tie with 2^16): infinity
    if (v < 65520.0f) {
      const auto it = std::upper_bound(mags.begin(), mags.end(), double(v));
      const int lo = int(it - mags.begin()) - 1;
      want = nearest<uint16_t>(v, mags[size_t(lo)], uint16_t(lo), mags[size_t(lo + 1)], uint16_t(lo + 1));
    }
    ASSERT_EQ(f32_to_f16(v), want) << v;
    ASSERT_EQ(f32_to_f16(-v), uint16_t(want | 0x8000)) << -v;
  }
  // Ties in the subnormal range and at the top.
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0);                 // half the smallest subnormal → 0
  EXPECT_EQ(f32_to_f16(3 * std::ldexp(1.0f, -25)), 2);             // 1.5 quanta → even (2)
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);
}

}  // namespace
}  // namespace dsv3
