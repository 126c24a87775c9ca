// AVX-512 matmul kernels. This file is included by matmul_avx512.cpp and
// matmul_avx512vbmi.cpp inside a `#pragma GCC target` region and a namespace of their
// own (the two differ only in the FP8 decoder, chosen by DSV3_FP8_VBMI); it is not a
// normal header. Standard headers must be included before the target region.
//
// rows  (decode, small T): R weight rows × TT tokens of accumulators, each weight chunk is
//        decoded to f32 in registers once and used for TT tokens; K tails use masked loads;
//        the same columns R rows further on are prefetched (rows are short streams).
//        FP8 block scales are folded into x: for a block of rows, x·s is computed once per
//        k-block so the inner loop is decode + FMA only. With VBMI the FP8 decode leaves
//        lanes in a fixed permuted order and x is permuted to match once per call.
// tiles (prefill, large T): a panel of 32 rows × kKc columns of W is decoded (scaled)
//        into f32 and transposed to [k][n] in registers, and a kMr × 32 register-blocked
//        FMA kernel (16 zmm accumulators) runs it against every token with x broadcast
//        from its rows; the next panel's weights are prefetched meanwhile.
// Measured on a 2-core Sapphire Rapids VM (see bench/kernels_bench.cpp): vdpbf16ps was
// slower than f32 FMA here, so there is no bf16-activation variant.

namespace {

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
inline __mmask16 mask16(int64_t n) {
  return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}
inline __mmask64 mask64(int64_t n) {
  return n >= 64 ? ~__mmask64(0) : n <= 0 ? __mmask64(0) : __mmask64((uint64_t(1) << n) - 1);
}

// ---- Weight decoders ------------------------------------------------------------------
// Each decodes kVecs × 16 consecutive weights of one row (k .. k+16·kVecs) into f32
// vectors; with kFull false only the first n are read (masked loads never fault) and the
// rest decode to 0. Decoded value × kUnit = stored value (before FP8 block scales).

struct DecF32 {
  static constexpr int kVecs = 2;
  static constexpr float kUnit = 1.0f;
  template <bool kFull>
  static inline void load(const void* row, int64_t k, int64_t n, __m512* out) {
    const float* p = static_cast<const float*>(row) + k;
    for (int j = 0; j < kVecs; ++j)
      out[j] = kFull ? _mm512_loadu_ps(p + 16 * j) : _mm512_maskz_loadu_ps(mask16(n - 16 * j), p + 16 * j);
  }
};

struct DecBf16 {
  static constexpr int kVecs = 2;
  static constexpr float kUnit = 1.0f;
  template <bool kFull>
  static inline void load(const void* row, int64_t k, int64_t n, __m512* out) {
    const uint16_t* p = static_cast<const uint16_t*>(row) + k;
    for (int j = 0; j < kVecs; ++j) {
      __m256i h = kFull ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 16 * j))
                        : _mm256_maskz_loadu_epi16(mask16(n - 16 * j), p + 16 * j);
      out[j] = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
  }
};

struct DecF16 {
  static constexpr int kVecs = 2;
  static constexpr float kUnit = 1.0f;
  template <bool kFull>
  static inline void load(const void* row, int64_t k, int64_t n, __m512* out) {
    const uint16_t* p = static_cast<const uint16_t*>(row) + k;
    for (int j = 0; j < kVecs; ++j) {
      __m256i h = kFull ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 16 * j))
                        : _mm256_maskz_loadu_epi16(mask16(n - 16 * j), p + 16 * j);
      out[j] = _mm512_cvtph_ps(h);
    }
  }
};

#if DSV3_FP8_VBMI
// e4m3fn → bf16 by table: every e4m3 value is exact in bf16. Two 128-entry byte tables
// (high and low byte of the bf16 of the magnitude) are looked up with vpermi2b, which
// ignores index bit 7, the sign; the sign is then or-ed into the high byte, and one
// zero-masked byte permute per 16 codes places (low, high) in the top half of each f32.
struct Fp8Tables {
  alignas(64) uint8_t hi[128];
  alignas(64) uint8_t lo[128];
  alignas(64) uint8_t idx[4][64];
  constexpr Fp8Tables() : hi(), lo(), idx() {
    for (int c = 0; c < 128; ++c) {
      const uint32_t bits = std::bit_cast<uint32_t>(kFp8E4m3ToF32.v[c]);
      hi[c] = uint8_t(bits >> 24);
      lo[c] = uint8_t(bits >> 16);
    }
    for (int j = 0; j < 4; ++j)
      for (int i = 0; i < 16; ++i) {
        idx[j][4 * i + 2] = uint8_t(16 * j + i);       // low byte from `lo`
        idx[j][4 * i + 3] = uint8_t(64 + 16 * j + i);  // high byte from `hi`
      }
  }
};
inline constexpr Fp8Tables kFp8Tables{};

