// AVX2 int8-activation kernels for I8 / I4 weights: the arithmetic of the AVX-512 VNNI
// kernels (matmul_int_vnni.cpp, matmul.h Int8Activations) without vpdpbusd, for CPUs such
// as AMD Zen 2/3 that have AVX2 only. Activations are quantised to int8 per token and
// weight group (s_x = max|x|/127, round to nearest even), and per group the int32 sum
// Σ q·xq is exact, so the prefill GEMM reproduces matmul_int8_activations_ref bit for bit.
//
// vpmaddubsw multiplies unsigned by signed bytes and adds adjacent pairs into int16 with
// saturation, so each weight type needs its own way to stay exact:
//   I4: u = q + 8 ∈ [0, 15] (the stored nibble): a pair is at most 2·15·127 = 3810, so
//       eight steps add up in int16 (30480) before vpmaddwd widens them; the offset is
//       removed once per group with -8·Σ xq. 32 multiply-adds in ~2 instructions.
//   I8: q ∈ [-127, 127] (codes never use -128): vpmaddubsw(|q|, sign(xq, q)) = q·xq in
//       pairs of at most 2·127·127 = 32258; each step is widened at once. 32 multiply-adds
//       in 4 instructions.
// Measured on a Zen 3 core (3.2 GHz): f32 FMA 50 G multiply-adds/s, the I4 form 138 G, the
// I8 form 79 G (README "Quantization").
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/int8_activations.h"
#include "kernels/matmul_internal.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,bmi,bmi2")

namespace dsv3::matmul_detail {
namespace int8_avx2 {
namespace {

#include "kernels/avx2_common.h"

inline __m256i broadcast_dword(const int8_t* p) {
  int32_t d;
  std::memcpy(&d, p, 4);
  return _mm256_set1_epi32(d);
}

constexpr int64_t kChunk = kInt8ActChunk;
constexpr int32_t kI4Offset = 8;  // I4 nibbles store q + 8

// Quantise T tokens into p (int8_activations.h): corr = -offset·Σ_g xq. kEvensOdds stores
// each 64-weight chunk as its 32 even-indexed values, then its 32 odd ones (the rows path's
// I4 order: one 32-byte load of packed nibbles gives the even weights in its low nibbles
// and the odd ones in its high nibbles); otherwise the order is k.
template <bool kEvensOdds>
void prepare(const float* x, int64_t T, int64_t K, int64_t G, const PreparedX& p, int32_t offset) {
  const __m256i to_natural = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const __m256i split = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,  //
                                         0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = x + t * K;
    for (int64_t g = 0; g < p.groups; ++g) {
      const int64_t g0 = g * G, g1 = imin(K, g0 + G);
      float inv_s = 0;  // as matmul_int8_activations_ref
      p.sx[t * p.groups + g] = group_scale(xt, g0, g1, 127.0f, &inv_s);
      const __m256 inv = _mm256_set1_ps(inv_s);
      const int64_t live = inv_s == 0.0f ? 0 : K;  // a zero group (tiny or non-finite) stores zeros
      __m256i qsum = _mm256_setzero_si256();
      for (int64_t c = g0; c < imin(g0 + G, p.Kp); c += kChunk) {
        __m256i q[8];
        for (int j = 0; j < 8; ++j) {
          const __m256 v = load_n(xt + c + 8 * j, live - c - 8 * j);
          q[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v, inv));  // ties to even (MXCSR default), |q| <= 127
          qsum = _mm256_add_epi32(qsum, q[j]);
        }
        __m256i b[2];
        for (int h = 0; h < 2; ++h)
          b[h] = _mm256_permutevar8x32_epi32(
              _mm256_packs_epi16(_mm256_packs_epi32(q[4 * h], q[4 * h + 1]), _mm256_packs_epi32(q[4 * h + 2], q[4 * h + 3])),
              to_natural);
        if constexpr (kEvensOdds) {
          const __m256i s0 = _mm256_shuffle_epi8(b[0], split), s1 = _mm256_shuffle_epi8(b[1], split);
          b[0] = _mm256_permute4x64_epi64(_mm256_unpacklo_epi64(s0, s1), 0xd8);
          b[1] = _mm256_permute4x64_epi64(_mm256_unpackhi_epi64(s0, s1), 0xd8);
        }
        int8_t* out = p.xq + t * p.Kp + c;
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), b[0]);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32), b[1]);
      }
      p.corr[t * p.groups + g] = -offset * hsum_epi32(qsum);
    }
  }
}

