// Absorbed-attention kernels at each SIMD level (this file is built for the base x86-64
// target; the SIMD versions carry their own target attribute and are picked at run time).
//
// Scores: cache rows in blocks of 4 (one W-long dot per row with two accumulators, 8 FMA chains
// in flight), each block used by every query row before the next is loaded.
// Weighted sum: blocks of query rows × groups of out columns held in registers (16 AVX-512
// accumulators, 8 AVX2 ones) while the cache rows stream past.
#include "kernels/latent_attention.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/vec_ops.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define DSV3_X86 1
#else
#define DSV3_X86 0
#endif

namespace dsv3 {

namespace {

// Cache rows per block of the weighted sum: every column pass over a block finds it in L2
// (64 rows of DeepSeek-V3's 576 floats are 147 KB), not in L3 or memory.
constexpr int64_t kRowBlock = 64;

int64_t max_n(const int64_t* n, int64_t T) {
  int64_t m = 0;
  for (int64_t t = 0; t < T; ++t) m = std::max(m, n[t]);
  return m;
}

void scores_portable(const float* q, int64_t T, const int64_t* n, const float* const* rows, int64_t W, float scale,
                     float* scores, int64_t ld) {
  for (int64_t t = 0; t < T; ++t)
    for (int64_t s = 0; s < n[t]; ++s) scores[t * ld + s] = dot_f32_with(Isa::kScalar, q + t * W, rows[s], W) * scale;
}

#if DSV3_X86
#pragma GCC diagnostic push
// GCC 12: false positives on the undefined pass-through operand inside _mm512_reduce_add_ps.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// K dots of q with rows r[0..K): the same operation sequence for every row whatever K is.
template <int K>
__attribute__((target("avx512f"))) inline void dots_avx512(const float* q, const float* const* r, int64_t W,
                                                           float scale, float* out) {
  __m512 a0[K], a1[K];
  for (int k = 0; k < K; ++k) a0[k] = a1[k] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= W; i += 32) {
    const __m512 qa = _mm512_loadu_ps(q + i), qb = _mm512_loadu_ps(q + i + 16);
    for (int k = 0; k < K; ++k) {
      a0[k] = _mm512_fmadd_ps(qa, _mm512_loadu_ps(r[k] + i), a0[k]);
      a1[k] = _mm512_fmadd_ps(qb, _mm512_loadu_ps(r[k] + i + 16), a1[k]);
    }
  }
  if (i + 16 <= W) {
    const __m512 qa = _mm512_loadu_ps(q + i);
    for (int k = 0; k < K; ++k) a0[k] = _mm512_fmadd_ps(qa, _mm512_loadu_ps(r[k] + i), a0[k]);
    i += 16;
  }
  if (i < W) {
    const __mmask16 m = __mmask16((1u << (W - i)) - 1);
    const __m512 qa = _mm512_maskz_loadu_ps(m, q + i);
    for (int k = 0; k < K; ++k) a1[k] = _mm512_fmadd_ps(qa, _mm512_maskz_loadu_ps(m, r[k] + i), a1[k]);
  }
  for (int k = 0; k < K; ++k) out[k] = _mm512_reduce_add_ps(_mm512_add_ps(a0[k], a1[k])) * scale;
}

__attribute__((target("avx512f"))) void scores_avx512(const float* q, int64_t T, const int64_t* n,
                                                      const float* const* rows, int64_t W, float scale,
                                                      float* scores, int64_t ld) {
  const int64_t S = max_n(n, T);
  for (int64_t s0 = 0; s0 < S; s0 += 4)
    for (int64_t t = 0; t < T; ++t) {
      const int64_t k = std::min<int64_t>(4, n[t] - s0);
      const float* qt = q + t * W;
      float* out = scores + t * ld + s0;
      if (k == 4) dots_avx512<4>(qt, rows + s0, W, scale, out);
      else if (k == 3) dots_avx512<3>(qt, rows + s0, W, scale, out);
      else if (k == 2) dots_avx512<2>(qt, rows + s0, W, scale, out);
      else if (k == 1) dots_avx512<1>(qt, rows + s0, W, scale, out);
    }
}
#pragma GCC diagnostic pop

// Query rows t0..t0+TB, out columns c0..c0+16·G (masks m[j] select the valid part of vector j).
template <int TB, int G>
__attribute__((target("avx512f"))) inline void wsum_block_avx512(const float* p, int64_t ld, int64_t t0,
                                                                 const int64_t* n, const float* const* rows,
                                                                 int64_t s0, int64_t s1, int64_t c0, int64_t R,
                                                                 float* out) {
  __mmask16 m[G];
  for (int j = 0; j < G; ++j) m[j] = __mmask16((1u << std::clamp<int64_t>(R - c0 - 16 * j, 0, 16)) - 1);
  __m512 acc[TB][G];
  int64_t S = 0;
  for (int b = 0; b < TB; ++b) {
    S = std::max(S, n[t0 + b]);
    for (int j = 0; j < G; ++j)  // continue the sums of the rows before s0 (exact: f32 stored as is)
      acc[b][j] = s0 == 0 || !m[j] ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m[j], out + (t0 + b) * R + c0 + 16 * j);
  }
  for (int64_t s = s0; s < std::min(S, s1); ++s) {
    const float* r = rows[s] + c0;
    __m512 v[G];
    // Vectors past R have an empty mask; their addresses are never formed.
    for (int j = 0; j < G; ++j) v[j] = m[j] ? _mm512_maskz_loadu_ps(m[j], r + 16 * j) : _mm512_setzero_ps();
    for (int b = 0; b < TB; ++b) {
      if (s >= n[t0 + b]) continue;
      const __m512 pb = _mm512_set1_ps(p[(t0 + b) * ld + s]);
      for (int j = 0; j < G; ++j) acc[b][j] = _mm512_fmadd_ps(pb, v[j], acc[b][j]);
    }
  }
  for (int b = 0; b < TB; ++b)
    for (int j = 0; j < G; ++j)
      if (m[j]) _mm512_mask_storeu_ps(out + (t0 + b) * R + c0 + 16 * j, m[j], acc[b][j]);
}

