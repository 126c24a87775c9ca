// AVX2 rows (decode) kernel for I8 / I4 weights with int16 activations (matmul.h): the
// default for I8 on AVX2, and I4's when int8 activations are off (DSV3_INT8_ACT=0). The
// f32-activation form converts every weight to f32 (I8: vpmovsxbd + vcvtdq2ps per 8 weights,
// then an FMA; I4 needs more): on a Zen 3 core that bounds it near 16 GB/s of I8 weights and
// 3-4 GB/s of I4, below what two cores stream. Here the activations are quantised per token
// and weight group to int16 (s_x = max|x|/32767, round to nearest even: 2^-16 of the group's
// largest activation, far below bf16's own rounding) and vpmaddwd multiplies 16 widened
// weights with them per instruction, pairs added exactly into int32 (|pair| <= 2·127·32767;
// a group of at most 256 weights stays below 2^31). I4 nibbles are used as stored, u = q + 8
// (even weights from the low nibbles, odd ones from the high, activations prepared in that
// order per 32-weight chunk), and -8·Σ_g xq is added per group. Standalone, one core,
// L2-resident 2048-wide I8 rows: 18.6 GB/s (f32) vs 34-35 GB/s.
//
// The arithmetic is matmul_int16_activations_ref's, bit for bit: per group the exact integer
// sum, converted to f32, goes into one of 8 partial sums (group g into g mod 8) by
// fma(float(Σ_g q·xq), s_w·s_x, p), and y = ((p0+p4)+(p2+p6)) + ((p1+p5)+(p3+p7)).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/matmul.h"
#include "kernels/matmul_internal.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma")

namespace dsv3::matmul_detail {
namespace int16_avx2 {
namespace {

#include "kernels/avx2_common.h"

constexpr int64_t kChunk = 32;  // weights per step: two vpmaddwd of 16
constexpr int32_t kI4Offset = 8;  // I4 nibbles store q + 8

// Activations of T tokens: xq[t][Kp] (Kp = K rounded up to kChunk, zeros past K; I4: each
// chunk's 16 even-indexed values, then its 16 odd ones), sx[t][g], and for I4 corr[t][g] =
// -8·Σ_g xq.
struct Prepared16 {
  int16_t* xq;
  float* sx;
  int32_t* corr;
  int64_t Kp, groups;
};

// As matmul_int16_activations_ref: a NaN or infinite activation makes its group's scale
// NaN, a group below kInt8ActTinyMax quantises to zero.
template <bool kInt4>
void prepare(const float* x, int64_t T, int64_t K, int64_t G, const Prepared16& p) {
  // Within each 128-bit lane: the 4 even int16 values, then the 4 odd ones.
  const __m256i evens_odds = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,  //
                                              0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = x + t * K;
    for (int64_t g = 0; g < p.groups; ++g) {
      const int64_t g0 = g * G, g1 = imin(K, g0 + G);
      float inv_s = 0;
      p.sx[t * p.groups + g] = group_scale(xt, g0, g1, 32767.0f, &inv_s);
      const __m256 inv = _mm256_set1_ps(inv_s);
      const int64_t live = inv_s == 0.0f ? 0 : K;  // a zero group (tiny or non-finite) stores zeros
      int16_t* out = p.xq + t * p.Kp;
      __m256i qsum = _mm256_setzero_si256();
      for (int64_t c = g0; c < imin(g0 + G, p.Kp); c += kChunk) {
        __m256i v[2];  // weights c .. c+15 and c+16 .. c+31 in order
        for (int h = 0; h < 2; ++h) {
          const int64_t k = c + 16 * h;
          // ties to even (MXCSR default); |x·inv| <= 32767 rounds within int16
          const __m256i q0 = _mm256_cvtps_epi32(_mm256_mul_ps(load_n(xt + k, live - k), inv));
          const __m256i q1 = _mm256_cvtps_epi32(_mm256_mul_ps(load_n(xt + k + 8, live - k - 8), inv));
          qsum = _mm256_add_epi32(qsum, _mm256_add_epi32(q0, q1));
          v[h] = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xd8);
        }
        if constexpr (kInt4) {  // [evens of v0 | odds of v0], then the chunk's evens and odds
          for (int h = 0; h < 2; ++h) v[h] = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(v[h], evens_odds), 0xd8);
          const __m256i e = _mm256_permute2x128_si256(v[0], v[1], 0x20), o = _mm256_permute2x128_si256(v[0], v[1], 0x31);
          v[0] = e, v[1] = o;
        }
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + c), v[0]);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + c + 16), v[1]);
      }
      if constexpr (kInt4) p.corr[t * p.groups + g] = -kI4Offset * hsum_epi32(qsum);
    }
  }
}

// Bytes of the first k weights of a row.
template <bool kInt4>
constexpr int64_t row_bytes(int64_t k) {
  return kInt4 ? (k + 1) / 2 : k;
}

// Σ u·xq over one 32-weight chunk (I8: u = q; I4: u = q + 8) as 8 exact int32 lanes; w at the
// chunk's first byte.
template <bool kInt4>
inline __m256i chunk_lanes(const uint8_t* w, const int16_t* x) {
  __m256i u0, u1;
  if constexpr (kInt4) {
    const __m128i low = _mm_set1_epi8(0x0f);
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w));
    u0 = _mm256_cvtepu8_epi16(_mm_and_si128(b, low));                      // even weights
    u1 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(b, 4), low));  // odd weights
  } else {
    u0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w)));
    u1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 16)));
  }
  const __m256i a = _mm256_madd_epi16(u0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)));
  const __m256i b = _mm256_madd_epi16(u1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 16)));
  return _mm256_add_epi32(a, b);
}

