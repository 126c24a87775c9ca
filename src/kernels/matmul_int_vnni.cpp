// AVX-512 VNNI rows path (decode) for I8 / I4 weights: activations are quantised to int8
// per token and weight group, and vpdpbusd multiplies 64 weight bytes by 64 activation
// bytes per instruction, so the kernel keeps up with memory even at 4 bits (the f32-decode
// rows kernel is compute-bound there: ~7 decode + FMA ops per 16 weights).
//
// Math, per token t, row n and group g (G weights, G % 64 == 0):
//   s_x = max_{k∈g} |x_k| / 127,  xq_k = round(x_k / s_x) ∈ [-127, 127]
//   y += s_w[n][g] · s_x · Σ_{k∈g} q_k · xq_k      (the integer sum is exact in int32)
// vpdpbusd needs one unsigned operand: weights enter as u = q + o (I8: o = 128, a sign-bit
// flip; I4: o = 8, the stored nibble), and each accumulator starts at -o·Σ xq (per dword
// lane, precomputed once per token and group), so no correction runs per weight.
// Accuracy: only the activation rounding differs from the f32 path:
//   |y - y_f32| <= ½ Σ_g s_x,g · Σ_{k∈g} |w_k|    (plus f32 rounding of the group sums),
// i.e. at most max|x|/254 per unit of Σ|w| in each group. matmul.h documents it and when
// it is used (by default for I4 only); tests check exactly this bound. The result of a token does not depend on the other tokens.
//
// Layout: I4 chunks of 64 weights are 32 bytes; the low nibbles (weights 0, 2, .., 62) and
// high nibbles (1, 3, .., 63) become bytes 0-31 and 32-63 of one zmm with a shift and a
// mask, and the activations of each chunk are stored in that order (evens then odds).
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "kernels/int8_activations.h"
#include "kernels/matmul_internal.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,bmi,bmi2,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace dsv3::matmul_detail {
namespace vnni {
namespace {

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline __mmask16 mask16(int64_t n) {
  return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}
inline __mmask64 mask64(int64_t n) {
  return n >= 64 ? ~__mmask64(0) : n <= 0 ? __mmask64(0) : __mmask64((uint64_t(1) << n) - 1);
}

constexpr int64_t kChunk = kInt8ActChunk;  // weights per vpdpbusd
// u = q + o: I8 codes get their sign bit flipped (o = 128), I4 nibbles are stored as q + 8.
template <bool kInt4>
constexpr uint8_t kOffset = kInt4 ? 8 : 128;
constexpr int64_t kPrefetchBytes = 4096;

// kEvensOdds stores each chunk's activations evens then odds (the rows path's I4 order);
// the tiles path keeps the order k and unpacks its nibbles instead. o: the weights' offset.
template <bool kEvensOdds>
void prepare(const float* x, int64_t T, int64_t K, int64_t G, const PreparedX& p, uint8_t o) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i offset = _mm512_set1_epi8(char(o));
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = x + t * K;
    for (int64_t g = 0; g < p.groups; ++g) {
      const int64_t g0 = g * G, g1 = imin(K, g0 + G);
      __m512 amax = _mm512_setzero_ps();
      __mmask16 nan_lanes = 0;
      for (int64_t k = g0; k < g1; k += 16) {
        const __m512 v = _mm512_maskz_loadu_ps(mask16(g1 - k), xt + k);
        nan_lanes |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        amax = _mm512_max_ps(amax, _mm512_abs_ps(v));
      }
      const bool unordered = nan_lanes != 0;
      const float m = _mm512_reduce_max_ps(amax);
      // A NaN or infinite activation makes the group's scale NaN (the outputs become NaN, as
      // on the f32 path); a group below kInt8ActTinyMax (matmul.h, shared with the scalar twin)
      // contributes 0 (127/m would overflow).
      const bool nonfinite = unordered || !(m <= std::numeric_limits<float>::max());
      const bool zero = nonfinite || m < kInt8ActTinyMax;
      const float s = nonfinite ? std::numeric_limits<float>::quiet_NaN() : zero ? 0.0f : m / 127.0f;
      p.sx[t * p.groups + g] = s;
      const __m512 inv = _mm512_set1_ps(zero ? 0.0f : 127.0f / m);
      __m512i corr = _mm512_setzero_si512();
      for (int64_t c = g0; c < imin(g0 + G, p.Kp); c += kChunk) {
        __m512 v[4];
        for (int j = 0; j < 4; ++j)  // zero groups store zeros (x·0 would be NaN for x = inf)
          v[j] = zero ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask16(K - c - 16 * j), xt + c + 16 * j);
        if constexpr (kEvensOdds) {
          const __m512 e0 = _mm512_permutex2var_ps(v[0], even, v[1]), e1 = _mm512_permutex2var_ps(v[2], even, v[3]);
          const __m512 o0 = _mm512_permutex2var_ps(v[0], odd, v[1]), o1 = _mm512_permutex2var_ps(v[2], odd, v[3]);
          v[0] = e0, v[1] = e1, v[2] = o0, v[3] = o1;
        }
        int8_t* out = p.xq + t * p.Kp + c;
        for (int j = 0; j < 4; ++j) {
          // Round to nearest even (MXCSR default); |x·inv| <= 127 so no saturation occurs.
          const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(v[j], inv));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16 * j), _mm512_cvtsepi32_epi8(q));
        }
        corr = _mm512_dpbusd_epi32(corr, offset, _mm512_loadu_si512(out));
      }
      if (p.neg) _mm512_storeu_si512(p.neg + (t * p.groups + g) * 16, _mm512_sub_epi32(_mm512_setzero_si512(), corr));
      else p.corr[t * p.groups + g] = -_mm512_reduce_add_epi32(corr);
    }
  }
}

