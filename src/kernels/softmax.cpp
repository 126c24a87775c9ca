// Softmax at each SIMD level (this file is built for the base x86-64 target; the SIMD versions
// carry their own target attribute and are picked at run time).
#include "kernels/softmax.h"

#include <cmath>

#include "core/error.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define DSV3_X86 1
#else
#define DSV3_X86 0
#endif

namespace dsv3 {

void softmax_f32_ref(float* x, int64_t n) {
  if (n <= 0) return;
  float m = x[0];
  for (int64_t i = 1; i < n; ++i) m = x[i] > m ? x[i] : m;
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    sum += x[i];
  }
  const float inv = float(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

namespace {

// Cephes expf (cephes/single/expf.c): x = k·ln2 + r with |r| <= ln2/2 (ln2 split in two for an
// exact reduction), e^r = 1 + r + r²·P(r), times 2^k built in the exponent bits. Below
// kExpLo (e^x under the smallest normal float) the result is 0; NaN stays NaN.
constexpr float kExpHi = 88.3762626647949f, kExpLo = -87.3365478515625f;
constexpr float kLog2e = 1.44269504088896341f, kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
constexpr float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f, kP3 = 4.1665795894e-2f,
                kP4 = 1.6666665459e-1f, kP5 = 5.0000001201e-1f;

#if DSV3_X86
#pragma GCC diagnostic push
// GCC 12: false positives on the undefined pass-through operand inside _mm512_reduce_*_ps.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

__attribute__((target("avx512f"))) inline __m512 exp_avx512(__m512 x0) {
  // min/max return their second operand when either is NaN: x0 goes second to keep a NaN.
  const __m512 x = _mm512_max_ps(_mm512_set1_ps(kExpLo), _mm512_min_ps(_mm512_set1_ps(kExpHi), x0));
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(kLn2Hi), x);
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(kLn2Lo), r);
  __m512 p = _mm512_set1_ps(kP0);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP1));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP5));
  const __m512 e = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  const __m512i two_k = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(k), _mm512_set1_epi32(127)), 23);
  const __m512 y = _mm512_mul_ps(e, _mm512_castsi512_ps(two_k));
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x0, _mm512_set1_ps(kExpLo), _CMP_NLT_UQ), y);
}

// The 16 floats of v widened to double, low half + high half (8 doubles).
__attribute__((target("avx512f"))) inline __m512d add_halves_pd(__m512 v) {
  const __m256 lo = _mm512_castps512_ps256(v);
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  return _mm512_add_pd(_mm512_cvtps_pd(lo), _mm512_cvtps_pd(hi));
}

__attribute__((target("avx512f"))) void softmax_avx512(float* x, int64_t n) {
  const int64_t full = n / 16 * 16;
  const __mmask16 tail = __mmask16((1u << (n - full)) - 1);
  const __m512 neg_inf = _mm512_set1_ps(-INFINITY);
  __m512 vm = neg_inf;
  for (int64_t i = 0; i < full; i += 16) vm = _mm512_max_ps(vm, _mm512_loadu_ps(x + i));
  if (tail) vm = _mm512_max_ps(vm, _mm512_mask_loadu_ps(neg_inf, tail, x + full));
  const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(vm));
  // The sum in double (as the reference): rows of 10^5 near-equal scores stay exactly normalised.
  __m512d vs = _mm512_setzero_pd();
  for (int64_t i = 0; i < full; i += 16) {
    const __m512 e = exp_avx512(_mm512_sub_ps(_mm512_loadu_ps(x + i), m));
    _mm512_storeu_ps(x + i, e);
    vs = _mm512_add_pd(vs, add_halves_pd(e));
  }
  if (tail) {
    const __m512 e = exp_avx512(_mm512_sub_ps(_mm512_mask_loadu_ps(neg_inf, tail, x + full), m));
    _mm512_mask_storeu_ps(x + full, tail, e);
    vs = _mm512_add_pd(vs, add_halves_pd(e));  // the masked lanes are exp(-inf) = 0
  }
  const __m512 inv = _mm512_set1_ps(float(1.0 / _mm512_reduce_add_pd(vs)));
  for (int64_t i = 0; i < full; i += 16) _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), inv));
  if (tail) _mm512_mask_storeu_ps(x + full, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, x + full), inv));
}
#pragma GCC diagnostic pop