struct DecFp8 {
  static constexpr int kVecs = 4;
  static constexpr float kUnit = 1.0f;
  template <bool kFull>
  static inline void load(const void* row, int64_t k, int64_t n, __m512* out) {
    const uint8_t* p = static_cast<const uint8_t*>(row) + k;
    const __m512i b = kFull ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(mask64(n), p);
    const __m512i hi_t0 = _mm512_load_si512(kFp8Tables.hi), hi_t1 = _mm512_load_si512(kFp8Tables.hi + 64);
    const __m512i lo_t0 = _mm512_load_si512(kFp8Tables.lo), lo_t1 = _mm512_load_si512(kFp8Tables.lo + 64);
    __m512i hi = _mm512_permutex2var_epi8(hi_t0, b, hi_t1);
    hi = _mm512_ternarylogic_epi32(hi, b, _mm512_set1_epi8(char(0x80)), 0xF8);  // hi | (b & 0x80)
    const __m512i lo = _mm512_permutex2var_epi8(lo_t0, b, lo_t1);
    for (int j = 0; j < kVecs; ++j) {
      const __m512i idx = _mm512_load_si512(kFp8Tables.idx[j]);
      out[j] = _mm512_castsi512_ps(_mm512_maskz_permutex2var_epi8(__mmask64(0xCCCCCCCCCCCCCCCCull), lo, idx, hi));
    }
  }
};
#else
// e4m3fn → f16 by bit moves: sign to bit 15, the 7 magnitude bits to bits 13..7, which is
// the f16 of value/256 (e4m3 subnormals land on f16 normals' scale exactly); vcvtph2ps
// then gives f32 exactly. The 256 is folded into the block scale (kUnit). The NaN codes
// 0x7f/0xff decode to ±480 here (real checkpoints hold none).
struct DecFp8 {
  static constexpr int kVecs = 4;
  static constexpr float kUnit = 256.0f;
  template <bool kFull>
  static inline void load(const void* row, int64_t k, int64_t n, __m512* out) {
    const uint8_t* p = static_cast<const uint8_t*>(row) + k;
    for (int j = 0; j < kVecs; ++j) {
      const __m128i b = kFull ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * j))
                              : _mm_maskz_loadu_epi8(mask16(n - 16 * j), p + 16 * j);
      __m256i h = _mm256_slli_epi16(_mm256_cvtepi8_epi16(b), 7);
      h = _mm256_and_si256(h, _mm256_set1_epi16(short(0xBF80)));
      out[j] = _mm512_cvtph_ps(h);
    }
  }
};
#endif

// Software prefetch runs at least this far ahead of the loads in the rows path.
constexpr int64_t kPrefetchBytes = 4096;

#include "kernels/matmul_avx512_int.h"

template <class Dec>
constexpr int64_t elem_bytes() {
  if constexpr (std::is_same_v<Dec, DecF32>) return 4;
  else if constexpr (std::is_same_v<Dec, DecBf16> || std::is_same_v<Dec, DecF16>) return 2;
  else return 1;  // the FP8 decoders and I8 (I4: see row_bytes)
}
// Bytes of the first k weights of a row (k even for I4).
template <class Dec>
constexpr int64_t row_bytes(int64_t k) {
  return std::is_same_v<Dec, DecI4> ? (k + 1) / 2 : k * elem_bytes<Dec>();
}
// Weights with block scales (FP8, I8, I4): decoded value × kUnit × scale_inv = real value.
template <class Dec>
constexpr bool kScaled = !std::is_same_v<Dec, DecF32> && !std::is_same_v<Dec, DecBf16> && !std::is_same_v<Dec, DecF16>;

