// Small f32 vector kernels used by attention and norms. Each has a scalar twin (*_ref).
#pragma once
#include <cstdint>

#include "kernels/isa.h"

namespace dsv3 {

float dot_f32(const float* a, const float* b, int64_t n);
float dot_f32_ref(const float* a, const float* b, int64_t n);
// y += a * x
void axpy_f32(float a, const float* x, float* y, int64_t n);
void axpy_f32_ref(float a, const float* x, float* y, int64_t n);

// The same at an explicit SIMD level (<= cpu_isa()); dot_f32/axpy_f32 use active_isa().
float dot_f32_with(Isa isa, const float* a, const float* b, int64_t n);
void axpy_f32_with(Isa isa, float a, const float* x, float* y, int64_t n);

}  // namespace dsv3
