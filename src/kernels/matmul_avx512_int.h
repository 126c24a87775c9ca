// AVX-512 parts specific to the block-scaled integer weights (I8, I4; see quant.h). Like
// matmul_avx512_impl.h, which includes it inside its anonymous namespace, this is not a
// normal header: it needs the `#pragma GCC target` region and mask16() from there.
//
// decode / tiles decode I8 and I4 to f32 in natural order (DecI8, DecI4, load16_int) and
// reuse the generic panel + FMA machinery. rows keeps one f32 partial sum per weight row
// and token for the current scale group and folds it into the result with one FMA by the
// group's scale (the per-row scales cannot be folded into x as FP8's 128-row blocks are).
// For I4 the chunk of 32 weights (16 bytes) is decoded as low nibbles (weights 0, 2, ..)
// and high nibbles (1, 3, ..) without any interleaving shuffle; x is deinterleaved the
// same way once per call instead.

// 16 natural-order 4-bit weights (8 bytes at p) → 16 int32 codes q + 8 in [0, 15].
inline __m512i int4_nibbles16(__m128i bytes8) {
  // Each byte b → the word (b & 15) | (b >> 4) << 8: its two nibbles as two bytes in order.
  const __m128i w = _mm_cvtepu8_epi16(bytes8);
  const __m128i lo = _mm_and_si128(w, _mm_set1_epi16(0x000f));
  const __m128i hi = _mm_and_si128(_mm_slli_epi16(w, 4), _mm_set1_epi16(0x0f00));
  return _mm512_cvtepu8_epi32(_mm_or_si128(lo, hi));
}

inline __m512 int4_to_f32(__m512i u) {
  return _mm512_cvtepi32_ps(_mm512_sub_epi32(u, _mm512_set1_epi32(8)));
}

struct DecI8 {
  static constexpr int kVecs = 4;
  static constexpr float kUnit = 1.0f;
  template <bool kFull>
  static inline void load(const void* row, int64_t k, int64_t n, __m512* out) {
    const int8_t* p = static_cast<const int8_t*>(row) + k;
    for (int j = 0; j < kVecs; ++j) {
      const __m128i b = kFull ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * j))
                              : _mm_maskz_loadu_epi8(mask16(n - 16 * j), p + 16 * j);
      out[j] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b));
    }
  }
};

// k must be even (every caller starts at a group or panel boundary).
struct DecI4 {
  static constexpr int kVecs = 2;
  static constexpr float kUnit = 1.0f;
  template <bool kFull>
  static inline void load(const void* row, int64_t k, int64_t n, __m512* out) {
    const uint8_t* p = static_cast<const uint8_t*>(row) + k / 2;
    const __m128i b = kFull ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(p))
                            : _mm_maskz_loadu_epi8(mask16((n + 1) / 2), p);
    out[0] = int4_to_f32(int4_nibbles16(b));
    out[1] = int4_to_f32(int4_nibbles16(_mm_unpackhi_epi64(b, b)));
    if (!kFull) {
      out[0] = _mm512_maskz_mov_ps(mask16(n), out[0]);
      out[1] = _mm512_maskz_mov_ps(mask16(n - 16), out[1]);
    }
  }
};

// 16 weights of an I8/I4 row from weight k (only the first n; the rest 0), unscaled.
template <class Dec>
inline __m512 load16_int(const void* row, int64_t k, int64_t n) {
  const __mmask16 m = mask16(n);
  if constexpr (std::is_same_v<Dec, DecI8>) {
    const __m128i b = _mm_maskz_loadu_epi8(m, static_cast<const int8_t*>(row) + k);
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b));
  } else {
    const __m128i b = _mm_maskz_loadu_epi8(__mmask16(0xff) & mask16((n + 1) / 2), static_cast<const uint8_t*>(row) + k / 2);
    return _mm512_maskz_mov_ps(m, int4_to_f32(int4_nibbles16(b)));
  }
}

// ---- rows ------------------------------------------------------------------------------------

constexpr int64_t kIntChunk = 32;  // weights per decoded chunk (quant.h: groups are multiples)

// 32 weights of a row from weight k into two f32 vectors, in the order x was prepared in
// (I8: natural; I4: even weights then odd ones). kFull false: only the first m < 32 are
// real; the rest may hold any finite value because x is zero there.
template <class Dec, bool kFull>
inline void load_chunk(const uint8_t* row, int64_t k, int64_t m, __m512* wv) {
  if constexpr (std::is_same_v<Dec, DecI8>) {
    for (int j = 0; j < 2; ++j) {
      const __m128i b = kFull ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + k + 16 * j))
                              : _mm_maskz_loadu_epi8(mask16(m - 16 * j), row + k + 16 * j);
      wv[j] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b));
    }
  } else {
    const uint8_t* p = row + k / 2;
    const __m128i b = kFull ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)) : _mm_maskz_loadu_epi8(mask16((m + 1) / 2), p);
    const __m512i u = _mm512_cvtepu8_epi32(b);
    wv[0] = int4_to_f32(_mm512_and_si512(u, _mm512_set1_epi32(15)));
    wv[1] = int4_to_f32(_mm512_srli_epi32(u, 4));
  }
}