// Blocks of 4 query rows × 64 columns (16 accumulators); the 1-3 rows left use wider column
// groups so that one or two rows still keep 8 FMA chains in flight.
__attribute__((target("avx512f"))) void wsum_avx512(const float* p, int64_t ld, int64_t T, const int64_t* n,
                                                    const float* const* rows, int64_t R, float* out) {
  const int64_t full = T / 4 * 4, left = T - full, S = max_n(n, T);
  for (int64_t s0 = 0; s0 < S; s0 += kRowBlock) {  // each block of cache rows is read from L2 by every pass
    const int64_t s1 = s0 + kRowBlock;
    for (int64_t c0 = 0; c0 < R; c0 += 64)
      for (int64_t t0 = 0; t0 < full; t0 += 4) wsum_block_avx512<4, 4>(p, ld, t0, n, rows, s0, s1, c0, R, out);
    if (left == 3)
      for (int64_t c0 = 0; c0 < R; c0 += 64) wsum_block_avx512<3, 4>(p, ld, full, n, rows, s0, s1, c0, R, out);
    if (left == 2)
      for (int64_t c0 = 0; c0 < R; c0 += 128) wsum_block_avx512<2, 8>(p, ld, full, n, rows, s0, s1, c0, R, out);
    if (left == 1)
      for (int64_t c0 = 0; c0 < R; c0 += 128) wsum_block_avx512<1, 8>(p, ld, full, n, rows, s0, s1, c0, R, out);
  }
}

// AVX2: the same structure with 8-wide vectors.
__attribute__((target("avx2,fma"))) inline __m256i mask8(int64_t left) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(std::clamp<int64_t>(left, 0, 8))),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

__attribute__((target("avx2,fma"))) inline float hsum8(__m256 s) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

