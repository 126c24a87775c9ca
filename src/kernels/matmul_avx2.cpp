// AVX2 + FMA + F16C matmul kernels: the same two paths as matmul_avx512_impl.h (rows for
// decode, tiles for prefill) with 8-wide vectors. AVX2 has no masked byte/word loads, so
// weight tails are copied into a zero-padded stack buffer first.
// Only this file's own code is compiled for AVX2 (see matmul_avx512.cpp for why the
// standard headers come before the target region).
#include <immintrin.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "kernels/matmul_internal.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,bmi,bmi2")

namespace dsv3::matmul_detail {
namespace avx2 {
namespace {

#include "kernels/avx2_common.h"

// ---- Weight decoders: 16 consecutive weights of a row → two f32 vectors -----------------
// With kFull false only the first n (< 16) are read, via a zero-padded copy.
// Decoded value × kUnit = stored value (before FP8 block scales).

// Dec::bytes(k): bytes of the first k weights of a row (k even for the packed I4).
template <class Dec, bool kFull>
inline void load16(const void* row, int64_t k, int64_t n, __m256* out) {
  const uint8_t* p = static_cast<const uint8_t*>(row) + Dec::bytes(k);
  if constexpr (kFull) {
    Dec::decode(p, out);
  } else {
    alignas(32) uint8_t buf[64] = {};
    std::memcpy(buf, p, size_t(Dec::bytes(imin(n, 16))));
    Dec::decode(buf, out);
  }
}

struct DecF32 {
  static constexpr int64_t kBytes = 4;
  static constexpr int64_t bytes(int64_t k) { return k * kBytes; }
  static constexpr float kUnit = 1.0f;
  static inline void decode(const uint8_t* p, __m256* out) {
    out[0] = _mm256_loadu_ps(reinterpret_cast<const float*>(p));
    out[1] = _mm256_loadu_ps(reinterpret_cast<const float*>(p) + 8);
  }
};
struct DecBf16 {
  static constexpr int64_t kBytes = 2;
  static constexpr int64_t bytes(int64_t k) { return k * kBytes; }
  static constexpr float kUnit = 1.0f;
  static inline void decode(const uint8_t* p, __m256* out) {
    for (int j = 0; j < 2; ++j) {
      const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * j));
      out[j] = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
  }
};
struct DecF16 {
  static constexpr int64_t kBytes = 2;
  static constexpr int64_t bytes(int64_t k) { return k * kBytes; }
  static constexpr float kUnit = 1.0f;
  static inline void decode(const uint8_t* p, __m256* out) {
    for (int j = 0; j < 2; ++j) out[j] = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * j)));
  }
};
// e4m3fn → f32 of value·2^-120 by bit moves: the sign-extended byte shifted left by 20
// puts the 7 magnitude bits at f32 bits 26..20 (exponent bits 3..0, the top 3 mantissa
// bits) and the sign at bit 31. Exponent e of e4m3 (bias 7) becomes f32 exponent e (bias
// 127), so normals are value·2^-120 exactly, and the subnormals (e = 0) land on f32
// subnormals at the same scale. Two integer ops per 8 weights against vcvtph2ps's 2-uop
// conversions (measured: the fp8 rows kernel ran at ~3.4 weights per cycle with them). The
// NaN codes 0x7f/0xff decode to ±480, as through f16 (real checkpoints hold none). The
// values are tiny: callers scale by 2^120 (kUnit) before any product that could underflow.
struct DecFp8 {
  static constexpr int64_t kBytes = 1;
  static constexpr int64_t bytes(int64_t k) { return k * kBytes; }
  static constexpr float kUnit = 0x1p120f;
  static inline void decode(const uint8_t* p, __m256* out) {
    const __m256i keep = _mm256_set1_epi32(int(0x87F00000u));
    for (int j = 0; j < 2; ++j) {
      const __m256i b = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 8 * j)));
      out[j] = _mm256_castsi256_ps(_mm256_and_si256(_mm256_slli_epi32(b, 20), keep));
    }
  }
};