// ---- rows: decode ---------------------------------------------------------------------------
// One row at a time, front to back: the weights stream in address order (measured on Zen 3,
// 2 threads: a sequential read reaches ~35 GB/s, four rows read side by side in 32-byte steps
// 22-28 GB/s, whatever the software prefetch). Per group, the row's integer lanes are added
// exactly (I4: int16 pairs widened every four chunks, so they cannot overflow); four groups'
// lanes are gathered into one vector by a horizontal-add tree, converted and scaled at once,
// and folded in group order, y = fma(float(Σ_g), s_w·s_x, y): the operations of
// matmul_int8_activations_ref, so the rows path is bit-identical to the twin (and to the
// tiles path), whatever the batch.
template <int R>
inline __m128i row_totals(const __m256i* v) {
  const __m256i z = _mm256_setzero_si256();
  const __m256i h01 = _mm256_hadd_epi32(v[0], R > 1 ? v[1] : z);
  const __m256i h23 = R > 2 ? _mm256_hadd_epi32(v[2], R > 3 ? v[3] : z) : z;
  const __m256i h = _mm256_hadd_epi32(h01, h23);  // lanes: [v0 v1 v2 v3] of each 128-bit half
  return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

// One 64-weight chunk of one row, p at its bytes, x at its prepared activations, added into
// acc (I4: 16-bit pair sums, I8: exact 32-bit lanes).
template <bool kInt4>
inline __m256i chunk_sum(const uint8_t* p, const int8_t* x, __m256i acc) {
  if constexpr (kInt4) {  // the prepared order: 32 even-indexed activations, then 32 odd
    const __m256i low = _mm256_set1_epi8(0x0f);
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i xe = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
    const __m256i xo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 32));
    const __m256i lo = _mm256_and_si256(b, low), hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), low);
    return _mm256_add_epi16(acc, _mm256_add_epi16(_mm256_maddubs_epi16(lo, xe), _mm256_maddubs_epi16(hi, xo)));
  } else {
    const __m256i ones = _mm256_set1_epi16(1);
    for (int h = 0; h < 2; ++h) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 * h));
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 32 * h));
      const __m256i prod = _mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(xv, wv));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(prod, ones));
    }
    return acc;
  }
}

constexpr int64_t kChunkBytes(bool int4) { return int4 ? kChunk / 2 : kChunk; }

// The exact int32 lanes of Σ q·xq (I4: of Σ (q + 8)·xq) over n whole chunks from p / x;
// I4's int16 pair sums are widened every four chunks (|int16| <= 4 · 7620).
template <bool kInt4, int64_t kN = 0>
inline __m256i chunks_lanes(const uint8_t* p, const int8_t* x, int64_t n = kN) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc = _mm256_setzero_si256(), wide = _mm256_setzero_si256();
#pragma GCC unroll 8
  for (int64_t c = 0; c < (kN ? kN : n); ++c) {
    acc = chunk_sum<kInt4>(p + c * kChunkBytes(kInt4), x + c * kChunk, acc);
    if (kInt4 && c % 4 == 3) {
      wide = _mm256_add_epi32(wide, _mm256_madd_epi16(acc, ones));
      acc = _mm256_setzero_si256();
    }
  }
  if constexpr (kInt4) return _mm256_add_epi32(wide, _mm256_madd_epi16(acc, ones));
  return acc;
}

// As chunks_lanes over weights [g0, ge) of a row; a partial last chunk (k >= kfull) is read
// through a zero-padded copy (its activations past K are zero).
template <bool kInt4>
inline __m256i group_lanes(const int8_t* xq, const uint8_t* row, int64_t g0, int64_t ge, int64_t kfull) {
  const int64_t whole = (imin(ge, kfull) - g0) / kChunk, k = g0 + whole * kChunk;
  __m256i lanes = chunks_lanes<kInt4>(row + g0 / kChunk * kChunkBytes(kInt4), xq + g0, whole);
  if (k < ge) {
    alignas(32) uint8_t tail[kChunk] = {};
    std::memcpy(tail, row + k / kChunk * kChunkBytes(kInt4), size_t(kInt4 ? (ge - k + 1) / 2 : ge - k));
    lanes = _mm256_add_epi32(lanes, chunks_lanes<kInt4>(tail, xq + k, 1));
  }
  return lanes;
}

