// In-register transpose of an 8×8 block of 32-bit elements (AVX2), shared by the AVX2
// kernels that pack weight panels. Like avx512_transpose.h this is included inside a
// `#pragma GCC target` region (and a namespace) of the including file, not a normal
// header: it has no includes of its own.
//
// On return r[j] holds element j of every input row: r[j][i] = old r[i][j].
inline void transpose8(__m256 r[8]) {
  __m256 t[8], s[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    const __m256d a = _mm256_castps_pd(t[4 * i]), b = _mm256_castps_pd(t[4 * i + 1]);
    const __m256d c = _mm256_castps_pd(t[4 * i + 2]), d = _mm256_castps_pd(t[4 * i + 3]);
    s[4 * i + 0] = _mm256_castpd_ps(_mm256_unpacklo_pd(a, c));
    s[4 * i + 1] = _mm256_castpd_ps(_mm256_unpackhi_pd(a, c));
    s[4 * i + 2] = _mm256_castpd_ps(_mm256_unpacklo_pd(b, d));
    s[4 * i + 3] = _mm256_castpd_ps(_mm256_unpackhi_pd(b, d));
  }
  // s[4i + c] lane L = rows 4i..4i+3 of column 4L + c.
  for (int c = 0; c < 4; ++c) {
    r[c] = _mm256_permute2f128_ps(s[c], s[4 + c], 0x20);
    r[4 + c] = _mm256_permute2f128_ps(s[c], s[4 + c], 0x31);
  }
}