// out[0, len) = W[n, k0 : k0+len) in f32, scales applied (one rounding: q × scale).
template <class Dec>
void decode_segment(const WeightMatrix& w, int64_t n, int64_t k0, int64_t len, float* out) {
  constexpr int V = Dec::kVecs;
  constexpr int64_t E = 16 * V;
  const int64_t K = w.cols;
  const void* row = static_cast<const uint8_t*>(w.data) + n * row_bytes<Dec>(K);
  const int64_t bc = kScaled<Dec> ? w.block_cols : K;
  const float* srow = nullptr;
  if constexpr (kScaled<Dec>) srow = w.scale_inv + (n / w.block_rows) * ceil_div(K, bc);
  for (int64_t k = k0, end = k0 + len; k < end;) {
    const int64_t stop = imin(end, (k / bc + 1) * bc);
    const bool scaled = kScaled<Dec>;
    const __m512 s = _mm512_set1_ps(scaled ? srow[k / bc] * Dec::kUnit : 1.0f);
    __m512 v[V];
    for (; k + E <= stop; k += E) {
      Dec::template load<true>(row, k, E, v);
      for (int j = 0; j < V; ++j) _mm512_storeu_ps(out + (k - k0) + 16 * j, scaled ? _mm512_mul_ps(v[j], s) : v[j]);
    }
    if (k < stop) {
      const int64_t m = stop - k;
      Dec::template load<false>(row, k, m, v);
      for (int j = 0; j < V; ++j)
        _mm512_mask_storeu_ps(out + (k - k0) + 16 * j, mask16(m - 16 * j), scaled ? _mm512_mul_ps(v[j], s) : v[j]);
      k = stop;
    }
  }
}

// ---- rows: decode-time matrix-vector ------------------------------------------------------

#if DSV3_FP8_VBMI
// The rows path's FP8 decoder skips the cross-lane byte permutes of DecFp8 (vpermt2b has
// half the throughput of the other shuffles here): unpacking the (low, high) table bytes
// gives bf16 pairs in each dword, and a shift / a mask turn the even / odd ones into f32.
// The lanes then come out in a fixed permuted order within each 64-code chunk, so x is
// permuted the same way once per call (kFp8Src) — a dot product does not care about order.
struct DecFp8Rows {
  static constexpr int kVecs = 4;
  template <bool kFull>
  static inline void load(const void* row, int64_t k, int64_t n, __m512* out) {
    const uint8_t* p = static_cast<const uint8_t*>(row) + k;
    const __m512i b = kFull ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(mask64(n), p);
    const __m512i hi_t0 = _mm512_load_si512(kFp8Tables.hi), hi_t1 = _mm512_load_si512(kFp8Tables.hi + 64);
    const __m512i lo_t0 = _mm512_load_si512(kFp8Tables.lo), lo_t1 = _mm512_load_si512(kFp8Tables.lo + 64);
    __m512i hi = _mm512_permutex2var_epi8(hi_t0, b, hi_t1);
    hi = _mm512_ternarylogic_epi32(hi, b, _mm512_set1_epi8(char(0x80)), 0xF8);  // hi | (b & 0x80)
    const __m512i lo = _mm512_permutex2var_epi8(lo_t0, b, lo_t1);
    const __m512i u0 = _mm512_unpacklo_epi8(lo, hi), u1 = _mm512_unpackhi_epi8(lo, hi);
    const __m512i top = _mm512_set1_epi32(int(0xFFFF0000u));
    out[0] = _mm512_castsi512_ps(_mm512_slli_epi32(u0, 16));
    out[1] = _mm512_castsi512_ps(_mm512_and_si512(u0, top));
    out[2] = _mm512_castsi512_ps(_mm512_slli_epi32(u1, 16));
    out[3] = _mm512_castsi512_ps(_mm512_and_si512(u1, top));
  }
};
// Lane 16j + p of DecFp8Rows' output holds code kFp8Src[16j + p] of the 64-code chunk:
// unpack lo/hi takes bytes 0-7 / 8-15 of each 128-bit lane L = p / 4, dword d = p % 4
// holds codes 2d and 2d+1 of that half.
struct Fp8Src {
  alignas(64) int32_t idx[4][16];  // for permutex2var_ps over a pair of source vectors
  constexpr Fp8Src() : idx() {
    for (int j = 0; j < 4; ++j)
      for (int p = 0; p < 16; ++p) idx[j][p] = 16 * ((p >> 2) & 1) + 8 * (j >> 1) + 2 * (p & 3) + (j & 1);
  }
  static constexpr int src(int j, int p) { return 16 * (p >> 2) + 8 * (j >> 1) + 2 * (p & 3) + (j & 1); }
};
inline constexpr Fp8Src kFp8Src{};