// y = fma(float(isum_j), s_j, y) for the four lanes in order.
inline __m128 fold4(__m128i isum, __m128 s, __m128 y) {
  const __m128 f = _mm_cvtepi32_ps(isum);
  y = _mm_fmadd_ss(f, s, y);
  y = _mm_fmadd_ss(_mm_movehdup_ps(f), _mm_movehdup_ps(s), y);
  y = _mm_fmadd_ss(_mm_movehl_ps(f, f), _mm_movehl_ps(s, s), y);
  return _mm_fmadd_ss(_mm_shuffle_ps(f, f, 3), _mm_shuffle_ps(s, s, 3), y);
}

// Σ_g over one row's groups of fma(float(Σ_g q·xq), s_w·s_x, ·), in group order. kCpg > 0:
// G = kCpg chunks, unrolled, for the groups that lie within K's whole chunks.
template <bool kInt4, int64_t kCpg>
[[gnu::always_inline]] inline float row_dot(const int8_t* xq, const float* sx, const int32_t* corr,
                                            const uint8_t* row, const float* sw, int64_t K, int64_t G,
                                            int64_t groups) {
  const int64_t kfull = K / kChunk * kChunk;
  __m128 y = _mm_setzero_ps();
  int64_t g = 0;
  auto four = [&](auto lanes_of) {
    __m256i lanes[4];
    for (int j = 0; j < 4; ++j) lanes[j] = lanes_of(g + j);
    __m128i isum = row_totals<4>(lanes);
    if constexpr (kInt4) isum = _mm_add_epi32(isum, _mm_loadu_si128(reinterpret_cast<const __m128i*>(corr + g)));
    y = fold4(isum, _mm_mul_ps(_mm_loadu_ps(sw + g), _mm_loadu_ps(sx + g)), y);
  };
  if constexpr (kCpg > 0)
    for (; g + 4 <= groups && (g + 4) * G <= kfull; g += 4)
      four([&](int64_t gj) {
        const uint8_t* p = row + gj * kCpg * kChunkBytes(kInt4);
        for (int64_t b = 0; b < kCpg * kChunkBytes(kInt4); b += 64)
          _mm_prefetch(reinterpret_cast<const char*>(p + b + kRowStreamPrefetchBytes), _MM_HINT_T0);
        return chunks_lanes<kInt4, kCpg>(p, xq + gj * kCpg * kChunk);
      });
  for (; g + 4 <= groups; g += 4)
    four([&](int64_t gj) { return group_lanes<kInt4>(xq, row, gj * G, imin(gj * G + G, K), kfull); });
  for (; g < groups; ++g) {
    const __m256i lanes = group_lanes<kInt4>(xq, row, g * G, imin(g * G + G, K), kfull);
    const int32_t isum = _mm_cvtsi128_si32(row_totals<1>(&lanes)) + (kInt4 ? corr[g] : 0);
    y = _mm_fmadd_ss(_mm_set_ss(float(isum)), _mm_set_ss(sw[g] * sx[g]), y);
  }
  return _mm_cvtss_f32(y);
}

// Rows [n0, n1) of y for the T prepared tokens.
template <bool kInt4, int64_t kCpg>
void rows_range(const PreparedX& p, int64_t T, const WeightMatrix& w, float* y, int64_t n0, int64_t n1) {
  const int64_t K = w.cols, N = w.rows, G = w.block_cols;
  const int64_t wstride = kInt4 ? (K + 1) / 2 : K;
  const uint8_t* wdata = static_cast<const uint8_t*>(w.data);
  for (int64_t n = n0; n < n1; ++n) {
    const float* sw = w.scale_inv + (n / w.block_rows) * p.groups;
    for (int64_t t = 0; t < T; ++t)
      y[t * N + n] = row_dot<kInt4, kCpg>(p.xq + t * p.Kp, p.sx + t * p.groups, p.corr + t * p.groups,
                                          wdata + n * wstride, sw, K, G, p.groups);
  }
}