// Block-scaled integers (quant.h): I8 codes, and I4 nibbles (q + 8) two per byte with
// weight 2i in the low nibble; both decode to q exactly in f32.
struct DecI8 {
  static constexpr float kUnit = 1.0f;
  static constexpr int64_t bytes(int64_t k) { return k; }
  static inline void decode(const uint8_t* p, __m256* out) {
    for (int j = 0; j < 2; ++j)
      out[j] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 8 * j))));
  }
};
struct DecI4 {
  static constexpr float kUnit = 1.0f;
  static constexpr int64_t bytes(int64_t k) { return (k + 1) / 2; }
  static inline void decode(const uint8_t* p, __m256* out) {
    // Each byte b → the word (b & 15) | (b >> 4) << 8: the 16 nibbles as bytes, in order.
    const __m128i w = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    const __m128i u = _mm_or_si128(_mm_and_si128(w, _mm_set1_epi16(0x000f)),
                                   _mm_and_si128(_mm_slli_epi16(w, 4), _mm_set1_epi16(0x0f00)));
    const __m256i eight = _mm256_set1_epi32(8);
    out[0] = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_cvtepu8_epi32(u), eight));
    out[1] = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(u, 8)), eight));
  }
};

template <class Dec>
constexpr bool is_fp8() { return std::is_same_v<Dec, DecFp8>; }
template <class Dec>
constexpr bool is_scaled() { return is_fp8<Dec>() || std::is_same_v<Dec, DecI8> || std::is_same_v<Dec, DecI4>; }

// Decoded values × kUnit: the stored values (exact, a power of two). FP8's kUnit (2^120) is
// applied to the weights rather than folded into a scale, which could overflow.
template <class Dec>
inline __m256 in_unit(__m256 v) {
  if constexpr (Dec::kUnit != 1.0f) return _mm256_mul_ps(v, _mm256_set1_ps(Dec::kUnit));
  return v;
}

template <class Dec>
void decode_segment(const WeightMatrix& w, int64_t n, int64_t k0, int64_t len, float* out) {
  const int64_t K = w.cols;
  const void* row = static_cast<const uint8_t*>(w.data) + n * Dec::bytes(K);
  const int64_t bc = is_scaled<Dec>() ? w.block_cols : K;
  const float* srow = nullptr;
  if constexpr (is_scaled<Dec>()) srow = w.scale_inv + (n / w.block_rows) * ceil_div(K, bc);
  for (int64_t k = k0, end = k0 + len; k < end;) {
    const int64_t stop = imin(end, (k / bc + 1) * bc);
    const __m256 s = _mm256_set1_ps(is_scaled<Dec>() ? srow[k / bc] : 1.0f);
    __m256 v[2];
    for (; k + 16 <= stop; k += 16) {
      load16<Dec, true>(row, k, 16, v);
      for (int j = 0; j < 2; ++j) _mm256_storeu_ps(out + (k - k0) + 8 * j, is_scaled<Dec>() ? _mm256_mul_ps(in_unit<Dec>(v[j]), s) : v[j]);
    }
    if (k < stop) {
      const int64_t m = stop - k;
      load16<Dec, false>(row, k, m, v);
      for (int j = 0; j < 2; ++j)
        store_n(out + (k - k0) + 8 * j, m - 8 * j, is_scaled<Dec>() ? _mm256_mul_ps(in_unit<Dec>(v[j]), s) : v[j]);
      k = stop;
    }
  }
}

// ---- rows ----------------------------------------------------------------------------------

constexpr int64_t kPrefetchBytes = 4096;

template <class Dec, int R, int TT>
void rows_group(const float* xs, const uint8_t* w0, int64_t wstride, int64_t K, float* y, int64_t ldy) {
  __m256 acc[R][TT];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < TT; ++t) acc[r][t] = _mm256_setzero_ps();
  // Prefetch the same columns of the rows one group or more ahead (see matmul_avx512_impl.h).
  const int64_t pf_rows = R * (1 + kPrefetchBytes / (R * wstride));
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    for (int r = 0; r < R; ++r) {
      // One prefetch per 64-byte line (FP8's 16 weights are a quarter of one).
      const char* pf = reinterpret_cast<const char*>(w0 + (r + pf_rows) * wstride) + Dec::bytes(k);
      if (Dec::bytes(16) >= 64 || Dec::bytes(k) % 64 == 0)
        for (int64_t b = 0; b < Dec::bytes(16); b += 64) _mm_prefetch(pf + b, _MM_HINT_T0);
      __m256 wv[2];
      load16<Dec, true>(w0 + r * wstride, k, 16, wv);
      for (int j = 0; j < 2; ++j)
        for (int t = 0; t < TT; ++t)
          acc[r][t] = _mm256_fmadd_ps(_mm256_loadu_ps(xs + t * K + k + 8 * j), wv[j], acc[r][t]);
    }
  }
  if (k < K) {
    const int64_t m = K - k;
    for (int r = 0; r < R; ++r) {
      __m256 wv[2];
      load16<Dec, false>(w0 + r * wstride, k, m, wv);
      for (int j = 0; j < 2 && 8 * j < m; ++j)
        for (int t = 0; t < TT; ++t)
          acc[r][t] = _mm256_fmadd_ps(load_n(xs + t * K + k + 8 * j, m - 8 * j), wv[j], acc[r][t]);
    }
  }
  for (int t = 0; t < TT; ++t)
    for (int r = 0; r < R; ++r) y[t * ldy + r] = hsum(acc[r][t]);
}