// out[t][c·64 + 16j + p] = x[t][c·64 + src(j, p)] (0 past K), for every 64-chunk c.
void permute_x_fp8(const float* x, int64_t T, int64_t K, float* out) {
  const int64_t Kp = (K + 63) / 64 * 64;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < Kp; c += 64) {
      __m512 sv[4];
      for (int q = 0; q < 4; ++q) sv[q] = _mm512_maskz_loadu_ps(mask16(K - c - 16 * q), x + t * K + c + 16 * q);
      for (int j = 0; j < 4; ++j) {
        const __m512i idx = _mm512_load_si512(kFp8Src.idx[j]);
        const __m512 r1 = _mm512_permutex2var_ps(sv[0], idx, sv[1]);
        const __m512 r2 = _mm512_permutex2var_ps(sv[2], idx, sv[3]);
        _mm512_store_ps(out + t * Kp + c + 16 * j, _mm512_mask_blend_ps(__mmask16(0xFF00), r1, r2));
      }
    }
}
#endif


// y[t·ldy + r] = Σ_k xs[t·ldx + k] · w_r[k] for r < R, t < TT. w rows are `wstride` bytes
// apart. kPadded: xs rows are zero-padded to whole chunks (then tails load x unmasked).
template <class Dec, int R, int TT, bool kPadded>
void rows_group(const float* xs, int64_t ldx, const uint8_t* w0, int64_t wstride, int64_t K, float* y, int64_t ldy) {
  constexpr int V = Dec::kVecs;
  constexpr int64_t E = 16 * V;
  __m512 acc[R][TT];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < TT; ++t) acc[r][t] = _mm512_setzero_ps();
  constexpr int64_t kLineBytes = 64, kChunkBytes = E * elem_bytes<Dec>();
  const int64_t pf_rows = R * (1 + kPrefetchBytes / (R * wstride));
  int64_t k = 0;
  for (; k + E <= K; k += E) {
    for (int r = 0; r < R; ++r) {
      // The R rows are R short interleaved streams that the hardware prefetcher follows
      // poorly; fetch the same columns of the row pf_rows further down (the group after
      // next, at least kPrefetchBytes ahead), which this thread reads next.
      const char* pf = reinterpret_cast<const char*>(w0 + (r + pf_rows) * wstride) + k * elem_bytes<Dec>();
      for (int64_t b = 0; b < kChunkBytes; b += kLineBytes) _mm_prefetch(pf + b, _MM_HINT_T0);
      __m512 wv[V];
      Dec::template load<true>(w0 + r * wstride, k, E, wv);
      for (int j = 0; j < V; ++j)
        for (int t = 0; t < TT; ++t)
          acc[r][t] = _mm512_fmadd_ps(_mm512_loadu_ps(xs + t * ldx + k + 16 * j), wv[j], acc[r][t]);
    }
  }
  if (k < K) {
    const int64_t m = K - k;
    for (int r = 0; r < R; ++r) {
      __m512 wv[V];
      Dec::template load<false>(w0 + r * wstride, k, m, wv);
      for (int j = 0; j < V; ++j) {
        if (!kPadded && 16 * j >= m) break;
        for (int t = 0; t < TT; ++t) {
          const float* xp = xs + t * ldx + k + 16 * j;
          const __m512 xv = kPadded ? _mm512_load_ps(xp) : _mm512_maskz_loadu_ps(mask16(m - 16 * j), xp);
          acc[r][t] = _mm512_fmadd_ps(xv, wv[j], acc[r][t]);
        }
      }
    }
  }
  for (int t = 0; t < TT; ++t)
    for (int r = 0; r < R; ++r) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
}

constexpr int kRowsR = 4;   // weight rows per group
constexpr int kRowsTT = 4;  // tokens per group

using RowsFn = void (*)(const float*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t);

