// Matrix products against weights kept in their stored dtype (DESIGN.md: FP8 stays FP8;
// kernels dequantise on the fly). Activations and accumulation are f32.
//
// Layout is Hugging Face's nn.Linear: W[N, K] (out × in), y[T, N] = x[T, K] · Wᵀ.
// Every variant has a scalar twin (matmul_ref) and a test comparing the two.
#pragma once
#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "kernels/isa.h"

namespace dsv3 {

struct WeightMatrix {
  DType dtype = DType::F32;  // F32, F16, BF16, F8_E4M3, I8, I4 (formats: kernels/quant.h)
  int64_t rows = 0;          // N, output features
  int64_t cols = 0;          // K, input features
  const void* data = nullptr;  // I4: rows of ceil(K/2) bytes
  // F8_E4M3, I8, I4: block scales, f32 [ceil(N/block_rows), ceil(K/block_cols)], row-major;
  // the real weight is code × scale_inv of its block (edge blocks partial). DeepSeek's FP8
  // `weight_scale_inv`; I8/I4 groups (block_cols, a multiple of 32) usually of one row.
  const float* scale_inv = nullptr;
  int64_t block_rows = 128, block_cols = 128;
  std::string name;  // for error messages
};

// y[T, N] = x[T, K] · Wᵀ, overwriting y. Runs on `pool` split over output rows (decode)
// or over row blocks × tokens (prefill). Picks AVX-512 / AVX2 / scalar at run time.
// Accuracy: every product and sum is f32 (no bf16 rounding of activations); the result
// matches matmul_ref to within a few ulps of sum_k |x_k·w_k| (the order of the sum differs).
// x and y need no alignment; y must not overlap x. FP8 NaN codes (0x7f/0xff, absent from
// real checkpoints) may decode as ±480 in the SIMD paths instead of propagating NaN.
void matmul(const float* x, int64_t T, const WeightMatrix& w, float* y,
            ThreadPool& pool = ThreadPool::global());

// How matmul computes: kRows streams each weight row once per call and decodes it again
// for every group of a few tokens (memory-bound decode, small T); kTiles decodes a tile of
// W once into an f32 scratch panel and multiplies it with all tokens (compute-bound
// prefill). kAuto picks by T. Exposed so tests can exercise both on every shape.
enum class MatmulPath : uint8_t { kAuto, kRows, kTiles };

// matmul at an explicit SIMD level (must be <= cpu_isa()) and path: for tests and benches.
void matmul_with(Isa isa, MatmulPath path, const float* x, int64_t T, const WeightMatrix& w,
                 float* y, ThreadPool& pool = ThreadPool::global());

// y = x·Wᵀ with rows [0, n_tiled) on the tiled path and rows [n_tiled, T) on the row path,
// whatever T is (n_tiled < 0: matmul's automatic choice). Each path sums a row in an order
// that does not depend on the other rows, so with a fixed split rule a token's result does
// not depend on what else is in the batch (the serving engine's batch invariance).
void matmul_split(const float* x, int64_t T, int64_t n_tiled, const WeightMatrix& w, float* y,
                  ThreadPool& pool = ThreadPool::global());

// The rows path at the active SIMD level on the calling thread only, for products inside a
// parallel part (a head's slice of kv_b in absorbed attention). Bit-identical to
// matmul_with(active_isa(), MatmulPath::kRows, ...).
void matmul_rows_serial(const float* x, int64_t T, const WeightMatrix& w, float* y);

// y[c] += Σ_{i<n} a[i] · W[r0 + i][c] for c < K, on the calling thread: a weighted sum of
// weight rows read in their stored dtype, as absorbed MLA needs for W_UKᵀ q (a transposed
// product). Each weight enters as fma(code, a[i] · block scale, y) in row order. The twin,
// weighted_row_sum_ref, is the two-pass form (dequantize_row, then axpy_f32 per row; also
// what levels without the fused kernel run); it rounds the scale product differently, so the
// two agree to a few ulps of Σ|a[i] · W[r0 + i][c]|.
void weighted_row_sum(const WeightMatrix& w, int64_t r0, int64_t n, const float* a, float* y);
void weighted_row_sum_with(Isa isa, const WeightMatrix& w, int64_t r0, int64_t n, const float* a, float* y);
void weighted_row_sum_ref(const WeightMatrix& w, int64_t r0, int64_t n, const float* a, float* y);

// Rows [r0, r0 + n) of w as a matrix of their own (data and block scales offset), or false
// when r0 does not start a scale block (a block straddling the cut has no row of its own).
bool weight_row_slice(const WeightMatrix& w, int64_t r0, int64_t n, WeightMatrix* out);

// One product of a grouped call: y[T, N] = x[T, K] · Wᵀ (overwrites y).
struct MatmulProduct {
  const float* x;
  int64_t T;
  const WeightMatrix* w;
  float* y;
};

// Every product on the rows path (decode) in ONE fork-join: the rows of all the weights are
// laid end to end and split evenly over the pool. A decode step's many small products (a
// token's experts, gate with up, q_a with kv_a) then cost one synchronisation instead of one
// each and the threads stay balanced across products. Each y is bit-identical to
// matmul_with(active_isa(), MatmulPath::kRows, ...) of its product (the rows path sums each
// output independently of how rows are split).
void matmul_rows_grouped(const MatmulProduct* products, size_t n, ThreadPool& pool = ThreadPool::global());

// I8/I4 weights with int8 activations: activations are quantised to int8 per token and
// weight group (scale max|x|/127) and multiplied in integers, on the rows path (decode:
// keeps 4-bit decode memory-bound) and the tiles path (prefill: an int8 GEMM). AVX-512 VNNI
// uses vpdpbusd (64 multiply-adds per instruction against 16 for f32 FMA); AVX2 uses
// vpmaddubsw (I4: 2.7x the f32 FMA rate on Zen 3, I8: 1.6x; matmul_int_avx2.cpp). Only the
// activation rounding differs from the f32 path:
// |y - y_f32| <= ½ Σ_groups (max_{k∈g}|x_k| / 127) · Σ_{k∈g}|w_k| (+ f32 rounding). Results
// stay independent of the other tokens. Needs AVX2 and groups that are a multiple of 64.
// Default kInt4: measured on the bench preset's decode it is 1.55x faster for I4 at +0.4 %
// KL, but only 1.1x for I8 at +29 % KL (AVX-512 machine; README "Quantization").
// DSV3_INT8_ACT=0|int4|all.
enum class Int8Activations : uint8_t { kOff, kInt4, kAll };
void set_int8_activations(Int8Activations mode);
Int8Activations int8_activations();  // the mode set (kOff when the CPU has no AVX2)

// I8/I4 weights on the AVX2 rows path (decode) with int16 activations: per token and weight
// group s_x = max|x|/32767, xq = round-to-even(x · 32767/max|x|), multiplied with vpmaddwd
// in exact int32 (matmul_int16_avx2.cpp). Converting each weight to f32 had bounded decode
// at ~16 GB/s (I8) and 3-4 GB/s (I4) per Zen 3 core; this runs ~2x (I8) and ~4x (I4) faster.
// The activation step is 2^-16 of the group's largest activation (bf16 itself rounds at 2^-9
// relative), so |y - y_f32| <= ½ Σ_groups (max_{k∈g}|x_k| / 32767) · Σ_{k∈g}|w_k| (+ f32
// rounding). On by default wherever int8 activations do not apply to the weight (I8 unless
// DSV3_INT8_ACT=all; I4 only with DSV3_INT8_ACT=0); DSV3_INT16_ACT=0 or
// set_int16_activations(false) selects the f32-activation kernels. Needs groups that are a
// multiple of 32 and at most 256 (int32 sums stay exact).
void set_int16_activations(bool on);
bool int16_activations();  // the setting (false when the CPU has no AVX2)

// Scalar twin of the int16-activation rows path: xq as above, a group's exact sum
// Σ_g q·xq converted to f32 goes to partial sum g mod 8, p = fma(float(Σ_g), s_w·s_x, p),
// and y = ((p0+p4)+(p2+p6)) + ((p1+p5)+(p3+p7)). Tiny and non-finite groups as for int8.
void matmul_int16_activations_ref(const float* x, int64_t T, const WeightMatrix& w, float* y);

// Plain scalar twin of matmul: same contract, single thread, no SIMD.
void matmul_ref(const float* x, int64_t T, const WeightMatrix& w, float* y);

// Scalar twin of the int8-activation tiles path (prefill with I8/I4 weights when
// use_int8_activations applies): per token and group s_x = max|x|/127, xq = round-to-even
// (x · 127/max|x|), then y = fma(float(Σ_g q·xq), s_w·s_x, y) over the groups in order.
// The VNNI and AVX2 tiles kernels match it bit for bit.
// Groups with max|x| < kInt8ActTinyMax quantise to zero; a NaN or infinite activation makes
// its group's scale NaN, so that token's outputs are NaN (as on the f32 path). Both paths.
void matmul_int8_activations_ref(const float* x, int64_t T, const WeightMatrix& w, float* y);
inline constexpr float kInt8ActTinyMax = 1e-30f;

// Row r of W as f32 (embedding lookup, absorbed-MLA weight slices, tests). out has K floats.
// Bit-identical at every SIMD level: each element is decode(w) × scale_inv, one rounding.
void dequantize_row(const WeightMatrix& w, int64_t r, float* out);
void dequantize_row_with(Isa isa, const WeightMatrix& w, int64_t r, float* out);

// Which SIMD level matmul dispatches to on this CPU ("avx512vbmi", "avx512", "avx2",
// "scalar"): cpu_isa() capped by DSV3_ISA.
const char* matmul_isa();

}  // namespace dsv3