template <bool kInt4>
void rows_kernel(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t n0, int64_t n1) {
  const int64_t K = w.cols, G = w.block_cols;
  const PreparedX p = alloc_prepared(T, K, G, false);
  prepare<kInt4>(x, T, K, G, p, kInt4 ? kI4Offset : 0);
  if (G == 64) rows_range<kInt4, 1>(p, T, w, y, n0, n1);
  else if (G == 128) rows_range<kInt4, 2>(p, T, w, y, n0, n1);
  else if (G == 256) rows_range<kInt4, 4>(p, T, w, y, n0, n1);
  else rows_range<kInt4, 0>(p, T, w, y, n0, n1);
}

// ---- tiles: prefill GEMM --------------------------------------------------------------------
// A panel of kRows rows × kc weights (whole groups, ~1024) is unpacked once into P, one step
// of 4 consecutive weights per 64 bytes, a row's 4 bytes in one int32 lane:
//   I4 (16 rows): u = q + 8 of rows 0-7, then of rows 8-15;
//   I8 (8 rows):  q of the 8 rows, then |q|.
// The micro-kernel multiplies MR tokens with the panel, broadcasting each token's 4
// activation bytes, so one weight load feeds MR vpmaddubsw. I4 keeps MR × 16 int16 sums in
// registers for 8 steps and adds them into int32 sums in L1 (measured 1.25-1.5x faster than
// 8 rows with every sum in registers: half the broadcasts per multiply); I8 widens at every
// step and keeps its MR × 8 int32 sums in registers. Per token, row and group, in order:
//   y = fma(float(Σ_g q·xq), s_w · s_x, y)          (the int32 sum is exact)
// the operations of matmul_int8_activations_ref, whatever MR, the panel or the thread split.

#include "kernels/avx2_transpose.h"

template <bool kInt4>
constexpr int kRows = kInt4 ? 16 : 8;
constexpr int kTileMr = 6;
constexpr int64_t kPanelWeights = 1024;
constexpr int64_t kStepBytes = 64;

// P and Ps for rows [n, n + nn) and weights [k0, k0 + kk) (groups g0 .. g0 + ng); rows past
// nn and weights past K are zero (their activations are zero too). tmp: kRows × kpad bytes.
template <bool kInt4>
void pack_panel(const WeightMatrix& w, int64_t n, int64_t nn, int64_t k0, int64_t kk, int64_t g0, int64_t ng,
                uint8_t* tmp, uint8_t* P, float* Ps) {
  const int64_t K = w.cols, wstride = kInt4 ? (K + 1) / 2 : K, groups = ceil_div(K, w.block_cols);
  const int64_t kpad = ceil_div(kk, kChunk) * kChunk;
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  for (int64_t i = 0; i < kRows<kInt4>; ++i) {
    uint8_t* dst = tmp + i * kpad;
    int64_t k = 0;
    if (i < nn) {
      const uint8_t* row = base + (n + i) * wstride;
      if constexpr (kInt4) {  // k0 is even: whole bytes; weight 2j in the low nibble
        const __m128i low = _mm_set1_epi8(0x0f);
        for (; k + 32 <= kk; k += 32) {
          const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + (k0 + k) / 2));
          const __m128i lo = _mm_and_si128(b, low), hi = _mm_and_si128(_mm_srli_epi16(b, 4), low);
          _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + k), _mm_unpacklo_epi8(lo, hi));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + k + 16), _mm_unpackhi_epi8(lo, hi));
        }
        for (; k < kk; ++k) {
          const uint8_t byte = row[(k0 + k) / 2];
          dst[k] = (k0 + k) & 1 ? uint8_t(byte >> 4) : uint8_t(byte & 0x0f);
        }
      } else {
        std::memcpy(dst, row + k0, size_t(kk));
        k = kk;
      }
    }
    std::memset(dst + k, 0, size_t(kpad - k));
  }
  for (int h = 0; h < kRows<kInt4> / 8; ++h)
    for (int64_t kb = 0; kb < kpad; kb += 32) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i)
        r[i] = _mm256_castsi256_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(tmp + (8 * h + i) * kpad + kb)));
      transpose8(r);  // r[j] = bytes kb + 4j .. + 3 of the 8 rows
      for (int j = 0; j < 8; ++j) {
        uint8_t* step = P + (kb / 4 + j) * kStepBytes;
        const __m256i v = _mm256_castps_si256(r[j]);
        _mm256_store_si256(reinterpret_cast<__m256i*>(step + 32 * h), v);
        if constexpr (!kInt4) _mm256_store_si256(reinterpret_cast<__m256i*>(step + 32), _mm256_abs_epi8(v));
      }
    }
  for (int64_t g = 0; g < ng; ++g)
    for (int64_t j = 0; j < kRows<kInt4>; ++j)
      Ps[g * kRows<kInt4> + j] = j < nn ? w.scale_inv[((n + j) / w.block_rows) * groups + g0 + g] : 0.0f;
}