template <class Dec, bool kPadded, int R, int... TTs>
constexpr auto rows_fns_for_r(std::integer_sequence<int, TTs...>) {
  return std::array<RowsFn, sizeof...(TTs)>{&rows_group<Dec, R, TTs + 1, kPadded>...};
}
template <class Dec, bool kPadded, int... Rs>
constexpr auto rows_table(std::integer_sequence<int, Rs...>) {
  return std::array<std::array<RowsFn, kRowsTT>, sizeof...(Rs)>{
      rows_fns_for_r<Dec, kPadded, Rs + 1>(std::make_integer_sequence<int, kRowsTT>{})...};
}

// Rows [s0, s1) (one row of scale blocks for FP8) against x rows of stride ldx.
template <class Dec, bool kPadded>
void rows_range(const float* xs, int64_t ldx, int64_t T, const WeightMatrix& w, float* y, int64_t s0, int64_t s1) {
  static constexpr auto table = rows_table<Dec, kPadded>(std::make_integer_sequence<int, kRowsR>{});
  const int64_t K = w.cols, N = w.rows;
  const int64_t wstride = K * elem_bytes<Dec>();
  const uint8_t* wdata = static_cast<const uint8_t*>(w.data);
  for (int64_t n = s0; n < s1; n += kRowsR) {
    const int64_t r = imin(kRowsR, s1 - n);
    for (int64_t t = 0; t < T; t += kRowsTT) {
      const int64_t tt = imin(kRowsTT, T - t);
      table[r - 1][tt - 1](xs + t * ldx, ldx, wdata + n * wstride, wstride, K, y + t * N + n, N);
    }
  }
}

template <class Dec>
void rows_kernel(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t n0, int64_t n1) {
  const int64_t K = w.cols;
  if constexpr (!std::is_same_v<Dec, DecFp8>) {
    rows_range<Dec, false>(x, K, T, w, y, n0, n1);
  } else {
    // FP8: the block scales are folded into x. For each row of scale blocks,
    // xs[t, k] = x[t, k] · scale_inv[block row, k / bc] · kUnit, and the inner loop is
    // decode + FMA only.
    const int64_t br = w.block_rows, bc = w.block_cols, scale_cols = ceil_div(K, bc);
#if DSV3_FP8_VBMI
    using RowsDec = DecFp8Rows;
    constexpr bool kPadded = true;
    const int64_t ldx = (K + 63) / 64 * 64;
    float* xp = scratch(3, size_t(T * ldx));
    permute_x_fp8(x, T, K, xp);
#else
    using RowsDec = DecFp8;
    constexpr bool kPadded = false;
    const int64_t ldx = K;
    const float* xp = x;
#endif
    float* xs = scratch(0, size_t(T * ldx));
    for (int64_t s0 = n0; s0 < n1;) {
      const int64_t s1 = imin(n1, (s0 / br + 1) * br);
      const float* srow = w.scale_inv + (s0 / br) * scale_cols;
      for (int64_t t = 0; t < T; ++t) {
        const float* xr = xp + t * ldx;
        float* o = xs + t * ldx;
        if (!kPadded || bc % 64 == 0) {
          // Every 64-chunk (and, unpadded, every 16-vector up to the block end) has one scale.
          for (int64_t kb = 0; kb < scale_cols; ++kb) {
            const __m512 s = _mm512_set1_ps(srow[kb] * DecFp8::kUnit);
            const int64_t e = kPadded ? imin(ldx, (kb + 1) * bc) : imin(K, (kb + 1) * bc);
            for (int64_t k = kb * bc; k < e; k += 16) {
              const __mmask16 m = mask16(e - k);
              _mm512_mask_storeu_ps(o + k, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, xr + k), s));
            }
          }
        } else {
#if DSV3_FP8_VBMI
          // Scale blocks that split a permuted chunk: look each element's source up.
          for (int64_t c = 0; c < ldx; c += 64)
            for (int i = 0; i < 64; ++i) {
              const int64_t src = c + Fp8Src::src(i >> 4, i & 15);
              o[c + i] = src < K ? xr[c + i] * (srow[src / bc] * DecFp8::kUnit) : 0.0f;
            }
#endif
        }
      }
      rows_range<RowsDec, kPadded>(xs, ldx, T, w, y, s0, s1);
      s0 = s1;
    }
  }
}

// ---- tiles: prefill ---------------------------------------------------------------------

constexpr int kNr = 32;     // panel width (output features): two zmm
constexpr int kMr = 8;      // tokens per micro-kernel call
constexpr int64_t kKc = 256;  // panel depth (k) per decode

