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
// fp8, x_tok: FP8 operands as linear_dgrad and linear_wgrad below (false: the plain GEMMs).
template <class F>
void linear_backward(const F* dy, const F* x, const F* W, int64_t T, int64_t K, int64_t N, F* dx, F* dW,
                     bool fp8 = false, const F* x_tok = nullptr);

// FP8 GEMM operands of a linear layer whose weight is FP8 (DeepSeek-V3 report 3.3; the scheme
// and why it was chosen: train_precision.h). With the layer's fp8 flag on:
//   Fprop  y   = Q1x128(x) · Wᵀ          the layer quantises the input it saves in place
//                                        (quantize_tiles_e4m3) and runs linear_forward on it;
//   Dgrad  dx += Q1x128(dy) · W           linear_dgrad;
//   Wgrad  dW += Q128x1(dy)ᵀ · Q128x1(x)  linear_wgrad, x being that saved Q1x128(x).
// Q1x128 groups 128 channels of one token (fp8_quant.h quantize_tiles_e4m3), Q128x1 128 tokens
// of one channel (quantize_col_tiles_e4m3): each GEMM's operands are tiled along the dimension
// it sums over. The copies live in per-thread buffers (no allocation once grown). With fp8
// off these are the plain f32 GEMMs, bit for bit.
// dx[T, K] (+)= dy[T, N]·W[N, K]: adds when accumulate, else overwrites.
template <class F>
void linear_dgrad(const F* dy, const F* W, int64_t T, int64_t K, int64_t N, F* dx, bool accumulate, bool fp8);
// dW[N, K] += dy[T, N]ᵀ·x[T, K]. x_tok: Q128x1(x) when the caller already has it (an input
// shared by two layers, quantised once with fp8_token_tiles), else null.
template <class F>
void linear_wgrad(const F* dy, const F* x, int64_t T, int64_t K, int64_t N, F* dW, bool fp8, const F* x_tok = nullptr);
// buf = x[T, K] quantised in 128×1 tiles (Q128x1 above); returns buf.data().
template <class F>
const F* fp8_token_tiles(const F* x, int64_t T, int64_t K, std::vector<F>& buf);

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