// 64 weights of a row from weight k as unsigned bytes q + o, in the prepared order.
template <bool kInt4, bool kFull>
inline __m512i load_weights(const uint8_t* row, int64_t k, int64_t m) {
  if constexpr (kInt4) {
    const uint8_t* p = row + k / 2;
    const __m256i b = kFull ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))
                            : _mm256_maskz_loadu_epi8(__mmask32(mask64((m + 1) / 2)), p);
    const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(b), _mm256_srli_epi16(b, 4), 1);
    return _mm512_and_si512(both, _mm512_set1_epi8(0x0f));
  } else {
    const __m512i b = kFull ? _mm512_loadu_si512(row + k) : _mm512_maskz_loadu_epi8(mask64(m), row + k);
    return _mm512_xor_si512(b, _mm512_set1_epi8(char(0x80)));
  }
}

template <bool kInt4, int R, int TT>
void rows_group(const PreparedX& p, int64_t t0, const uint8_t* w0, int64_t wstride, const float* const* srow,
                int64_t K, int64_t G, float* y, int64_t ldy) {
  __m512 accf[R][TT];
  __m512i acc[R][TT];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < TT; ++t) accf[r][t] = _mm512_setzero_ps();
  const int64_t pf_rows = R * (1 + kPrefetchBytes / (R * wstride));
  const int64_t kfull = K / kChunk * kChunk;
  for (int64_t g0 = 0, g = 0; g0 < K; g0 += G, ++g) {
    for (int t = 0; t < TT; ++t) {
      const __m512i start = _mm512_loadu_si512(p.neg + ((t0 + t) * p.groups + g) * 16);
      for (int r = 0; r < R; ++r) acc[r][t] = start;
    }
    const int64_t ge = imin(g0 + G, kfull);
    int64_t k = g0;
    for (; k < ge; k += kChunk) {
      for (int r = 0; r < R; ++r) {
        _mm_prefetch(reinterpret_cast<const char*>(w0 + (r + pf_rows) * wstride + (kInt4 ? k / 2 : k)), _MM_HINT_T0);
        const __m512i wv = load_weights<kInt4, true>(w0 + r * wstride, k, kChunk);
        for (int t = 0; t < TT; ++t)
          acc[r][t] = _mm512_dpbusd_epi32(acc[r][t], wv, _mm512_loadu_si512(p.xq + (t0 + t) * p.Kp + k));
      }
    }
    if (k < imin(g0 + G, K)) {  // the row's partial last chunk (activations are zero past K)
      for (int r = 0; r < R; ++r) {
        const __m512i wv = load_weights<kInt4, false>(w0 + r * wstride, k, K - k);
        for (int t = 0; t < TT; ++t)
          acc[r][t] = _mm512_dpbusd_epi32(acc[r][t], wv, _mm512_loadu_si512(p.xq + (t0 + t) * p.Kp + k));
      }
    }
    for (int t = 0; t < TT; ++t) {
      const float sx = p.sx[(t0 + t) * p.groups + g];
      for (int r = 0; r < R; ++r)
        accf[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r][t]), _mm512_set1_ps(srow[r][g] * sx), accf[r][t]);
    }
  }
  for (int t = 0; t < TT; ++t)
    for (int r = 0; r < R; ++r) y[t * ldy + r] = _mm512_reduce_add_ps(accf[r][t]);
}