constexpr int kRowsR = 4;
constexpr int kRowsTT = 2;

using RowsFn = void (*)(const float*, const uint8_t*, int64_t, int64_t, float*, int64_t);
template <class Dec, int R, int... TTs>
constexpr auto rows_fns_for_r(std::integer_sequence<int, TTs...>) {
  return std::array<RowsFn, sizeof...(TTs)>{&rows_group<Dec, R, TTs + 1>...};
}
template <class Dec, int... Rs>
constexpr auto rows_table(std::integer_sequence<int, Rs...>) {
  return std::array<std::array<RowsFn, kRowsTT>, sizeof...(Rs)>{
      rows_fns_for_r<Dec, Rs + 1>(std::make_integer_sequence<int, kRowsTT>{})...};
}

// FP8 rows: x is scaled by scale_inv·2^100 and the sums by 2^20, together DecFp8::kUnit.
// Powers of two change no rounding, so this is x·scale_inv·value with the products and sums
// scaled by 2^-20: they stay normal while |x·scale_inv·value| >= 2^-106, and
// x·scale_inv·2^100 stays finite while |x·scale_inv| < 2^28.
constexpr float kFp8RowsXUnit = 0x1p100f, kFp8RowsYUnit = 0x1p20f;
static_assert(kFp8RowsXUnit * kFp8RowsYUnit == DecFp8::kUnit);

template <class Dec>
void rows_kernel(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t n0, int64_t n1) {
  static constexpr auto table = rows_table<Dec>(std::make_integer_sequence<int, kRowsR>{});
  const int64_t K = w.cols, N = w.rows;
  const int64_t wstride = Dec::bytes(K);
  const uint8_t* wdata = static_cast<const uint8_t*>(w.data);
  const int64_t br = is_fp8<Dec>() ? w.block_rows : N;
  for (int64_t s0 = n0; s0 < n1;) {
    const int64_t s1 = imin(n1, (s0 / br + 1) * br);
    const float* xs = x;
    if constexpr (is_fp8<Dec>()) {
      float* buf = scratch(0, size_t(T * K));
      const int64_t bc = w.block_cols;
      const float* srow = w.scale_inv + (s0 / br) * ceil_div(K, bc);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t kb = 0; kb * bc < K; ++kb) {
          const __m256 s = _mm256_set1_ps(srow[kb] * kFp8RowsXUnit);
          const int64_t e = imin(K, (kb + 1) * bc);
          for (int64_t k = kb * bc; k < e; k += 8)
            store_n(buf + t * K + k, e - k, _mm256_mul_ps(load_n(x + t * K + k, e - k), s));
        }
      xs = buf;
    }
    for (int64_t n = s0; n < s1; n += kRowsR) {
      const int64_t r = imin(kRowsR, s1 - n);
      for (int64_t t = 0; t < T; t += kRowsTT) {
        const int64_t tt = imin(kRowsTT, T - t);
        table[r - 1][tt - 1](xs + t * K, wdata + n * wstride, wstride, K, y + t * N + n, N);
      }
    }
    if constexpr (is_fp8<Dec>())
      for (int64_t t = 0; t < T; ++t)
        for (int64_t n = s0; n < s1; ++n) y[t * N + n] *= kFp8RowsYUnit;
    s0 = s1;
  }
}

