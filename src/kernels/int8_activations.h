// What the int8-activation kernels share (matmul_int_vnni.cpp for AVX-512 VNNI,
// matmul_int_avx2.cpp for AVX2): the buffers of quantised activations and the way a
// prefill product is split over the pool. Plain C++ (no SIMD): include it anywhere in
// src/kernels. The arithmetic both implement is matmul_int8_activations_ref's (matmul.h).
#pragma once
#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/matmul_internal.h"

namespace dsv3::matmul_detail {

// Activations are padded to whole chunks of this many weights (zeros past K), the unit
// both kernels load: 64 bytes = one zmm, or two ymm.
inline constexpr int64_t kInt8ActChunk = 64;

// Prepared activations of T tokens: xq[t][Kp] int8 (Kp = K rounded up to kInt8ActChunk,
// zeros past K; the order within a chunk is the kernel's choice), sx[t][g] the group
// scales (max|x|/127, 0 for a tiny group, NaN for a non-finite one), and either `corr`,
// one int32 per token and group (the weight offset's correction -o·Σ_g xq), or `neg`, 16
// int32 lanes per token and group (the same correction split over a zmm's lanes).
struct PreparedX {
  int8_t* xq;
  float* sx;
  int32_t* neg;
  int32_t* corr;
  int64_t Kp, groups;
  // The same arrays from token t on.
  PreparedX from(int64_t t) const {
    return {xq + t * Kp, sx + t * groups, neg ? neg + t * groups * 16 : nullptr, corr ? corr + t * groups : nullptr,
            Kp, groups};
  }
};

// Buffers for the prepared activations of T tokens in the calling thread's scratch slots 0
// (xq) and 3 (sx, then `neg` when `lanes`, else `corr`). Other threads may read them
// during a product.
inline PreparedX alloc_prepared(int64_t T, int64_t K, int64_t G, bool lanes) {
  PreparedX p;
  p.Kp = ceil_div(K, kInt8ActChunk) * kInt8ActChunk;
  p.groups = ceil_div(K, G);
  p.xq = reinterpret_cast<int8_t*>(scratch(0, size_t(T * p.Kp / 4 + 16)));
  float* meta = scratch(3, size_t(T * p.groups * (lanes ? 17 : 2)));
  p.sx = meta;
  p.neg = lanes ? reinterpret_cast<int32_t*>(meta + T * p.groups) : nullptr;
  p.corr = lanes ? nullptr : reinterpret_cast<int32_t*>(meta + T * p.groups);
  return p;
}

// A prefill product on the pool: the activations are quantised once (split over tokens:
// prep(p, t0, t1)), then mul(p, t0, t1, n0, n1) runs panels split over output rows in
// multiples of row_grain, as matmul_with splits the f32 tiles path, or over tokens when
// there are too few rows for every thread. serial: everything on the calling thread.
template <class Prep, class Mul>
void run_int8_tiles(int64_t T, int64_t K, int64_t N, int64_t G, ThreadPool& pool, bool serial, int64_t row_grain,
                    const Prep& prep, const Mul& mul) {
  const PreparedX p = alloc_prepared(T, K, G, false);
  if (serial) {
    prep(p, 0, T);
    return mul(p, 0, T, 0, N);
  }
  pool.parallel_for(T, [&](int64_t b, int64_t e) { prep(p, b, e); }, 1);
  if (N >= int64_t(pool.size()) * row_grain)
    pool.parallel_for(N, [&](int64_t b, int64_t e) { mul(p, 0, T, b, e); }, row_grain);
  else
    pool.parallel_for(T, [&](int64_t b, int64_t e) { mul(p, b, e, 0, N); }, 8);
}

// Prefetch into L2 of the next panel's weight rows while the current one is multiplied,
// spread over the micro-kernel calls (short row pieces the hardware prefetcher would not
// fetch in time). Rows [pn, n1) from weight pk on, row_bytes of each; `calls` per panel.
struct PanelPrefetch {
  const char* base = nullptr;
  int64_t wstride = 0, row_lines = 0, lines = 0, per_call = 0, first_row = 0, offset = 0, line = 0;
  PanelPrefetch(const void* w, int64_t stride, int64_t pn, int64_t n1, int64_t rows_per_panel, int64_t byte_offset,
                int64_t row_bytes, int64_t calls)
      : base(static_cast<const char*>(w)), wstride(stride), row_lines(ceil_div(row_bytes, 64)),
        lines(pn < n1 ? (n1 - pn < rows_per_panel ? n1 - pn : rows_per_panel) * row_lines : 0),
        per_call(ceil_div(lines, calls)), first_row(pn), offset(byte_offset) {}
  // The lines due before the next micro-kernel call.
  void step() {
    for (const int64_t e = line + per_call < lines ? line + per_call : lines; line < e; ++line)
      __builtin_prefetch(base + (first_row + line / row_lines) * wstride + offset + (line % row_lines) * 64, 0, 2);
  }
};

// Weights per row in one GEMM panel: whole groups, about `target` (one group when G is larger).
inline int64_t int8_panel_depth(int64_t G, int64_t target) { return G * (G >= target ? 1 : target / G); }

// The loop nest both int8 GEMMs share: y[t, n] for t in [t0, t1), n in [n0, n1) from
// prepared activations p (of token 0), a panel of `rows` rows × kc weights (kc from
// int8_panel_depth) at a time. pack(n, nn, k0, kk, g0, ng) unpacks rows [n, n + nn),
// weights [k0, k0 + kk) (groups g0 .. g0 + ng) into the kernel's panel buffers; then
// micro(mr, xq, sx, corr, y, nn, k0 > 0, ng, steps) multiplies mr <= mr_max tokens with it
// (xq/sx/corr offset to the token and the panel's first weight and group; y to the token
// and row; steps = 4-weight steps of the panel, padded to whole chunks). The next panel's
// weight rows are prefetched meanwhile.
template <class Pack, class Micro>
void int8_tiles_loop(const PreparedX& p, const WeightMatrix& w, float* y, int64_t t0, int64_t t1, int64_t n0,
                     int64_t n1, int64_t rows, int64_t mr_max, int64_t kc, const Pack& pack, const Micro& micro) {
  const int64_t K = w.cols, N = w.rows, G = w.block_cols, T = t1 - t0;
  const bool int4 = w.dtype == DType::I4;
  const PreparedX q = p.from(t0);
  const int64_t wstride = int4 ? (K + 1) / 2 : K;
  const int64_t calls = ceil_div(T, mr_max);
  for (int64_t n = n0; n < n1; n += rows) {
    const int64_t nn = n1 - n < rows ? n1 - n : rows;
    for (int64_t k0 = 0; k0 < K; k0 += kc) {
      const int64_t kk = K - k0 < kc ? K - k0 : kc, g0 = k0 / G, ng = ceil_div(kk, G);
      pack(n, nn, k0, kk, g0, ng);
      int64_t pn = n, pk = k0 + kc;  // the next panel
      if (pk >= K) pn += rows, pk = 0;
      const int64_t next = K - pk < kc ? K - pk : kc;
      PanelPrefetch prefetch(w.data, wstride, pn, n1, rows, int4 ? pk / 2 : pk, int4 ? (next + 1) / 2 : next, calls);
      const int64_t steps = ceil_div(kk, kInt8ActChunk) * kInt8ActChunk / 4;
      for (int64_t t = 0; t < T; t += mr_max) {
        prefetch.step();
        const int64_t mr = T - t < mr_max ? T - t : mr_max;
        micro(mr, q.xq + t * q.Kp + k0, q.sx + t * q.groups + g0, q.corr + t * q.groups + g0, y + (t0 + t) * N + n, nn,
              k0 > 0, ng, steps);
      }
    }
  }
}

}  // namespace dsv3::matmul_detail