// y[m·ldy + j] for m < MR, j < nn: the panel's groups folded into y (read first when
// accumulate), xq/sx/corr already offset to the panel's first weight and group.
template <bool kInt4, int MR>
void tile_micro(const int8_t* xq, int64_t ldx, const float* sx, const int32_t* corr, int64_t ldg, const uint8_t* P,
                const float* Ps, int64_t ng, int64_t group_steps, int64_t steps, float* y, int64_t ldy, int64_t nn,
                bool accumulate) {
  constexpr int H = kRows<kInt4> / 8;  // ymm of rows per step
  const __m256i ones = _mm256_set1_epi16(1);
  // The f32 totals live in memory: touched once per group, they would only crowd the
  // registers the integer sums need.
  alignas(32) float f[MR][H * 8];
  for (int m = 0; m < MR; ++m)
    for (int j = 0; j < H; ++j)
      _mm256_store_ps(f[m] + 8 * j, accumulate ? load_n(y + m * ldy + 8 * j, nn - 8 * j) : _mm256_setzero_ps());
  int64_t s = 0;
  for (int64_t g = 0; g < ng; ++g) {
    const int64_t se = imin(s + group_steps, steps);
    alignas(32) int32_t a[MR][H * 8];
    if constexpr (kInt4) {
      for (int m = 0; m < MR; ++m)
        for (int j = 0; j < H; ++j) _mm256_store_si256(reinterpret_cast<__m256i*>(a[m] + 8 * j), _mm256_set1_epi32(corr[m * ldg + g]));
      while (s < se) {
        __m256i h[MR][H];
        for (int m = 0; m < MR; ++m)
          for (int j = 0; j < H; ++j) h[m][j] = _mm256_setzero_si256();
        for (const int64_t be = imin(s + 8, se); s < be; ++s) {  // 8 steps: |int16| <= 30480
          const uint8_t* step = P + s * kStepBytes;
          __m256i wv[H];
          for (int j = 0; j < H; ++j) wv[j] = _mm256_load_si256(reinterpret_cast<const __m256i*>(step + 32 * j));
          for (int m = 0; m < MR; ++m) {
            const __m256i xb = broadcast_dword(xq + m * ldx + 4 * s);
            for (int j = 0; j < H; ++j) h[m][j] = _mm256_add_epi16(h[m][j], _mm256_maddubs_epi16(wv[j], xb));
          }
        }
        for (int m = 0; m < MR; ++m)
          for (int j = 0; j < H; ++j) {
            __m256i* at = reinterpret_cast<__m256i*>(a[m] + 8 * j);
            _mm256_store_si256(at, _mm256_add_epi32(_mm256_load_si256(at), _mm256_madd_epi16(h[m][j], ones)));
          }
      }
    } else {
      __m256i acc[MR];
      for (int m = 0; m < MR; ++m) acc[m] = _mm256_setzero_si256();  // I8 has no offset: corr is 0
#pragma GCC unroll 2
      for (; s < se; ++s) {
        const uint8_t* step = P + s * kStepBytes;
        const __m256i wv = _mm256_load_si256(reinterpret_cast<const __m256i*>(step));
        const __m256i av = _mm256_load_si256(reinterpret_cast<const __m256i*>(step + 32));
        for (int m = 0; m < MR; ++m) {
          const __m256i prod = _mm256_maddubs_epi16(av, _mm256_sign_epi8(broadcast_dword(xq + m * ldx + 4 * s), wv));
          acc[m] = _mm256_add_epi32(acc[m], _mm256_madd_epi16(prod, ones));
        }
      }
      for (int m = 0; m < MR; ++m) _mm256_store_si256(reinterpret_cast<__m256i*>(a[m]), acc[m]);
    }
    for (int j = 0; j < H; ++j) {
      const __m256 sw = _mm256_load_ps(Ps + g * kRows<kInt4> + 8 * j);
      for (int m = 0; m < MR; ++m) {
        const __m256 isum = _mm256_cvtepi32_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(a[m] + 8 * j)));
        _mm256_store_ps(f[m] + 8 * j, _mm256_fmadd_ps(isum, _mm256_mul_ps(sw, _mm256_set1_ps(sx[m * ldg + g])),
                                                      _mm256_load_ps(f[m] + 8 * j)));
      }
    }
  }
  for (int m = 0; m < MR; ++m)
    for (int j = 0; j < H; ++j) store_n(y + m * ldy + 8 * j, nn - 8 * j, _mm256_load_ps(f[m] + 8 * j));
}