// I8/I4 rows, one row at a time in address order (as the int8-activation rows kernel,
// matmul_int_avx2.cpp): per scale group (a multiple of 16 weights, quant.h) four partial
// sums, folded into the result with one FMA by the row's group scale.
template <class Dec>
float rows_int_one(const float* x, const uint8_t* row, const float* srow, int64_t K, int64_t G) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t g0 = 0, g = 0; g0 < K; g0 += G, ++g) {
    __m256 part[4];
    for (int j = 0; j < 4; ++j) part[j] = _mm256_setzero_ps();
    const int64_t ge = imin(g0 + G, K);
    int64_t k = g0;
    for (; k + 32 <= ge; k += 32) {
      if (Dec::bytes(k) % 64 == 0)
        _mm_prefetch(reinterpret_cast<const char*>(row + Dec::bytes(k) + kRowStreamPrefetchBytes), _MM_HINT_T0);
      __m256 wv[4];
      load16<Dec, true>(row, k, 16, wv);
      load16<Dec, true>(row, k + 16, 16, wv + 2);
      for (int j = 0; j < 4; ++j) part[j] = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8 * j), wv[j], part[j]);
    }
    for (; k < ge; k += 16) {
      const int64_t m = imin(16, ge - k);
      __m256 wv[2];
      if (m == 16) load16<Dec, true>(row, k, 16, wv);
      else load16<Dec, false>(row, k, m, wv);
      part[0] = _mm256_fmadd_ps(load_n(x + k, m), wv[0], part[0]);
      part[1] = _mm256_fmadd_ps(load_n(x + k + 8, m - 8), wv[1], part[1]);
    }
    const __m256 sum = _mm256_add_ps(_mm256_add_ps(part[0], part[1]), _mm256_add_ps(part[2], part[3]));
    acc = _mm256_fmadd_ps(sum, _mm256_set1_ps(srow[g]), acc);
  }
  return hsum(acc);
}

template <class Dec>
void rows_int_kernel(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t n0, int64_t n1) {
  const int64_t K = w.cols, N = w.rows, G = w.block_cols, scale_cols = ceil_div(K, G);
  const int64_t wstride = Dec::bytes(K);
  const uint8_t* wdata = static_cast<const uint8_t*>(w.data);
  for (int64_t n = n0; n < n1; ++n) {
    const float* srow = w.scale_inv + (n / w.block_rows) * scale_cols;
    for (int64_t t = 0; t < T; ++t) y[t * N + n] = rows_int_one<Dec>(x + t * K, wdata + n * wstride, srow, K, G);
  }
}

// ---- tiles ---------------------------------------------------------------------------------

constexpr int kNr = 16;       // panel width: two ymm
constexpr int kMr = 6;        // tokens per micro-kernel call: 12 accumulators + 2 panel vectors + 1 broadcast = 15 ymm
constexpr int64_t kKc = 256;  // panel depth

#include "kernels/avx2_transpose.h"

// bf16 panels: a 16-bit transpose of the rows (half the shuffles of transposing f32, which
// held the pack near 12 % of the micro-kernel's time), then bf16 → f32 by a shift for the even
// 16-bit elements and a mask for the odd ones. So entry k holds rows 0,2,4,6,8,...,14 in its
// first 8 floats and 1,3,...,15 in the next; the micro-kernel restores the order once per
// call (PanelBf16Order).
void pack_panel_bf16(const WeightMatrix& w, int64_t n, int64_t nn, int64_t k0, int64_t kk, float* P) {
  const uint16_t* base = static_cast<const uint16_t*>(w.data);
  for (int64_t kb = 0; kb < kk; kb += 16) {
    const int64_t m = imin(16, kk - kb);
    __m256i half[2][8];  // [row half][j]: rows 8h..8h+7 at kb + j (low lane) and kb + j + 8 (high)
    for (int h = 0; h < 2; ++h) {
      __m256i r[8];
      for (int i = 0; i < 8; ++i) {
        const int64_t row = 8 * h + i;
        const uint16_t* src = base + (n + row) * w.cols + k0 + kb;
        if (row < nn && m == 16) {
          r[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src));
        } else {
          alignas(32) uint16_t part[16] = {};
          if (row < nn) std::memcpy(part, src, size_t(m) * 2);
          r[i] = _mm256_load_si256(reinterpret_cast<const __m256i*>(part));
        }
      }
      // Rows interleave by 16, 32, then 64 bits: per lane, row pairs at 4 k, row quads at 2 k,
      // all 8 rows at one k.
      __m256i a[8], b[8];
      for (int p = 0; p < 4; ++p) {
        a[2 * p] = _mm256_unpacklo_epi16(r[2 * p], r[2 * p + 1]);      // k 0–3
        a[2 * p + 1] = _mm256_unpackhi_epi16(r[2 * p], r[2 * p + 1]);  // k 4–7
      }
      for (int q = 0; q < 2; ++q)  // q: k 0–3 or 4–7
        for (int g = 0; g < 2; ++g) {  // g: rows 0–3 or 4–7
          b[4 * q + 2 * g] = _mm256_unpacklo_epi32(a[4 * g + q], a[4 * g + 2 + q]);      // k 4q, 4q+1
          b[4 * q + 2 * g + 1] = _mm256_unpackhi_epi32(a[4 * g + q], a[4 * g + 2 + q]);  // k 4q+2, 4q+3
        }
      for (int q = 0; q < 2; ++q)
        for (int e = 0; e < 2; ++e) {  // e: the pair of k within b
          half[h][4 * q + 2 * e] = _mm256_unpacklo_epi64(b[4 * q + e], b[4 * q + 2 + e]);
          half[h][4 * q + 2 * e + 1] = _mm256_unpackhi_epi64(b[4 * q + e], b[4 * q + 2 + e]);
        }
    }
    const __m256i odd = _mm256_set1_epi32(int(0xffff0000u));
    const auto store = [&](int64_t k, __m256i v) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(P + k * kNr), _mm256_slli_epi32(v, 16));
      _mm256_store_si256(reinterpret_cast<__m256i*>(P + k * kNr + 8), _mm256_and_si256(v, odd));
    };
    for (int j = 0; j < 8; ++j) {
      if (kb + j < kk) store(kb + j, _mm256_permute2x128_si256(half[0][j], half[1][j], 0x20));
      if (kb + j + 8 < kk) store(kb + j + 8, _mm256_permute2x128_si256(half[0][j], half[1][j], 0x31));
    }
  }
}

