// Row softmax, y = exp(x − max) / Σ exp(x − max), in place. Attention runs it over every
// score row at every decode step; with a scalar exp it cost as much as the scores themselves
// (an 80-wide dot per cached row in small models), so the SIMD levels evaluate exp with a
// polynomial (Cephes expf: range reduction by ln 2, degree-7 minimax, ~1 ulp).
#pragma once
#include <cstdint>

#include "kernels/isa.h"

namespace dsv3 {

void softmax_f32(float* x, int64_t n);
// std::exp, sum in double (the scalar twin and the portable level).
void softmax_f32_ref(float* x, int64_t n);
void softmax_f32_with(Isa isa, float* x, int64_t n);

}  // namespace dsv3
