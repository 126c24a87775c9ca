// Training building blocks with their backward passes (forward/backward side by side, as in
// llm.c): linear (nn.Linear through gemm), RMSNorm, embedding, RoPE, softmax cross-entropy.
//
// Templated over F ∈ {float, double}: training runs float; gradient checks against central
// finite differences run double. Weights are raw pointers in Hugging Face layout W[out, in],
// row-major, y = x·Wᵀ. Activations are token rows [T, n].
//
// Every *_backward ADDS into its outputs (dX and parameter gradients): callers zero them.
// Forward semantics are those of the inference code (src/model/ops.h, src/model/rope.h).
#pragma once
#include <cstdint>
#include <vector>

#include "model/rope.h"

namespace dsv3 {

// y[T, N] = x[T, K] · W[N, K]ᵀ (overwrites y).
template <class F>
void linear_forward(const F* x, const F* W, int64_t T, int64_t K, int64_t N, F* y);
// dx[T, K] += dy·W;  dW[N, K] += dyᵀ·x. Either output may be null (not needed).
template <class F>
void linear_backward(const F* dy, const F* x, const F* W, int64_t T, int64_t K, int64_t N, F* dx, F* dW);

// RMSNorm over T rows of n values: y = x · rstd · w, rstd = 1/sqrt(mean(x²) + eps) (sum in
// double, as src/model/ops.cpp). Saves rstd [T] (resized) for the backward. y may not alias x.
template <class F>
void rmsnorm_forward(const F* x, const F* w, F eps, int64_t T, int64_t n, F* y, std::vector<F>& rstd);
// dx += ∂/∂x, dw += Σ_t dy·x·rstd. dx or dw may be null.
template <class F>
void rmsnorm_backward(const F* dy, const F* x, const F* w, const F* rstd, int64_t T, int64_t n, F* dx, F* dw);

// out[t] = table[ids[t]] (table [V, D]); ids are bounds-checked.
template <class F>
void embedding_forward(const F* table, int64_t V, int64_t D, const int32_t* ids, int64_t T, F* out);
// d_table[ids[t]] += d_out[t] (scatter-add rows).
template <class F>
void embedding_backward(const F* d_out, const int32_t* ids, int64_t T, int64_t D, F* d_table);

// The rotation of src/model/rope.h as explicit cos/sin tables for positions 0..P-1, taken from
// Rope::apply itself (so YaRN frequencies and the cos/sin mscale factor are exactly
// inference's). Interleaved pairs: (x[2i], x[2i+1]) rotate by pos·inv_freq[i].
template <class F>
struct RopeTable {
  RopeTable(const Rope& rope, int64_t positions);
  int64_t dim = 0, positions = 0;
  F softmax_scale = 0;     // Rope::softmax_scale(): 1/sqrt(Dn+Dr) · YaRN mscale²
  std::vector<F> cos, sin;  // [P, Dr/2], including the cos/sin mscale factor
  // x[0..Dr) rotated in place for position pos.
  void forward(F* x, int64_t pos) const;
  // The inverse (transposed) rotation of a gradient, in place: d_in = Rᵀ d_out.
  void backward(F* dx, int64_t pos) const;
};

// Softmax cross-entropy over T rows of V logits. targets[t] < 0 marks a position that does
// not count. Returns the mean loss over counting positions (0 when none count) and OVERWRITES
// dlogits [T, V] with grad_scale · ∂loss/∂logits (zero rows where the target does not count).
// dlogits may be null (loss only). Sums run in double.
template <class F>
double cross_entropy(const F* logits, const int32_t* targets, int64_t T, int64_t V, F grad_scale, F* dlogits);

}  // namespace dsv3