template <class Dec>
void pack_panel(const WeightMatrix& w, int64_t n, int64_t nn, int64_t k0, int64_t kk, float* tmp, float* P) {
  const int64_t kpad = (kk + 7) / 8 * 8;
  for (int64_t i = 0; i < kNr; ++i) {
    float* dst = tmp + i * kKc;
    if (i < nn) {
      decode_segment<Dec>(w, n + i, k0, kk, dst);
      for (int64_t k = kk; k < kpad; ++k) dst[k] = 0.0f;
    } else {
      for (int64_t k = 0; k < kpad; k += 8) _mm256_store_ps(dst + k, _mm256_setzero_ps());
    }
  }
  for (int h = 0; h < 2; ++h)
    for (int64_t kb = 0; kb < kpad; kb += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) r[i] = _mm256_load_ps(tmp + (8 * h + i) * kKc + kb);
      transpose8(r);
      for (int j = 0; j < 8; ++j) _mm256_store_ps(P + (kb + j) * kNr + 8 * h, r[j]);
    }
}

// The order of a panel entry's 16 rows: as stored (decode_segment + transpose), or the bf16
// pack's even rows then odd rows, put back in order once per micro-kernel call.
struct PanelRowsInOrder {
  static inline void to_row_order(__m256&, __m256&) {}
};
struct PanelBf16Order {
  // Sums of rows (0,2,4,6 | 8,...,14) and (1,3,5,7 | 9,...,15) → rows 0–7 and 8–15.
  static inline void to_row_order(__m256& c0, __m256& c1) {
    const __m256 lo = _mm256_unpacklo_ps(c0, c1), hi = _mm256_unpackhi_ps(c0, c1);  // 0–3|8–11, 4–7|12–15
    c0 = _mm256_permute2f128_ps(lo, hi, 0x20);
    c1 = _mm256_permute2f128_ps(lo, hi, 0x31);
  }
};