template <int K>
__attribute__((target("avx2,fma"))) inline void dots_avx2(const float* q, const float* const* r, int64_t W,
                                                          float scale, float* out) {
  __m256 a0[K], a1[K];
  for (int k = 0; k < K; ++k) a0[k] = a1[k] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= W; i += 16) {
    const __m256 qa = _mm256_loadu_ps(q + i), qb = _mm256_loadu_ps(q + i + 8);
    for (int k = 0; k < K; ++k) {
      a0[k] = _mm256_fmadd_ps(qa, _mm256_loadu_ps(r[k] + i), a0[k]);
      a1[k] = _mm256_fmadd_ps(qb, _mm256_loadu_ps(r[k] + i + 8), a1[k]);
    }
  }
  if (i + 8 <= W) {
    const __m256 qa = _mm256_loadu_ps(q + i);
    for (int k = 0; k < K; ++k) a0[k] = _mm256_fmadd_ps(qa, _mm256_loadu_ps(r[k] + i), a0[k]);
    i += 8;
  }
  if (i < W) {
    const __m256i m = mask8(W - i);
    const __m256 qa = _mm256_maskload_ps(q + i, m);
    for (int k = 0; k < K; ++k) a1[k] = _mm256_fmadd_ps(qa, _mm256_maskload_ps(r[k] + i, m), a1[k]);
  }
  for (int k = 0; k < K; ++k) out[k] = hsum8(_mm256_add_ps(a0[k], a1[k])) * scale;
}

__attribute__((target("avx2,fma"))) void scores_avx2(const float* q, int64_t T, const int64_t* n,
                                                     const float* const* rows, int64_t W, float scale, float* scores,
                                                     int64_t ld) {
  const int64_t S = max_n(n, T);
  for (int64_t s0 = 0; s0 < S; s0 += 4)
    for (int64_t t = 0; t < T; ++t) {
      const int64_t k = std::min<int64_t>(4, n[t] - s0);
      const float* qt = q + t * W;
      float* out = scores + t * ld + s0;
      if (k == 4) dots_avx2<4>(qt, rows + s0, W, scale, out);
      else if (k == 3) dots_avx2<3>(qt, rows + s0, W, scale, out);
      else if (k == 2) dots_avx2<2>(qt, rows + s0, W, scale, out);
      else if (k == 1) dots_avx2<1>(qt, rows + s0, W, scale, out);
    }
}

template <int TB>
__attribute__((target("avx2,fma"))) inline void wsum_block_avx2(const float* p, int64_t ld, int64_t t0,
                                                                const int64_t* n, const float* const* rows,
                                                                int64_t s0, int64_t s1, int64_t c0, const __m256i* m,
                                                                int64_t R, float* out) {
  __m256 acc[TB][4];
  int64_t S = 0;
  for (int b = 0; b < TB; ++b) {
    S = std::max(S, n[t0 + b]);
    for (int j = 0; j < 4; ++j)
      acc[b][j] = s0 == 0 || c0 + 8 * j >= R ? _mm256_setzero_ps()
                                             : _mm256_maskload_ps(out + (t0 + b) * R + c0 + 8 * j, m[j]);
  }
  for (int64_t s = s0; s < std::min(S, s1); ++s) {
    const float* r = rows[s] + c0;
    __m256 v[4];
    for (int j = 0; j < 4; ++j) v[j] = c0 + 8 * j < R ? _mm256_maskload_ps(r + 8 * j, m[j]) : _mm256_setzero_ps();
    for (int b = 0; b < TB; ++b) {
      if (s >= n[t0 + b]) continue;
      const __m256 pb = _mm256_set1_ps(p[(t0 + b) * ld + s]);
      for (int j = 0; j < 4; ++j) acc[b][j] = _mm256_fmadd_ps(pb, v[j], acc[b][j]);
    }
  }
  for (int b = 0; b < TB; ++b)
    for (int j = 0; j < 4; ++j)
      if (c0 + 8 * j < R) _mm256_maskstore_ps(out + (t0 + b) * R + c0 + 8 * j, m[j], acc[b][j]);
}