using TileFn = void (*)(const int8_t*, int64_t, const float*, const int32_t*, int64_t, const uint8_t*, const float*,
                        int64_t, int64_t, int64_t, float*, int64_t, int64_t, bool);

// y[t, n] for t in [t0, t1), n in [n0, n1) from prepared activations p (of token 0).
template <bool kInt4>
void tiles_multiply(const PreparedX& p, const WeightMatrix& w, float* y, int64_t t0, int64_t t1, int64_t n0,
                    int64_t n1) {
  static constexpr TileFn micro[kTileMr] = {&tile_micro<kInt4, 1>, &tile_micro<kInt4, 2>, &tile_micro<kInt4, 3>,
                                            &tile_micro<kInt4, 4>, &tile_micro<kInt4, 5>, &tile_micro<kInt4, 6>};
  constexpr int64_t rows = kRows<kInt4>;
  const int64_t G = w.block_cols, kc = int8_panel_depth(G, kPanelWeights), panel_groups = kc / G;
  const int64_t kbuf = imin(kc, p.Kp);  // a multiple of 64: P's size keeps Ps 64-byte aligned
  const int64_t pbytes = kbuf / 4 * kStepBytes;
  float* panel = scratch(1, size_t(pbytes / 4 + rows * panel_groups));
  uint8_t* P = reinterpret_cast<uint8_t*>(panel);
  float* Ps = panel + pbytes / 4;
  uint8_t* tmp = reinterpret_cast<uint8_t*>(scratch(2, size_t(rows * kbuf / 4)));
  int8_tiles_loop(
      p, w, y, t0, t1, n0, n1, rows, kTileMr, kc,
      [&](int64_t n, int64_t nn, int64_t k0, int64_t kk, int64_t g0, int64_t ng) {
        pack_panel<kInt4>(w, n, nn, k0, kk, g0, ng, tmp, P, Ps);
      },
      [&](int64_t mr, const int8_t* xq, const float* sx, const int32_t* corr, float* yt, int64_t nn, bool acc,
          int64_t ng, int64_t steps) {
        micro[mr - 1](xq, p.Kp, sx, corr, p.groups, P, Ps, ng, G / 4, steps, yt, w.rows, nn, acc);
      });
}

template <bool kInt4>
void tiles_pooled(const float* x, int64_t T, const WeightMatrix& w, float* y, ThreadPool& pool, bool serial,
                  int64_t row_grain) {
  const int64_t K = w.cols, G = w.block_cols;
  run_int8_tiles(
      T, K, w.rows, G, pool, serial, row_grain,
      [&](const PreparedX& p, int64_t b, int64_t e) {
        prepare<false>(x + b * K, e - b, K, G, p.from(b), kInt4 ? kI4Offset : 0);
      },
      [&](const PreparedX& p, int64_t t0, int64_t t1, int64_t n0, int64_t n1) {
        tiles_multiply<kInt4>(p, w, y, t0, t1, n0, n1);
      });
}

}  // namespace
}  // namespace int8_avx2

void rows_int_avx2(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t n0, int64_t n1) {
  if (w.dtype == DType::I4) int8_avx2::rows_kernel<true>(x, T, w, y, n0, n1);
  else int8_avx2::rows_kernel<false>(x, T, w, y, n0, n1);
}

void tiles_int_avx2_pooled(const float* x, int64_t T, const WeightMatrix& w, float* y, ThreadPool& pool, bool serial,
                           int64_t row_grain) {
  if (T <= 0 || w.rows == 0) return;
  if (w.dtype == DType::I4) int8_avx2::tiles_pooled<true>(x, T, w, y, pool, serial, row_grain);
  else int8_avx2::tiles_pooled<false>(x, T, w, y, pool, serial, row_grain);
}

}  // namespace dsv3::matmul_detail

#pragma GCC pop_options