template <int MR, class Panel>
void micro_kernel(const float* x, int64_t ldx, const float* P, int64_t kk, float* y, int64_t ldy, int64_t nn,
                  bool accumulate) {
  __m256 c0[MR], c1[MR];
  for (int m = 0; m < MR; ++m) {
    c0[m] = _mm256_setzero_ps();
    c1[m] = _mm256_setzero_ps();
  }
  const float* xm[MR];
  for (int m = 0; m < MR; ++m) xm[m] = x + m * ldx;
#pragma GCC unroll 2
  for (int64_t k = 0; k < kk; ++k) {
    const __m256 b0 = _mm256_load_ps(P + k * kNr), b1 = _mm256_load_ps(P + k * kNr + 8);
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
      const __m256 a = _mm256_broadcast_ss(xm[m] + k);
      c0[m] = _mm256_fmadd_ps(a, b0, c0[m]);
      c1[m] = _mm256_fmadd_ps(a, b1, c1[m]);
    }
  }
  // The sums leave the registers once, through an aligned buffer: an epilogue indexing c0/c1
  // with its masked stores made GCC keep the arrays in memory and store them on every k step.
  alignas(32) float out[MR][kNr];
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m) {
    Panel::to_row_order(c0[m], c1[m]);
    _mm256_store_ps(out[m], c0[m]);
    _mm256_store_ps(out[m] + 8, c1[m]);
  }
  for (int m = 0; m < MR; ++m) {
    float* yr = y + m * ldy;
    for (int h = 0; h < 2; ++h) {
      __m256 v = _mm256_load_ps(out[m] + 8 * h);
      if (accumulate) v = _mm256_add_ps(v, load_n(yr + 8 * h, nn - 8 * h));
      store_n(yr + 8 * h, nn - 8 * h, v);
    }
  }
}

using MicroFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, int64_t, bool);
template <class Panel, int... Ms>
constexpr std::array<MicroFn, sizeof...(Ms)> micro_table(std::integer_sequence<int, Ms...>) {
  return {&micro_kernel<Ms + 1, Panel>...};
}

// BLIS loop order: a block of kNc rows × kKc weights is decoded into kNc/kNr panels (128
// KB of f32, in L2), then every group of kMr tokens runs over all of the block's panels
// while its kMr × kKc activations stay in L1. Decoding one panel at a time and streaming
// every token's activations past it read x from L2/L3 once per 16 rows instead of once per
// kNc. Each output's sum runs over k in the same order whatever the blocking.
constexpr int64_t kNc = 128;

// Software prefetch of the weights the next block will pack, spread evenly over this block's
// micro-kernel calls. Packing reads 16 rows a few hundred bytes each, a whole row apart,
// which the hardware prefetchers follow poorly: without this the pack waits on DRAM (bench
// preset, bf16 pp512 on the Zen 3 VM, 5 interleaved pairs: 147.8 → 159.9 tok/s median; fp8
// and int8 +1.5–2 %).
template <class Dec>
class NextBlockPrefetch {
 public:
  NextBlockPrefetch(const WeightMatrix& w, int64_t nb, int64_t nbe, int64_t k0, int64_t n1, int64_t calls) {
    const int64_t K = w.cols;
    int64_t ka = k0 + kKc, r0 = nb, r1 = nbe;
    if (ka >= K) ka = 0, r0 = nbe, r1 = imin(n1, nbe + kNc);
    const int64_t kb = imin(K, ka + kKc);
    if (r0 >= r1 || ka >= kb) return;
    stride_ = Dec::bytes(K);
    base_ = static_cast<const char*>(w.data) + r0 * stride_ + Dec::bytes(ka);
    row_bytes_ = Dec::bytes(kb) - Dec::bytes(ka);
    left_ = (r1 - r0) * ((row_bytes_ + 63) / 64);
    per_call_ = ceil_div(left_, imax(1, calls));
  }
  // The next share of lines (one call's worth).
  void step() {
    for (int64_t i = 0; i < per_call_ && left_ > 0; ++i, --left_) {
      _mm_prefetch(base_ + line_, _MM_HINT_T1);
      if ((line_ += 64) >= row_bytes_) line_ = 0, base_ += stride_;
    }
  }

 private:
  const char* base_ = nullptr;
  int64_t stride_ = 0, row_bytes_ = 0, line_ = 0, left_ = 0, per_call_ = 0;
};

