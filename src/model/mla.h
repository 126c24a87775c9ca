// Multi-head Latent Attention (DeepSeek-V3 report section 2.1.1, DeepSeek-V2 report 2.1).
//
//   q      = W_UQ · RMSNorm(W_DQ · x)          (or W_Q · x when q_lora_rank is null)   [H, Dn+Dr]
//   [c;kr] = W_DKV · x;  c_kv = RMSNorm(c);  k_pe = RoPE(kr)                          [Rkv], [Dr]
//   naive:    k_h = [W_UK,h · c_kv ; k_pe],  v_h = W_UV,h · c_kv,  o_h = softmax(q_h·k_h·scale) v_h
//   absorbed: scores = (W_UK,hᵀ q_nope,h)·c_kv + q_pe·k_pe; o_h = W_UV,h (Σ p · c_kv)
// Only c_kv and k_pe are cached. Both paths compute the same function (tested).
#pragma once
#include <cstdint>
#include <vector>

#include "format/model_config.h"
#include "model/latent_cache.h"
#include "model/model_weights.h"
#include "model/rope.h"

namespace dsv3 {

enum class MlaPath { kAuto, kNaive, kAbsorbed };  // auto: naive for T > 1, absorbed for decode

// x: [T, D], already input-normalised; tokens sit at positions pos0 .. pos0+T-1. Writes their
// latent rows into `cache` (rows pos0..pos0+T-1), attends causally over rows 0..pos0+T-1
// and writes the o_proj output to out [T, D] (overwrites).
void mla_forward(const AttentionWeights& w, const ModelConfig& c, const Rope& rope, const float* x,
                 int64_t T, int64_t pos0, const LatentRows& cache, float* out, MlaPath path = MlaPath::kAuto);

// One sequence's rows in a batched call.
struct MlaSlice {
  int64_t row0 = 0, len = 0;  // rows [row0, row0 + len) of x and out
  int64_t pos0 = 0;           // position of row row0 in its sequence
  LatentRows cache;           // this layer's cache rows of the sequence
};

// Many sequences in one call (the serving engine's step). Rows [0, n_prefill) belong to
// prefill slices (tiled matmuls, naive attention); the rest to decode slices (row matmuls,
// absorbed attention over all of them at once). A slice must not straddle n_prefill.
// Every row is computed exactly as it would be in a batch of its own slice only.
void mla_forward_batch(const AttentionWeights& w, const ModelConfig& c, const Rope& rope, const float* x,
                       int64_t T, int64_t n_prefill, const std::vector<MlaSlice>& slices, float* out);

}  // namespace dsv3