#include "kernels/avx512_transpose.h"

// 16 weights W[row][k, k+16) as f32 (only the first n when n < 16; the rest 0), times
// kUnit16 for FP8 (which is decoded through f16 bit moves here: 4 cheap ops per vector).
template <class Dec>
inline __m512 load16(const void* row, int64_t k, int64_t n) {
  const __mmask16 m = mask16(n);
  if constexpr (std::is_same_v<Dec, DecF32>) {
    return _mm512_maskz_loadu_ps(m, static_cast<const float*>(row) + k);
  } else if constexpr (std::is_same_v<Dec, DecBf16>) {
    const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(row) + k);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  } else if constexpr (std::is_same_v<Dec, DecF16>) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(row) + k));
  } else if constexpr (std::is_same_v<Dec, DecI8> || std::is_same_v<Dec, DecI4>) {
    return load16_int<Dec>(row, k, n);
  } else {
    const __m128i b = _mm_maskz_loadu_epi8(m, static_cast<const uint8_t*>(row) + k);
    __m256i h = _mm256_slli_epi16(_mm256_cvtepi8_epi16(b), 7);
    h = _mm256_and_si256(h, _mm256_set1_epi16(short(0xBF80)));
    return _mm512_cvtph_ps(h);
  }
}
template <class Dec>
constexpr float kUnit16 = std::is_same_v<Dec, DecFp8> ? 256.0f : 1.0f;

// P[k][0, 32) = W[n + j, k0 + k] for k < kk (scaled f32), columns j >= nn zero.
// Decodes 16 rows × 16 columns into registers and transposes them in place.
// Needs every 16-column piece inside one scale block (bc % 16 == 0, k0 % 16 == 0).
template <class Dec>
void pack_panel_direct(const WeightMatrix& w, int64_t n, int64_t nn, int64_t k0, int64_t kk, float* P) {
  constexpr bool fp8 = kScaled<Dec>;
  const int64_t K = w.cols, kpad = (kk + 15) / 16 * 16;
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  const int64_t bc = fp8 ? w.block_cols : K, scale_cols = ceil_div(K, bc);
  for (int h = 0; h < 2; ++h) {
    const int64_t vr = imax(0, imin(16, nn - 16 * h));
    const uint8_t* rows[16];
    const float* srow[16];
    for (int64_t i = 0; i < 16; ++i) {
      const int64_t r = n + 16 * h + imin(i, imax(vr - 1, 0));
      rows[i] = base + r * row_bytes<Dec>(K);
      srow[i] = fp8 ? w.scale_inv + (r / w.block_rows) * scale_cols : nullptr;
    }
    for (int64_t kb = 0; kb < kpad; kb += 16) {
      const int64_t k = k0 + kb;
      __m512 v[16];
      for (int i = 0; i < 16; ++i) {
        if (i < vr) {
          v[i] = load16<Dec>(rows[i], k, kk - kb);
          if constexpr (fp8) v[i] = _mm512_mul_ps(v[i], _mm512_set1_ps(srow[i][k / bc] * kUnit16<Dec>));
        } else {
          v[i] = _mm512_setzero_ps();
        }
      }
      transpose16(v);
      for (int j = 0; j < 16; ++j) _mm512_store_ps(P + (kb + j) * kNr + 16 * h, v[j]);
    }
  }
}

// As pack_panel_direct for any FP8 block shape: decodes rows into tmp, then transposes.
template <class Dec>
void pack_panel(const WeightMatrix& w, int64_t n, int64_t nn, int64_t k0, int64_t kk, float* tmp, float* P) {
  const int64_t kpad = (kk + 15) / 16 * 16;
  for (int h = 0; h < 2; ++h) {
    const int64_t vr = imax(0, imin(16, nn - 16 * h));
    for (int64_t i = 0; i < 16; ++i) {
      float* dst = tmp + i * kKc;
      if (i < vr) {
        decode_segment<Dec>(w, n + 16 * h + i, k0, kk, dst);
        for (int64_t k = kk; k < kpad; ++k) dst[k] = 0.0f;
      } else {
        for (int64_t k = 0; k < kpad; k += 16) _mm512_store_ps(dst + k, _mm512_setzero_ps());
      }
    }
    for (int64_t kb = 0; kb < kpad; kb += 16) {
      __m512 r[16];
      for (int i = 0; i < 16; ++i) r[i] = _mm512_load_ps(tmp + i * kKc + kb);
      transpose16(r);
      for (int j = 0; j < 16; ++j) _mm512_store_ps(P + (kb + j) * kNr + 16 * h, r[j]);
    }
  }
}