// xs[t·ldx + k] = x[t·K + k] with every row zero-padded to ldx (a multiple of 32); for I4
// each 32-chunk is reordered to the even weights' x then the odd weights' x.
template <class Dec>
void prepare_x_int(const float* x, int64_t T, int64_t K, int64_t ldx, float* xs) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < ldx; c += kIntChunk) {
      const __m512 a = _mm512_maskz_loadu_ps(mask16(K - c), x + t * K + c);
      const __m512 b = _mm512_maskz_loadu_ps(mask16(K - c - 16), x + t * K + c + 16);
      float* o = xs + t * ldx + c;
      if constexpr (std::is_same_v<Dec, DecI8>) {
        _mm512_store_ps(o, a);
        _mm512_store_ps(o + 16, b);
      } else {
        _mm512_store_ps(o, _mm512_permutex2var_ps(a, even, b));
        _mm512_store_ps(o + 16, _mm512_permutex2var_ps(a, odd, b));
      }
    }
}

// y[t·ldy + r] = Σ_groups scale[r][g] · Σ_{k in g} xs[t][k] · q_r[k] for r < R, t < TT.
template <class Dec, int R, int TT>
void rows_int_group(const float* xs, int64_t ldx, const uint8_t* w0, int64_t wstride, const float* const* srow,
                    int64_t K, int64_t G, float* y, int64_t ldy) {
  __m512 acc[R][TT], part[R][TT];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < TT; ++t) acc[r][t] = _mm512_setzero_ps();
  // Prefetch the same columns of the rows one group or more ahead (see rows_group).
  const int64_t pf_rows = R * (1 + kPrefetchBytes / (R * wstride));
  const int64_t kfull = K / kIntChunk * kIntChunk;
  for (int64_t g0 = 0, g = 0; g0 < K; g0 += G, ++g) {
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < TT; ++t) part[r][t] = _mm512_setzero_ps();
    const int64_t ge = imin(g0 + G, kfull);
    int64_t k = g0;
    for (; k < ge; k += kIntChunk) {
      const int64_t kb = std::is_same_v<Dec, DecI8> ? k : k / 2;
      for (int r = 0; r < R; ++r) {
        _mm_prefetch(reinterpret_cast<const char*>(w0 + (r + pf_rows) * wstride + kb), _MM_HINT_T0);
        __m512 wv[2];
        load_chunk<Dec, true>(w0 + r * wstride, k, kIntChunk, wv);
        for (int j = 0; j < 2; ++j)
          for (int t = 0; t < TT; ++t)
            part[r][t] = _mm512_fmadd_ps(_mm512_load_ps(xs + t * ldx + k + 16 * j), wv[j], part[r][t]);
      }
    }
    if (k < imin(g0 + G, K)) {  // the row's partial last chunk
      for (int r = 0; r < R; ++r) {
        __m512 wv[2];
        load_chunk<Dec, false>(w0 + r * wstride, k, K - k, wv);
        for (int j = 0; j < 2; ++j)
          for (int t = 0; t < TT; ++t)
            part[r][t] = _mm512_fmadd_ps(_mm512_load_ps(xs + t * ldx + k + 16 * j), wv[j], part[r][t]);
      }
    }
    for (int r = 0; r < R; ++r) {
      const __m512 s = _mm512_set1_ps(srow[r][g]);
      for (int t = 0; t < TT; ++t) acc[r][t] = _mm512_fmadd_ps(part[r][t], s, acc[r][t]);
    }
  }
  for (int t = 0; t < TT; ++t)
    for (int r = 0; r < R; ++r) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
}

constexpr int kIntRowsR = 4;   // weight rows per group
constexpr int kIntRowsTT = 2;  // tokens per group (acc + partial sums: 16 zmm)

using IntRowsFn = void (*)(const float*, int64_t, const uint8_t*, int64_t, const float* const*, int64_t, int64_t, float*, int64_t);

template <class Dec, int R, int... TTs>
constexpr auto int_rows_fns_for_r(std::integer_sequence<int, TTs...>) {
  return std::array<IntRowsFn, sizeof...(TTs)>{&rows_int_group<Dec, R, TTs + 1>...};
}
template <class Dec, int... Rs>
constexpr auto int_rows_table(std::integer_sequence<int, Rs...>) {
  return std::array<std::array<IntRowsFn, kIntRowsTT>, sizeof...(Rs)>{
      int_rows_fns_for_r<Dec, Rs + 1>(std::make_integer_sequence<int, kIntRowsTT>{})...};
}

template <class Dec>
void rows_int_kernel(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t n0, int64_t n1) {
  static constexpr auto table = int_rows_table<Dec>(std::make_integer_sequence<int, kIntRowsR>{});
  const int64_t K = w.cols, N = w.rows, G = w.block_cols;
  const int64_t ldx = ceil_div(K, kIntChunk) * kIntChunk;
  const int64_t wstride = std::is_same_v<Dec, DecI8> ? K : (K + 1) / 2;
  const int64_t scale_cols = ceil_div(K, G);
  float* xs = scratch(0, size_t(T * ldx));
  prepare_x_int<Dec>(x, T, K, ldx, xs);
  const uint8_t* wdata = static_cast<const uint8_t*>(w.data);
  for (int64_t n = n0; n < n1; n += kIntRowsR) {
    const int64_t r = imin(kIntRowsR, n1 - n);
    const float* srow[kIntRowsR];
    for (int64_t i = 0; i < kIntRowsR; ++i) srow[i] = w.scale_inv + ((n + imin(i, r - 1)) / w.block_rows) * scale_cols;
    for (int64_t t = 0; t < T; t += kIntRowsTT) {
      const int64_t tt = imin(kIntRowsTT, T - t);
      table[r - 1][tt - 1](xs + t * ldx, ldx, wdata + n * wstride, wstride, srow, K, G, y + t * N + n, N);
    }
  }
}
