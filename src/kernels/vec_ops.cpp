// dot and axpy at each SIMD level. The SIMD versions carry their own target attribute
// (this file is compiled for the base x86-64 target) and are picked at run time.
#include "kernels/vec_ops.h"

#include "core/error.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define DSV3_X86 1
#else
#define DSV3_X86 0
#endif

namespace dsv3 {

float dot_f32_ref(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy_f32_ref(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

namespace {

// Portable level: four partial sums (vectorisable without reassociation).
float dot_scalar(const float* a, const float* b, int64_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s2) + (s1 + s3);
}

#if DSV3_X86
__attribute__((target("avx2,fma"))) float dot_avx2(const float* a, const float* b, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  if (i < n) {
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n - i)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, mask), _mm256_maskload_ps(b + i, mask), s1);
  }
  const __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

__attribute__((target("avx2,fma"))) void axpy_avx2(float a, const float* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  if (i < n) {
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n - i)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(y + i, mask, _mm256_fmadd_ps(va, _mm256_maskload_ps(x + i, mask), _mm256_maskload_ps(y + i, mask)));
  }
}

// GCC 12 flags the undefined pass-through operand inside _mm512_reduce_add_ps as
// uninitialised: a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
__attribute__((target("avx512f"))) float dot_avx512(const float* a, const float* b, int64_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
    s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
  }
  for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
  if (i < n) {
    const __mmask16 m = __mmask16((1u << (n - i)) - 1);
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}
#pragma GCC diagnostic pop

__attribute__((target("avx512f"))) void axpy_avx512(float a, const float* x, float* y, int64_t n) {
  const __m512 va = _mm512_set1_ps(a);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
  if (i < n) {
    const __mmask16 m = __mmask16((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
  }
}
#endif

}  // namespace

float dot_f32_with(Isa isa, const float* a, const float* b, int64_t n) {
  DSV3_CHECK(isa <= cpu_isa(), "dot_f32: SIMD level ", isa_name(isa), " is not supported by this CPU");
#if DSV3_X86
  if (isa >= Isa::kAvx512) return dot_avx512(a, b, n);
  if (isa >= Isa::kAvx2) return dot_avx2(a, b, n);
#endif
  return dot_scalar(a, b, n);
}

void axpy_f32_with(Isa isa, float a, const float* x, float* y, int64_t n) {
  DSV3_CHECK(isa <= cpu_isa(), "axpy_f32: SIMD level ", isa_name(isa), " is not supported by this CPU");
#if DSV3_X86
  if (isa >= Isa::kAvx512) return axpy_avx512(a, x, y, n);
  if (isa >= Isa::kAvx2) return axpy_avx2(a, x, y, n);
#endif
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// Resolved once: attention calls these per cached row and head, where a dispatch and a check per
// call were ~7 % of a small model's decode.
namespace {
using DotFn = float (*)(const float*, const float*, int64_t);
using AxpyFn = void (*)(float, const float*, float*, int64_t);
DotFn resolve_dot() {
#if DSV3_X86
  if (active_isa() >= Isa::kAvx512) return dot_avx512;
  if (active_isa() >= Isa::kAvx2) return dot_avx2;
#endif
  return dot_scalar;
}
AxpyFn resolve_axpy() {
#if DSV3_X86
  if (active_isa() >= Isa::kAvx512) return axpy_avx512;
  if (active_isa() >= Isa::kAvx2) return axpy_avx2;
#endif
  return [](float a, const float* x, float* y, int64_t n) { axpy_f32_with(Isa::kScalar, a, x, y, n); };
}
}  // namespace

float dot_f32(const float* a, const float* b, int64_t n) {
  static const DotFn fn = resolve_dot();
  return fn(a, b, n);
}
void axpy_f32(float a, const float* x, float* y, int64_t n) {
  static const AxpyFn fn = resolve_axpy();
  fn(a, x, y, n);
}

}  // namespace dsv3