constexpr int kR = 4, kTT = 2;
using GroupFn = void (*)(const PreparedX&, int64_t, const uint8_t*, int64_t, const float* const*, int64_t, int64_t,
                         float*, int64_t);

template <bool kInt4>
void rows_kernel(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t n0, int64_t n1) {
  static constexpr GroupFn table[kR][kTT] = {
      {&rows_group<kInt4, 1, 1>, &rows_group<kInt4, 1, 2>}, {&rows_group<kInt4, 2, 1>, &rows_group<kInt4, 2, 2>},
      {&rows_group<kInt4, 3, 1>, &rows_group<kInt4, 3, 2>}, {&rows_group<kInt4, 4, 1>, &rows_group<kInt4, 4, 2>}};
  const int64_t K = w.cols, N = w.rows, G = w.block_cols;
  const PreparedX p = alloc_prepared(T, K, G, true);
  prepare<kInt4>(x, T, K, G, p, kOffset<kInt4>);
  const int64_t wstride = kInt4 ? (K + 1) / 2 : K;
  const int64_t scale_cols = p.groups;
  const uint8_t* wdata = static_cast<const uint8_t*>(w.data);
  for (int64_t n = n0; n < n1; n += kR) {
    const int64_t r = imin(kR, n1 - n);
    const float* srow[kR];
    for (int64_t i = 0; i < kR; ++i) srow[i] = w.scale_inv + ((n + imin(i, r - 1)) / w.block_rows) * scale_cols;
    for (int64_t t = 0; t < T; t += kTT) {
      const int64_t tt = imin(kTT, T - t);
      table[r - 1][tt - 1](p, t, wdata + n * wstride, wstride, srow, K, G, y + t * N + n, N);
    }
  }
}

// ---- tiles: prefill GEMM ------------------------------------------------------------------
// A panel of 32 rows × kc weights (kc a whole number of groups) is unpacked once into
// unsigned bytes u = q + o in vpdpbusd's layout, P[k/4][32 rows][4 bytes]: one zmm holds 4
// consecutive weights of 16 rows, and each output row is one int32 lane. Its group scales
// go to Ps[group][32]. The micro-kernel keeps MR tokens × 32 rows of int32 group sums and
// f32 totals in registers and broadcasts each token's activation dword (4 int8) from
// memory, so one weight load feeds MR vpdpbusd. Per token, row and group, in group order:
//   y = fma(float(Σ_g u·xq − o·Σ_g xq), s_w · s_x, y)       (the int32 sum is exact)
// which is one fixed sequence of operations per (token, row) whatever MR, the panel or
// the thread split: a token's result does not depend on the other tokens in the call, and
// the scalar twin matmul_int8_activations_ref reproduces it bit for bit.

#include "kernels/avx512_transpose.h"

constexpr int kTileRows = 32;         // output rows per panel: two zmm of int32 lanes
constexpr int kTileMr = 6;            // tokens per micro-kernel call (24 accumulators)
constexpr int64_t kPanelBytes = 1024;  // weights per row and panel, rounded to whole groups

// 64 weights of a row from weight k as unsigned bytes q + o in the order k (only the first
// m when m < 64; masked bytes are multiplied by zero activations).
template <bool kInt4>
inline __m512i load_natural(const uint8_t* row, int64_t k, int64_t m) {
  if constexpr (kInt4) {
    const __m256i b = _mm256_maskz_loadu_epi8(__mmask32(mask64((m + 1) / 2)), row + k / 2);
    // Byte i holds weights 2i (low nibble) and 2i+1 (high): widen to 16 bits, then place
    // the high nibble in the upper byte.
    const __m512i w = _mm512_cvtepu8_epi16(b);
    return _mm512_ternarylogic_epi32(_mm512_and_si512(w, _mm512_set1_epi16(0x000f)), _mm512_slli_epi16(w, 4),
                                     _mm512_set1_epi16(0x0f00), 0xF8);  // a | (b & c)
  } else {
    return load_weights<false, false>(row, k, m);  // I8 bytes are in order k on both paths
  }
}

