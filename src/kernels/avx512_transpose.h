// In-register transpose of a 16×16 block of 32-bit elements (AVX-512F), shared by the
// matmul kernels that pack weight panels. Like matmul_avx512_impl.h this is included
// inside a `#pragma GCC target` region (and a namespace) of the including file, not a
// normal header: it has no includes of its own.
//
// On return r[j] holds element j of every input row: r[j][i] = old r[i][j].
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  __m512 s[16];
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    s[4 * i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    s[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    s[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    s[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  // s[4i + c] lane L = rows 4i..4i+3 of column 4L + c.
  for (int c = 0; c < 4; ++c) {
    const __m512 u = _mm512_shuffle_f32x4(s[c], s[4 + c], 0x88);
    const __m512 v = _mm512_shuffle_f32x4(s[c], s[4 + c], 0xDD);
    const __m512 u2 = _mm512_shuffle_f32x4(s[8 + c], s[12 + c], 0x88);
    const __m512 v2 = _mm512_shuffle_f32x4(s[8 + c], s[12 + c], 0xDD);
    r[c] = _mm512_shuffle_f32x4(u, u2, 0x88);
    r[8 + c] = _mm512_shuffle_f32x4(u, u2, 0xDD);
    r[4 + c] = _mm512_shuffle_f32x4(v, v2, 0x88);
    r[12 + c] = _mm512_shuffle_f32x4(v, v2, 0xDD);
  }
}