// y[m·ldy + j] (+)= Σ_k x[m·ldx + k] · P[k][j] for m < MR, j < nn (nn <= 32).
template <int MR>
void micro_kernel(const float* x, int64_t ldx, const float* P, int64_t kk, float* y, int64_t ldy, int64_t nn, bool accumulate) {
  __m512 c0[MR], c1[MR];
  for (int m = 0; m < MR; ++m) c0[m] = c1[m] = _mm512_setzero_ps();
#pragma GCC unroll 4
  for (int64_t k = 0; k < kk; ++k) {
    const __m512 b0 = _mm512_load_ps(P + k * kNr), b1 = _mm512_load_ps(P + k * kNr + 16);
    for (int m = 0; m < MR; ++m) {
      const __m512 a = _mm512_set1_ps(x[m * ldx + k]);
      c0[m] = _mm512_fmadd_ps(a, b0, c0[m]);
      c1[m] = _mm512_fmadd_ps(a, b1, c1[m]);
    }
  }
  const __mmask16 m0 = mask16(nn), m1 = mask16(nn - 16);
  for (int m = 0; m < MR; ++m) {
    float* yr = y + m * ldy;
    if (accumulate) {
      c0[m] = _mm512_add_ps(c0[m], _mm512_maskz_loadu_ps(m0, yr));
      c1[m] = _mm512_add_ps(c1[m], _mm512_maskz_loadu_ps(m1, yr + 16));
    }
    _mm512_mask_storeu_ps(yr, m0, c0[m]);
    _mm512_mask_storeu_ps(yr + 16, m1, c1[m]);
  }
}

using MicroFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, int64_t, bool);
template <int... Ms>
constexpr std::array<MicroFn, sizeof...(Ms)> micro_table(std::integer_sequence<int, Ms...>) {
  return {&micro_kernel<Ms + 1>...};
}

template <class Dec>
void tiles_kernel(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t t0, int64_t t1, int64_t n0, int64_t n1) {
  (void)T;
  static constexpr auto micro = micro_table(std::make_integer_sequence<int, kMr>{});
  const int64_t K = w.cols, N = w.rows;
  float* P = scratch(1, size_t(kKc * kNr));
  float* tmp = scratch(2, size_t(16 * kKc));

  const char* wbytes = static_cast<const char*>(w.data);
  const int64_t calls = ceil_div(t1 - t0, kMr);
  const bool direct = !kScaled<Dec> || w.block_cols % 16 == 0;
  for (int64_t n = n0; n < n1; n += kNr) {
    const int64_t nn = imin(kNr, n1 - n);
    for (int64_t k0 = 0; k0 < K; k0 += kKc) {
      const int64_t kk = imin(kKc, K - k0);
      if (direct) pack_panel_direct<Dec>(w, n, nn, k0, kk, P);
      else pack_panel<Dec>(w, n, nn, k0, kk, tmp, P);
      // While this panel is multiplied, pull the next one's weights into L2 (they are
      // nn short row pieces, which the hardware prefetcher would not fetch in time).
      int64_t pn = n, pk = k0 + kKc;
      if (pk >= K) pn += kNr, pk = 0;
      const int64_t pnn = imin(kNr, n1 - pn), pkk = imin(kKc, K - pk);
      const int64_t row_lines = ceil_div(row_bytes<Dec>(pkk), 64), lines = pn < n1 ? pnn * row_lines : 0;
      const int64_t per_call = ceil_div(lines, calls);
      int64_t line = 0, pf_row = 0, pf_col = 0;
      for (int64_t t = t0; t < t1; t += kMr) {
        for (int64_t e = imin(lines, line + per_call); line < e; ++line) {
          _mm_prefetch(wbytes + (pn + pf_row) * row_bytes<Dec>(K) + row_bytes<Dec>(pk) + pf_col * 64, _MM_HINT_T1);
          if (++pf_col == row_lines) pf_col = 0, ++pf_row;
        }
        const int64_t mr = imin(kMr, t1 - t);
        micro[mr - 1](x + t * K + k0, K, P, kk, y + t * N + n, N, nn, k0 > 0);
      }
    }
  }
}