// P and Ps for rows [n, n + nn) and weights [k0, k0 + kk) (groups g0 .. g0 + ng); rows past
// nn are zero. kk is padded to whole chunks (activations are zero there).
template <bool kInt4>
void pack_panel(const WeightMatrix& w, int64_t n, int64_t nn, int64_t k0, int64_t kk, int64_t g0, int64_t ng,
                uint8_t* P, float* Ps) {
  const int64_t K = w.cols, wstride = kInt4 ? (K + 1) / 2 : K, groups = ceil_div(K, w.block_cols);
  const int64_t kpad = ceil_div(kk, kChunk) * kChunk;
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  for (int h = 0; h < 2; ++h) {
    const int64_t vr = imin(16, nn - 16 * h);
    for (int64_t kb = 0; kb < kpad; kb += kChunk) {
      __m512 v[16];
      for (int i = 0; i < 16; ++i)
        v[i] = i < vr ? _mm512_castsi512_ps(load_natural<kInt4>(base + (n + 16 * h + i) * wstride, k0 + kb, K - k0 - kb))
                      : _mm512_setzero_ps();
      transpose16(v);  // v[j] = dword j (weights kb + 4j .. + 3) of the 16 rows
      for (int j = 0; j < 16; ++j) _mm512_store_ps(reinterpret_cast<float*>(P + ((kb / 4 + j) * kTileRows + 16 * h) * 4), v[j]);
    }
  }
  for (int64_t g = 0; g < ng; ++g)
    for (int64_t j = 0; j < kTileRows; ++j)
      Ps[g * kTileRows + j] = j < nn ? w.scale_inv[((n + j) / w.block_rows) * groups + g0 + g] : 0.0f;
}

// y[m·ldy + j] for m < MR, j < nn: the panel's groups folded into y (read first when
// accumulate), xq/sx/corr already offset to the panel's first weight and group.
template <int MR>
void tile_micro(const int8_t* xq, int64_t ldx, const float* sx, const int32_t* corr, int64_t ldg, const uint8_t* P,
                const float* Ps, int64_t ng, int64_t group_steps, int64_t steps, float* y, int64_t ldy, int64_t nn,
                bool accumulate) {
  const __mmask16 m0 = mask16(nn), m1 = mask16(nn - 16);
  __m512 f[MR][2];
  __m512i a[MR][2];
  for (int m = 0; m < MR; ++m) {
    f[m][0] = accumulate ? _mm512_maskz_loadu_ps(m0, y + m * ldy) : _mm512_setzero_ps();
    f[m][1] = accumulate ? _mm512_maskz_loadu_ps(m1, y + m * ldy + 16) : _mm512_setzero_ps();
  }
  int64_t s = 0;
  for (int64_t g = 0; g < ng; ++g) {
    for (int m = 0; m < MR; ++m) a[m][0] = a[m][1] = _mm512_set1_epi32(corr[m * ldg + g]);
    const int64_t se = imin(s + group_steps, steps);
#pragma GCC unroll 2
    for (; s < se; ++s) {
      const __m512i w0 = _mm512_load_si512(P + s * 4 * kTileRows), w1 = _mm512_load_si512(P + s * 4 * kTileRows + 64);
      for (int m = 0; m < MR; ++m) {
        int32_t d;
        std::memcpy(&d, xq + m * ldx + 4 * s, 4);
        const __m512i xb = _mm512_set1_epi32(d);
        a[m][0] = _mm512_dpbusd_epi32(a[m][0], w0, xb);
        a[m][1] = _mm512_dpbusd_epi32(a[m][1], w1, xb);
      }
    }
    const __m512 s0 = _mm512_load_ps(Ps + g * kTileRows), s1 = _mm512_load_ps(Ps + g * kTileRows + 16);
    for (int m = 0; m < MR; ++m) {
      const __m512 sxm = _mm512_set1_ps(sx[m * ldg + g]);
      f[m][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[m][0]), _mm512_mul_ps(s0, sxm), f[m][0]);
      f[m][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[m][1]), _mm512_mul_ps(s1, sxm), f[m][1]);
    }
  }
  for (int m = 0; m < MR; ++m) {
    _mm512_mask_storeu_ps(y + m * ldy, m0, f[m][0]);
    _mm512_mask_storeu_ps(y + m * ldy + 16, m1, f[m][1]);
  }
}

