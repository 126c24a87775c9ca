// Internal interface between the matmul driver (matmul.cpp: validation, path choice,
// threading) and the per-ISA kernels (matmul_scalar.cpp, matmul_avx2.cpp,
// matmul_avx512*.cpp). Not for use outside src/kernels.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/matmul.h"

namespace dsv3::matmul_detail {

// One SIMD level's kernels. All take x[T, K] (row stride K) and y[T, N] (row stride N),
// and are single-threaded: the driver splits the work.
struct KernelSet {
  // out[0, len) = W[n, k0 : k0+len) as f32 (F8_E4M3: code value × scale_inv of its block).
  void (*decode)(const WeightMatrix& w, int64_t n, int64_t k0, int64_t len, float* out);
  // y[t, n] for all t < T and n in [n0, n1): streams each weight row once and decodes it
  // again for each small group of tokens. For decode (small T).
  void (*rows)(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t n0, int64_t n1);
  // y[t, n] for t in [t0, t1), n in [n0, n1): decodes W a panel at a time into f32 scratch
  // and multiplies each panel with all those tokens. For prefill (large T).
  void (*tiles)(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t t0,
                int64_t t1, int64_t n0, int64_t n1);
  int panel_rows;    // rows per decoded panel in `tiles` (the driver's split grain)
  int tiles_min_T;   // kAuto uses `tiles` from this many tokens on
  // y[c] += Σ_{i<n} a[i] · W[r0 + i][c] for c < K, reading the rows in their stored dtype
  // (weighted_row_sum in matmul.h). nullptr: the driver dequantises each row and runs axpy.
  void (*row_sum)(const WeightMatrix& w, int64_t r0, int64_t n, const float* a, float* y) = nullptr;
};

// The AVX2 weighted row sum (KernelSet::row_sum), also used by the AVX-512 levels.
void row_sum_avx2(const WeightMatrix& w, int64_t r0, int64_t n, const float* a, float* y);

const KernelSet& kernels_scalar();
const KernelSet& kernels_avx2();
const KernelSet& kernels_avx512();
const KernelSet& kernels_avx512vbmi();

// I8/I4 rows path with int8 activations (matmul.h Int8Activations): vpdpbusd
// (matmul_int_vnni.cpp, AVX-512 VNNI) or vpmaddubsw (matmul_int_avx2.cpp, AVX2). The SIMD
// levels call them when use_int8_activations(w): enabled for the dtype, groups % 64 == 0;
// the AVX-512 levels take VNNI when the CPU has it, else the AVX2 kernels.
void rows_int_vnni(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t n0, int64_t n1);
void rows_int_avx2(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t n0, int64_t n1);
// The tiles path (prefill) of the same arithmetic, a register-blocked int8 GEMM over
// panels unpacked to bytes, as the whole product on `pool` (matmul_with calls it instead
// of KernelSet::tiles): the activations are quantised once, not once per thread, then
// panels are split over rows in multiples of row_grain (or over tokens when there are few
// rows). serial: everything on the calling thread. Both reproduce
// matmul_int8_activations_ref bit for bit.
void tiles_int_vnni_pooled(const float* x, int64_t T, const WeightMatrix& w, float* y, ThreadPool& pool, bool serial,
                           int64_t row_grain);
void tiles_int_avx2_pooled(const float* x, int64_t T, const WeightMatrix& w, float* y, ThreadPool& pool, bool serial,
                           int64_t row_grain);
bool use_int8_activations(const WeightMatrix& w);
// I8/I4 rows path with int16 activations (matmul.h set_int16_activations,
// matmul_int16_avx2.cpp): the AVX2 level calls it when use_int16_activations(w): I8 or I4,
// groups % 32 == 0 and <= 256, int8 activations not in use. Reproduces
// matmul_int16_activations_ref bit for bit.
void rows_int16act_avx2(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t n0, int64_t n1);
bool use_int16_activations(const WeightMatrix& w);
// Whether the int8-activation kernels at SIMD level `isa` are the VNNI ones (an AVX-512
// level on a CPU with VNNI) rather than the AVX2 ones.
inline bool int8_act_vnni(Isa isa) { return isa >= Isa::kAvx512 && cpu_has_avx512_vnni(); }

// Thread-local scratch of at least n floats, 64-byte aligned. `slot` (0..3) picks one of a
// few independent buffers. Grows and never shrinks, so a warm decode loop allocates nothing.
float* scratch(int slot, size_t n);

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Software prefetch distance of the AVX2 row kernels that read one weight row at a time in
// address order (int8/int4): the best of 0.5-8 KB measured on Zen 3 (int4 4608x2048 from DRAM,
// 2 threads: none 23-25 GB/s, 2 KB 24-30 GB/s). Past a row's end it reaches the next row.
inline constexpr int64_t kRowStreamPrefetchBytes = 2048;

}  // namespace dsv3::matmul_detail