template <class Dec>
void decode_fn(const WeightMatrix& w, int64_t n, int64_t k0, int64_t len, float* out) {
  decode_segment<Dec>(w, n, k0, len, out);
}

template <class Dec>
void rows_fn(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t n0, int64_t n1) {
  rows_kernel<Dec>(x, T, w, y, n0, n1);
}

template <class Dec>
void tiles_fn(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t t0, int64_t t1, int64_t n0, int64_t n1) {
  tiles_kernel<Dec>(x, T, w, y, t0, t1, n0, n1);
}

// I4 segments must start on a byte: an odd k0 decodes its first weight in scalar code.
void decode_int4(const WeightMatrix& w, int64_t n, int64_t k0, int64_t len, float* out) {
  if (len > 0 && (k0 & 1)) {
    const uint8_t* row = static_cast<const uint8_t*>(w.data) + n * row_bytes<DecI4>(w.cols);
    out[0] = float(int((row[k0 >> 1] >> 4)) - 8) * w.scale_inv[(n / w.block_rows) * ceil_div(w.cols, w.block_cols) + k0 / w.block_cols];
    ++out, ++k0, --len;
  }
  decode_fn<DecI4>(w, n, k0, len, out);
}

void decode_any(const WeightMatrix& w, int64_t n, int64_t k0, int64_t len, float* out) {
  switch (w.dtype) {
    case DType::F32: return decode_fn<DecF32>(w, n, k0, len, out);
    case DType::F16: return decode_fn<DecF16>(w, n, k0, len, out);
    case DType::BF16: return decode_fn<DecBf16>(w, n, k0, len, out);
    case DType::I8: return decode_fn<DecI8>(w, n, k0, len, out);
    case DType::I4: return decode_int4(w, n, k0, len, out);
    default: return decode_fn<DecFp8>(w, n, k0, len, out);
  }
}

// Int8-activation rows: vpdpbusd where the CPU has AVX-512 VNNI, else the AVX2 kernels.
inline void rows_int8act(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t n0, int64_t n1) {
  if (int8_act_vnni(Isa::kAvx512)) rows_int_vnni(x, T, w, y, n0, n1);
  else rows_int_avx2(x, T, w, y, n0, n1);
}

void rows_any(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t n0, int64_t n1) {
  switch (w.dtype) {
    case DType::F32: return rows_fn<DecF32>(x, T, w, y, n0, n1);
    case DType::F16: return rows_fn<DecF16>(x, T, w, y, n0, n1);
    case DType::BF16: return rows_fn<DecBf16>(x, T, w, y, n0, n1);
    case DType::I8:
      return use_int8_activations(w) ? rows_int8act(x, T, w, y, n0, n1) : rows_int_kernel<DecI8>(x, T, w, y, n0, n1);
    case DType::I4:
      return use_int8_activations(w) ? rows_int8act(x, T, w, y, n0, n1) : rows_int_kernel<DecI4>(x, T, w, y, n0, n1);
    default: return rows_fn<DecFp8>(x, T, w, y, n0, n1);
  }
}

void tiles_any(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t t0, int64_t t1, int64_t n0, int64_t n1) {
  switch (w.dtype) {
    case DType::F32: return tiles_fn<DecF32>(x, T, w, y, t0, t1, n0, n1);
    case DType::F16: return tiles_fn<DecF16>(x, T, w, y, t0, t1, n0, n1);
    case DType::BF16: return tiles_fn<DecBf16>(x, T, w, y, t0, t1, n0, n1);
    // With int8 activations matmul_with runs tiles_int_{vnni,avx2}_pooled instead.
    case DType::I8: return tiles_fn<DecI8>(x, T, w, y, t0, t1, n0, n1);
    case DType::I4: return tiles_fn<DecI4>(x, T, w, y, t0, t1, n0, n1);
    default: return tiles_fn<DecFp8>(x, T, w, y, t0, t1, n0, n1);
  }
}

}  // namespace

// The weighted row sum is the AVX2 kernel's: it streams a head's rows once, FMA-bound on
// short rows, where 512-bit vectors would add masking for little.
const KernelSet kKernels{decode_any, rows_any, tiles_any, kNr, 16, row_sum_avx2};