// The lanes of weights [g0, ge) of a row: kCpg > 0 chunks unrolled (whole groups inside K's
// whole chunks), else counted; a partial last chunk (k >= kfull) is read through a zero-padded
// copy (its activations past K are zero). One software prefetch per 64 bytes, as the other
// row-streaming kernels (kRowStreamPrefetchBytes).
template <bool kInt4, int64_t kCpg>
inline __m256i group_lanes(const uint8_t* row, const int16_t* xq, int64_t g0, int64_t ge, int64_t kfull) {
  __m256i lanes = _mm256_setzero_si256();
  const int64_t whole = kCpg > 0 ? kCpg : (imin(ge, kfull) - g0) / kChunk;
#pragma GCC unroll 8
  for (int64_t c = 0; c < whole; ++c) {
    const int64_t k = g0 + c * kChunk;
    if (row_bytes<kInt4>(k) % 64 == 0)
      _mm_prefetch(reinterpret_cast<const char*>(row + row_bytes<kInt4>(k) + kRowStreamPrefetchBytes), _MM_HINT_T0);
    lanes = _mm256_add_epi32(lanes, chunk_lanes<kInt4>(row + row_bytes<kInt4>(k), xq + k));
  }
  if (kCpg == 0) {
    const int64_t k = g0 + whole * kChunk;
    if (k < ge) {
      alignas(32) uint8_t tail[kChunk] = {};
      std::memcpy(tail, row + row_bytes<kInt4>(k), size_t(row_bytes<kInt4>(ge - k)));
      lanes = _mm256_add_epi32(lanes, chunk_lanes<kInt4>(tail, xq + k));
    }
  }
  return lanes;
}

// The 8 groups' exact sums, group j in lane j.
inline __m256i group_totals(const __m256i* l) {
  const __m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(l[0], l[1]), _mm256_hadd_epi32(l[2], l[3]));
  const __m256i h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(l[4], l[5]), _mm256_hadd_epi32(l[6], l[7]));
  // h0's low half holds groups 0-3 over lanes 0-3 of theirs, its high half over lanes 4-7.
  return _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20), _mm256_permute2x128_si256(h0, h1, 0x31));
}

// One row's dot product with one prepared token.
template <bool kInt4, int64_t kCpg>
[[gnu::always_inline]] inline float row_dot(const int16_t* xq, const float* sx, const int32_t* corr,
                                            const uint8_t* row, const float* sw, int64_t K, int64_t G,
                                            int64_t groups) {
  const int64_t kfull = K / kChunk * kChunk;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t g = 0; g < groups; g += 8) {
    const int64_t n = imin(8, groups - g);
    __m256i l[8];
    for (int64_t j = 0; j < 8; ++j) {
      const int64_t g0 = (g + j) * G, ge = imin(g0 + G, K);
      if (j >= n) l[j] = _mm256_setzero_si256();
      else if (kCpg > 0 && ge <= kfull && ge - g0 == kCpg * kChunk) l[j] = group_lanes<kInt4, kCpg>(row, xq, g0, ge, kfull);
      else l[j] = group_lanes<kInt4, 0>(row, xq, g0, ge, kfull);
    }
    __m256i totals = group_totals(l);
    if constexpr (kInt4) totals = _mm256_add_epi32(totals, _mm256_maskload_epi32(corr + g, lane_mask(n)));
    const __m256 scale = _mm256_mul_ps(load_n(sw + g, n), load_n(sx + g, n));  // zero past the last group
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(totals), scale, acc);
  }
  return hsum(acc);
}

template <bool kInt4, int64_t kCpg>
void rows_range(const Prepared16& p, int64_t T, const WeightMatrix& w, float* y, int64_t n0, int64_t n1) {
  const int64_t K = w.cols, N = w.rows, G = w.block_cols;
  const uint8_t* wdata = static_cast<const uint8_t*>(w.data);
  for (int64_t n = n0; n < n1; ++n) {
    const float* sw = w.scale_inv + (n / w.block_rows) * p.groups;
    for (int64_t t = 0; t < T; ++t)
      y[t * N + n] = row_dot<kInt4, kCpg>(p.xq + t * p.Kp, p.sx + t * p.groups, p.corr + t * p.groups,
                                          wdata + n * row_bytes<kInt4>(K), sw, K, G, p.groups);
  }
}

template <bool kInt4>
void rows_kernel(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t n0, int64_t n1) {
  const int64_t K = w.cols, G = w.block_cols;
  Prepared16 p;
  p.Kp = ceil_div(K, kChunk) * kChunk;
  p.groups = ceil_div(K, G);
  p.xq = reinterpret_cast<int16_t*>(scratch(0, size_t(T * p.Kp / 2 + 16)));
  float* meta = scratch(3, size_t(2 * T * p.groups));
  p.sx = meta;
  p.corr = reinterpret_cast<int32_t*>(meta + T * p.groups);
  prepare<kInt4>(x, T, K, G, p);
  if (G == 64) rows_range<kInt4, 2>(p, T, w, y, n0, n1);
  else if (G == 128) rows_range<kInt4, 4>(p, T, w, y, n0, n1);
  else if (G == 256) rows_range<kInt4, 8>(p, T, w, y, n0, n1);
  else rows_range<kInt4, 0>(p, T, w, y, n0, n1);
}

}  // namespace
}  // namespace int16_avx2

void rows_int16act_avx2(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t n0, int64_t n1) {
  if (w.dtype == DType::I4) int16_avx2::rows_kernel<true>(x, T, w, y, n0, n1);
  else int16_avx2::rows_kernel<false>(x, T, w, y, n0, n1);
}

}  // namespace dsv3::matmul_detail

#pragma GCC pop_options