template <class Dec>
void tiles_kernel(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t t0, int64_t t1, int64_t n0, int64_t n1) {
  (void)T;
  constexpr bool kBf16 = std::is_same_v<Dec, DecBf16>;
  using Panel = std::conditional_t<kBf16, PanelBf16Order, PanelRowsInOrder>;
  static constexpr auto micro = micro_table<Panel>(std::make_integer_sequence<int, kMr>{});
  const int64_t K = w.cols, N = w.rows;
  float* P = scratch(1, size_t(kKc * kNc));
  float* tmp = scratch(2, size_t(kNr * kKc));
  for (int64_t nb = n0; nb < n1; nb += kNc) {
    const int64_t nbe = imin(n1, nb + kNc);
    for (int64_t k0 = 0; k0 < K; k0 += kKc) {
      const int64_t kk = imin(kKc, K - k0);
      for (int64_t n = nb; n < nbe; n += kNr) {
        if constexpr (kBf16)
          pack_panel_bf16(w, n, imin(kNr, nbe - n), k0, kk, P + (n - nb) * kKc);
        else
          pack_panel<Dec>(w, n, imin(kNr, nbe - n), k0, kk, tmp, P + (n - nb) * kKc);
      }
      NextBlockPrefetch<Dec> prefetch(w, nb, nbe, k0, n1, ceil_div(t1 - t0, kMr) * ceil_div(nbe - nb, kNr));
      for (int64_t t = t0; t < t1; t += kMr) {
        const int64_t mr = imin(kMr, t1 - t);
        for (int64_t n = nb; n < nbe; n += kNr) {
          prefetch.step();
          micro[mr - 1](x + t * K + k0, K, P + (n - nb) * kKc, kk, y + t * N + n, N, imin(kNr, nbe - n), k0 > 0);
        }
      }
    }
  }
}

// I4 segments must start on a byte: an odd k0 decodes its first weight in scalar code.
void decode_int4(const WeightMatrix& w, int64_t n, int64_t k0, int64_t len, float* out) {
  if (len > 0 && (k0 & 1)) {
    const uint8_t* row = static_cast<const uint8_t*>(w.data) + n * DecI4::bytes(w.cols);
    out[0] = float(int(row[k0 >> 1] >> 4) - 8) * w.scale_inv[(n / w.block_rows) * ceil_div(w.cols, w.block_cols) + k0 / w.block_cols];
    ++out, ++k0, --len;
  }
  decode_segment<DecI4>(w, n, k0, len, out);
}

void decode_any(const WeightMatrix& w, int64_t n, int64_t k0, int64_t len, float* out) {
  switch (w.dtype) {
    case DType::F32: return decode_segment<DecF32>(w, n, k0, len, out);
    case DType::F16: return decode_segment<DecF16>(w, n, k0, len, out);
    case DType::BF16: return decode_segment<DecBf16>(w, n, k0, len, out);
    case DType::I8: return decode_segment<DecI8>(w, n, k0, len, out);
    case DType::I4: return decode_int4(w, n, k0, len, out);
    default: return decode_segment<DecFp8>(w, n, k0, len, out);
  }
}

void rows_any(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t n0, int64_t n1) {
  switch (w.dtype) {
    case DType::F32: return rows_kernel<DecF32>(x, T, w, y, n0, n1);
    case DType::F16: return rows_kernel<DecF16>(x, T, w, y, n0, n1);
    case DType::BF16: return rows_kernel<DecBf16>(x, T, w, y, n0, n1);
    case DType::I8:
      if (use_int8_activations(w)) return rows_int_avx2(x, T, w, y, n0, n1);
      if (use_int16_activations(w)) return rows_int16act_avx2(x, T, w, y, n0, n1);
      return rows_int_kernel<DecI8>(x, T, w, y, n0, n1);
    case DType::I4:
      if (use_int8_activations(w)) return rows_int_avx2(x, T, w, y, n0, n1);
      if (use_int16_activations(w)) return rows_int16act_avx2(x, T, w, y, n0, n1);
      return rows_int_kernel<DecI4>(x, T, w, y, n0, n1);
    default: return rows_kernel<DecFp8>(x, T, w, y, n0, n1);
  }
}

void tiles_any(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t t0, int64_t t1, int64_t n0, int64_t n1) {
  switch (w.dtype) {
    case DType::F32: return tiles_kernel<DecF32>(x, T, w, y, t0, t1, n0, n1);
    case DType::F16: return tiles_kernel<DecF16>(x, T, w, y, t0, t1, n0, n1);
    case DType::BF16: return tiles_kernel<DecBf16>(x, T, w, y, t0, t1, n0, n1);
    case DType::I8: return tiles_kernel<DecI8>(x, T, w, y, t0, t1, n0, n1);
    case DType::I4: return tiles_kernel<DecI4>(x, T, w, y, t0, t1, n0, n1);
    default: return tiles_kernel<DecFp8>(x, T, w, y, t0, t1, n0, n1);
  }
}

