// Multi-head Latent Attention (DeepSeek-V3 report section 2.1.1, DeepSeek-V2 report 2.1).
//
//   q      = W_UQ · RMSNorm(W_DQ · x)          (or W_Q · x when q_lora_rank is null)   [H, Dn+Dr]
//   [c;kr] = W_DKV · x;  c_kv = RMSNorm(c);  k_pe = RoPE(kr)                          [Rkv], [Dr]
//   naive:    k_h = [W_UK,h · c_kv ; k_pe],  v_h = W_UV,h · c_kv,  o_h = softmax(q_h·k_h·scale) v_h
//   absorbed: scores = (W_UK,hᵀ q_nope,h)·c_kv + q_pe·k_pe; o_h = W_UV,h (Σ p · c_kv)
// Only c_kv and k_pe are cached. Both paths compute the same function (tested).
#pragma once
#include <cstdint>

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

}  // namespace dsv3