__attribute__((target("avx2,fma"))) inline __m256 exp_avx2(__m256 x0) {
  const __m256 x = _mm256_max_ps(_mm256_set1_ps(kExpLo), _mm256_min_ps(_mm256_set1_ps(kExpHi), x0));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(kLn2Hi), x);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(kLn2Lo), r);
  __m256 p = _mm256_set1_ps(kP0);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP5));
  const __m256 e = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i two_k = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  const __m256 y = _mm256_mul_ps(e, _mm256_castsi256_ps(two_k));
  return _mm256_and_ps(_mm256_cmp_ps(x0, _mm256_set1_ps(kExpLo), _CMP_NLT_UQ), y);
}

// The 8 floats of v widened to double, low half + high half (4 doubles).
__attribute__((target("avx2,fma"))) inline __m256d add_halves_pd(__m256 v) {
  return _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

__attribute__((target("avx2,fma"))) inline double hsum4d(__m256d s) {
  const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
  return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}

// The valid lanes of a tail, -inf in the others.
__attribute__((target("avx2,fma"))) inline __m256 load_tail_avx2(const float* p, __m256i tail) {
  return _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_maskload_ps(p, tail), _mm256_castsi256_ps(tail));
}

__attribute__((target("avx2,fma"))) void softmax_avx2(float* x, int64_t n) {
  const int64_t full = n / 8 * 8;
  const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n - full)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const __m256 neg_inf = _mm256_set1_ps(-INFINITY);
  __m256 vm = neg_inf;
  for (int64_t i = 0; i < full; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
  if (full < n) vm = _mm256_max_ps(vm, load_tail_avx2(x + full, tail));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(vm), _mm256_extractf128_ps(vm, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  const __m256 m = _mm256_set1_ps(_mm_cvtss_f32(h));
  __m256d vs = _mm256_setzero_pd();  // in double, as the reference
  for (int64_t i = 0; i < full; i += 8) {
    const __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
    _mm256_storeu_ps(x + i, e);
    vs = _mm256_add_pd(vs, add_halves_pd(e));
  }
  if (full < n) {
    const __m256 e = exp_avx2(_mm256_sub_ps(load_tail_avx2(x + full, tail), m));
    _mm256_maskstore_ps(x + full, tail, e);
    vs = _mm256_add_pd(vs, add_halves_pd(e));
  }
  const __m256 inv = _mm256_set1_ps(float(1.0 / hsum4d(vs)));
  for (int64_t i = 0; i < full; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
  if (full < n) _mm256_maskstore_ps(x + full, tail, _mm256_mul_ps(_mm256_maskload_ps(x + full, tail), inv));
}
#endif

using SoftmaxFn = void (*)(float*, int64_t);

SoftmaxFn softmax_for(Isa isa) {
#if DSV3_X86
  if (isa >= Isa::kAvx512) return softmax_avx512;
  if (isa >= Isa::kAvx2) return softmax_avx2;
#endif
  (void)isa;
  return softmax_f32_ref;
}

}  // namespace

void softmax_f32_with(Isa isa, float* x, int64_t n) {
  DSV3_CHECK(isa <= cpu_isa(), "softmax: SIMD level ", isa_name(isa), " is not supported by this CPU");
  if (n > 0) softmax_for(isa)(x, n);
}

void softmax_f32(float* x, int64_t n) {
  static const SoftmaxFn fn = softmax_for(active_isa());  // resolved once: runs per score row
  if (n > 0) fn(x, n);
}

}  // namespace dsv3