// ---- weighted row sums: y += Σ_i a[i] · W[r0 + i] (absorbed MLA's W_UKᵀ q) -----------------
// RR rows at a time: each 16-column piece of y is loaded once, gets fma(w, a[i] · scale, y)
// from every row in row order, and is stored once; the weights are decoded in registers.
template <class Dec, int RR>
void row_sum_rows(const uint8_t* const* rows, const float* const* srow, const float* ar, const WeightMatrix& w,
                  float* y) {
  const int64_t K = w.cols, bc = is_scaled<Dec>() ? w.block_cols : K;
  for (int64_t k = 0; k < K;) {
    const int64_t stop = imin(K, (k / bc + 1) * bc);
    __m256 s[RR];
    for (int r = 0; r < RR; ++r)
      s[r] = _mm256_set1_ps(is_scaled<Dec>() ? ar[r] * srow[r][k / bc] : ar[r]);
    for (; k + 16 <= stop; k += 16) {
      __m256 y0 = _mm256_loadu_ps(y + k), y1 = _mm256_loadu_ps(y + k + 8);
      for (int r = 0; r < RR; ++r) {
        __m256 v[2];
        load16<Dec, true>(rows[r], k, 16, v);
        y0 = _mm256_fmadd_ps(in_unit<Dec>(v[0]), s[r], y0);
        y1 = _mm256_fmadd_ps(in_unit<Dec>(v[1]), s[r], y1);
      }
      _mm256_storeu_ps(y + k, y0);
      _mm256_storeu_ps(y + k + 8, y1);
    }
    if (k < stop) {
      const int64_t m = stop - k;
      __m256 y0 = load_n(y + k, m), y1 = load_n(y + k + 8, m - 8);
      for (int r = 0; r < RR; ++r) {
        __m256 v[2];
        load16<Dec, false>(rows[r], k, m, v);
        y0 = _mm256_fmadd_ps(in_unit<Dec>(v[0]), s[r], y0);
        y1 = _mm256_fmadd_ps(in_unit<Dec>(v[1]), s[r], y1);
      }
      store_n(y + k, m, y0);
      store_n(y + k + 8, m - 8, y1);
      k = stop;
    }
  }
}

template <class Dec>
void row_sum_kernel(const WeightMatrix& w, int64_t r0, int64_t n, const float* a, float* y) {
  using Fn = void (*)(const uint8_t* const*, const float* const*, const float*, const WeightMatrix&, float*);
  static constexpr Fn table[4] = {&row_sum_rows<Dec, 1>, &row_sum_rows<Dec, 2>, &row_sum_rows<Dec, 3>,
                                  &row_sum_rows<Dec, 4>};
  const int64_t K = w.cols, wstride = Dec::bytes(K);
  const int64_t scale_cols = is_scaled<Dec>() ? ceil_div(K, w.block_cols) : 0;
  for (int64_t i = 0; i < n; i += 4) {
    const int64_t rr = imin(4, n - i);
    const uint8_t* rows[4];
    const float* srow[4] = {};
    for (int64_t r = 0; r < rr; ++r) {
      rows[r] = static_cast<const uint8_t*>(w.data) + (r0 + i + r) * wstride;
      if constexpr (is_scaled<Dec>()) srow[r] = w.scale_inv + ((r0 + i + r) / w.block_rows) * scale_cols;
    }
    table[rr - 1](rows, srow, a + i, w, y);
  }
}

void row_sum_any(const WeightMatrix& w, int64_t r0, int64_t n, const float* a, float* y) {
  switch (w.dtype) {
    case DType::F32: return row_sum_kernel<DecF32>(w, r0, n, a, y);
    case DType::F16: return row_sum_kernel<DecF16>(w, r0, n, a, y);
    case DType::BF16: return row_sum_kernel<DecBf16>(w, r0, n, a, y);
    case DType::I8: return row_sum_kernel<DecI8>(w, r0, n, a, y);
    case DType::I4: return row_sum_kernel<DecI4>(w, r0, n, a, y);  // groups of 32k: chunks start on a byte
    default: return row_sum_kernel<DecFp8>(w, r0, n, a, y);
  }
}

const KernelSet kKernels{decode_any, rows_any, tiles_any, kNr, 16, row_sum_any};

}  // namespace
}  // namespace avx2

void row_sum_avx2(const WeightMatrix& w, int64_t r0, int64_t n, const float* a, float* y) {
  avx2::row_sum_any(w, r0, n, a, y);
}

const KernelSet& kernels_avx2() { return avx2::kKernels; }

}  // namespace dsv3::matmul_detail

#pragma GCC pop_options
