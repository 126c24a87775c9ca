// Small AVX2 helpers shared by the AVX2 kernel files (matmul_avx2.cpp, matmul_int_avx2.cpp,
// matmul_int16_avx2.cpp). Like avx2_transpose.h this is included inside a `#pragma GCC
// target` region (and a namespace) of the including file, not a normal header: it has no
// includes of its own.

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

// Lanes [0, n) set, for _mm256_maskload_ps / maskstore (which never touch masked lanes).
inline __m256i lane_mask(int64_t n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(imax(0, imin(8, n)))), idx);
}
// The first n (may be <= 0) of 8 floats, zeros after; never reads past them.
inline __m256 load_n(const float* p, int64_t n) {
  return n >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lane_mask(n));
}
inline void store_n(float* p, int64_t n, __m256 v) {
  if (n >= 8) _mm256_storeu_ps(p, v);
  else if (n > 0) _mm256_maskstore_ps(p, lane_mask(n), v);
}
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline int32_t hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}
inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
// max|x| over x[g0, g1) for activation quantisation; *nonfinite: some x is NaN or infinite.
inline float group_absmax(const float* x, int64_t g0, int64_t g1, bool* nonfinite) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 amax = _mm256_setzero_ps(), unordered = _mm256_setzero_ps();
  for (int64_t k = g0; k < g1; k += 8) {
    const __m256 v = load_n(x + k, g1 - k);
    unordered = _mm256_or_ps(unordered, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    amax = _mm256_max_ps(amax, _mm256_and_ps(v, abs_mask));
  }
  const float m = hmax(amax);
  *nonfinite = _mm256_movemask_ps(unordered) != 0 || !(m <= __FLT_MAX__);
  return m;
}
// A group's activation scale, as the scalar twins' quantize_activations: s_x = max|x|/qmax
// (NaN when some x is NaN or infinite, 0 below kInt8ActTinyMax); *inv = qmax/max|x| (0 when
// the group quantises to zero). Needs kernels/matmul.h.
inline float group_scale(const float* x, int64_t g0, int64_t g1, float qmax, float* inv) {
  bool nonfinite = false;
  const float m = group_absmax(x, g0, g1, &nonfinite);
  const bool zero = nonfinite || m < kInt8ActTinyMax;
  *inv = zero ? 0.0f : qmax / m;
  return nonfinite ? __builtin_nanf("") : zero ? 0.0f : m / qmax;
}
