// AVX-512 F/BW/VL/DQ matmul kernels (FP8 decoded through f16 bit moves + vcvtph2ps).
// Only this translation unit's own code is compiled for AVX-512: standard headers come
// before the target region, and everything inside has internal linkage or lives in a
// namespace of its own, so no AVX-512 code can be picked for a shared inline function.
#include <immintrin.h>

#include <array>
#include <bit>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "kernels/matmul_internal.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,bmi,bmi2,avx512f,avx512bw,avx512vl,avx512dq")
// GCC 12 flags the deliberately undefined pass-through operand inside its own AVX-512
// intrinsics (_mm512_cvtph_ps, _mm512_reduce_add_ps) as uninitialised: a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace dsv3::matmul_detail {
namespace avx512 {
#define DSV3_FP8_VBMI 0
#include "kernels/matmul_avx512_impl.h"
#undef DSV3_FP8_VBMI
}  // namespace avx512

const KernelSet& kernels_avx512() { return avx512::kKernels; }

}  // namespace dsv3::matmul_detail

#pragma GCC diagnostic pop
#pragma GCC pop_options