using TileFn = void (*)(const int8_t*, int64_t, const float*, const int32_t*, int64_t, const uint8_t*, const float*,
                        int64_t, int64_t, int64_t, float*, int64_t, int64_t, bool);

// y[t, n] for t in [t0, t1), n in [n0, n1) from prepared activations p (of token 0).
template <bool kInt4>
void tiles_multiply(const PreparedX& p, const WeightMatrix& w, float* y, int64_t t0, int64_t t1, int64_t n0,
                    int64_t n1) {
  static constexpr TileFn micro[kTileMr] = {&tile_micro<1>, &tile_micro<2>, &tile_micro<3>,
                                            &tile_micro<4>, &tile_micro<5>, &tile_micro<6>};
  const int64_t G = w.block_cols, kc = int8_panel_depth(G, kPanelBytes), panel_groups = kc / G;
  // Scratch slot 1: the panel (bytes, then its scales); at most min(kc, Kp) bytes per row.
  const int64_t kbuf = imin(kc, p.Kp);
  float* panel = scratch(1, size_t(kTileRows * kbuf / 4 + kTileRows * panel_groups));
  uint8_t* P = reinterpret_cast<uint8_t*>(panel);
  float* Ps = panel + kTileRows * kbuf / 4;  // 64-byte aligned: kbuf is a multiple of 64
  int8_tiles_loop(
      p, w, y, t0, t1, n0, n1, kTileRows, kTileMr, kc,
      [&](int64_t n, int64_t nn, int64_t k0, int64_t kk, int64_t g0, int64_t ng) {
        pack_panel<kInt4>(w, n, nn, k0, kk, g0, ng, P, Ps);
      },
      [&](int64_t mr, const int8_t* xq, const float* sx, const int32_t* corr, float* yt, int64_t nn, bool acc,
          int64_t ng, int64_t steps) {
        micro[mr - 1](xq, p.Kp, sx, corr, p.groups, P, Ps, ng, G / 4, steps, yt, w.rows, nn, acc);
      });
}

// The whole product on the pool (int8_activations.h).
template <bool kInt4>
void tiles_pooled(const float* x, int64_t T, const WeightMatrix& w, float* y, ThreadPool& pool, bool serial,
                  int64_t row_grain) {
  const int64_t K = w.cols, G = w.block_cols;
  run_int8_tiles(
      T, K, w.rows, G, pool, serial, row_grain,
      [&](const PreparedX& p, int64_t b, int64_t e) { prepare<false>(x + b * K, e - b, K, G, p.from(b), kOffset<kInt4>); },
      [&](const PreparedX& p, int64_t t0, int64_t t1, int64_t n0, int64_t n1) {
        tiles_multiply<kInt4>(p, w, y, t0, t1, n0, n1);
      });
}

}  // namespace
}  // namespace vnni

void rows_int_vnni(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t n0, int64_t n1) {
  if (w.dtype == DType::I4) vnni::rows_kernel<true>(x, T, w, y, n0, n1);
  else vnni::rows_kernel<false>(x, T, w, y, n0, n1);
}

void tiles_int_vnni_pooled(const float* x, int64_t T, const WeightMatrix& w, float* y, ThreadPool& pool, bool serial,
                           int64_t row_grain) {
  if (T <= 0 || w.rows == 0) return;
  if (w.dtype == DType::I4) vnni::tiles_pooled<true>(x, T, w, y, pool, serial, row_grain);
  else vnni::tiles_pooled<false>(x, T, w, y, pool, serial, row_grain);
}

}  // namespace dsv3::matmul_detail

#pragma GCC diagnostic pop
#pragma GCC pop_options