__attribute__((target("avx2,fma"))) void wsum_avx2(const float* p, int64_t ld, int64_t T, const int64_t* n,
                                                   const float* const* rows, int64_t R, float* out) {
  const int64_t S = max_n(n, T);
  for (int64_t s0 = 0; s0 < S; s0 += kRowBlock)
    for (int64_t c0 = 0; c0 < R; c0 += 32) {
      __m256i m[4];
      for (int j = 0; j < 4; ++j) m[j] = mask8(R - c0 - 8 * j);
      int64_t t0 = 0;
      for (; t0 + 2 <= T; t0 += 2) wsum_block_avx2<2>(p, ld, t0, n, rows, s0, s0 + kRowBlock, c0, m, R, out);
      if (t0 < T) wsum_block_avx2<1>(p, ld, t0, n, rows, s0, s0 + kRowBlock, c0, m, R, out);
    }
}
#endif

void check_args(int64_t T, const int64_t* n, int64_t width) {
  DSV3_CHECK(T >= 0 && width >= 0, "latent attention: ", T, " query rows of width ", width);
  for (int64_t t = 0; t < T; ++t) DSV3_CHECK(n[t] >= 1, "latent attention: query row ", t, " attends to ", n[t], " rows");
}

using ScoresFn = void (*)(const float*, int64_t, const int64_t*, const float* const*, int64_t, float, float*, int64_t);
using WsumFn = void (*)(const float*, int64_t, int64_t, const int64_t*, const float* const*, int64_t, float*);

ScoresFn scores_for(Isa isa) {
#if DSV3_X86
  if (isa >= Isa::kAvx512) return scores_avx512;
  if (isa >= Isa::kAvx2) return scores_avx2;
#endif
  (void)isa;
  return scores_portable;
}

WsumFn wsum_for(Isa isa) {
#if DSV3_X86
  if (isa >= Isa::kAvx512) return wsum_avx512;
  if (isa >= Isa::kAvx2) return wsum_avx2;
#endif
  (void)isa;
  return latent_weighted_sum_ref;
}

}  // namespace

void latent_scores_ref(const float* q, int64_t T, const int64_t* n, const float* const* rows, int64_t W, float scale,
                       float* scores, int64_t ld) {
  for (int64_t t = 0; t < T; ++t)
    for (int64_t s = 0; s < n[t]; ++s) {
      float acc = 0.0f;
      for (int64_t i = 0; i < W; ++i) acc += q[t * W + i] * rows[s][i];
      scores[t * ld + s] = acc * scale;
    }
}

void latent_weighted_sum_ref(const float* p, int64_t ld, int64_t T, const int64_t* n, const float* const* rows,
                             int64_t R, float* out) {
  for (int64_t t = 0; t < T; ++t) {
    float* o = out + t * R;
    std::fill(o, o + R, 0.0f);
    for (int64_t s = 0; s < n[t]; ++s)
      for (int64_t i = 0; i < R; ++i) o[i] += p[t * ld + s] * rows[s][i];
  }
}

void latent_scores_with(Isa isa, const float* q, int64_t T, const int64_t* n, const float* const* rows, int64_t W,
                        float scale, float* scores, int64_t ld) {
  DSV3_CHECK(isa <= cpu_isa(), "latent_scores: SIMD level ", isa_name(isa), " is not supported by this CPU");
  check_args(T, n, W);
  scores_for(isa)(q, T, n, rows, W, scale, scores, ld);
}

void latent_weighted_sum_with(Isa isa, const float* p, int64_t ld, int64_t T, const int64_t* n,
                              const float* const* rows, int64_t R, float* out) {
  DSV3_CHECK(isa <= cpu_isa(), "latent_weighted_sum: SIMD level ", isa_name(isa), " is not supported by this CPU");
  check_args(T, n, R);
  wsum_for(isa)(p, ld, T, n, rows, R, out);
}

// Resolved once (these run per head and layer at every decode step).
void latent_scores(const float* q, int64_t T, const int64_t* n, const float* const* rows, int64_t W, float scale,
                   float* scores, int64_t ld) {
  static const ScoresFn fn = scores_for(active_isa());
  check_args(T, n, W);
  fn(q, T, n, rows, W, scale, scores, ld);
}

void latent_weighted_sum(const float* p, int64_t ld, int64_t T, const int64_t* n, const float* const* rows, int64_t R,
                         float* out) {
  static const WsumFn fn = wsum_for(active_isa());
  check_args(T, n, R);
  fn(p, ld, T, n, rows, R, out);
}

}  // namespace dsv3
