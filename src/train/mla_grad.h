// Multi-head Latent Attention for training (DeepSeek-V3 report section 2.1.1): the naive
// path of src/model/mla.cpp over one causal sequence at positions 0..T-1, saving what the
// backward needs, and the backward to every MLA weight and to the input.
//
//   q    = q_b_proj · RMSNorm_qa(q_a_proj · x)   (or q_proj · x when q_lora_rank is null)  [T, H, Dn+Dr]
//   kva  = kv_a_proj_with_mqa · x = [c ; kr];  c_kv = RMSNorm_kva(c);  k_pe = RoPE(kr)       [T, Rkv], [T, Dr]
//   kv   = kv_b_proj · c_kv = per head [k_nope (Dn) ; v (Dv)]                                 [T, H, Dn+Dv]
//   o_h  = softmax(scale · [q_nope ; RoPE(q_pe)]·[k_nope ; k_pe]ᵀ, causal) · v_h              [T, H·Dv]
//   out  = o_proj · o                                                                          [T, D]
// The two latent norms use eps 1e-6 whatever rms_norm_eps says (as the inference code).
#pragma once
#include <cstdint>
#include <vector>

#include "format/model_config.h"
#include "train/grad_ops.h"

namespace dsv3 {

// The MLA tensors under their Hugging Face names (`self_attn.<name>.weight`). P is const F*
// for parameters and F* for gradients. q_a_proj/q_a_layernorm/q_b_proj are used when
// q_lora_rank is set, q_proj otherwise (the unused ones stay null).
template <class P>
struct MlaTensors {
  P q_a_proj{}, q_a_layernorm{}, q_b_proj{}, q_proj{};
  P kv_a_proj_with_mqa{}, kv_a_layernorm{}, kv_b_proj{}, o_proj{};
  // Parameters only (ignored in MlaGrads): FP8 GEMM operands for the six projections
  // (precision fp8; the scheme: grad_ops.h linear_dgrad/linear_wgrad). Their inputs x, qa_n,
  // c_kv and o are quantised in 1×128 tiles and saved so; the attention core (scores,
  // softmax, P·V), RoPE and the norms stay f32. Off: the plain path, bit for bit.
  bool fp8 = false;
};
template <class F> using MlaParams = MlaTensors<const F*>;
template <class F> using MlaGrads = MlaTensors<F*>;

// Activations saved by mla_train_forward (T tokens).
template <class F>
struct MlaSaved {
  int64_t T = 0;
  // fp8: x, qa_n, c_kv and o hold the 1×128-tile quantised values the projections read.
  std::vector<F> x;                 // [T, D] input
  std::vector<F> qa, qa_rstd, qa_n; // q_lora_rank set: [T, Rq] pre-norm, [T], normed
  std::vector<F> q;                 // [T, H, Dn+Dr], rope applied to q_pe
  std::vector<F> kv_c, kv_rstd;     // [T, Rkv] pre-norm latent, [T]
  std::vector<F> c_kv;              // [T, Rkv] normed latent
  std::vector<F> k_pe;              // [T, Dr] after RoPE
  std::vector<F> kv;                // [T, H, Dn+Dv] expanded keys (nope) and values
  std::vector<F> probs;             // [H, T, T] softmax probabilities (zero above the diagonal)
  std::vector<F> o;                 // [T, H·Dv] attention output before o_proj
};

// out [T, D] = MLA(x [T, D]) (overwrites). rope covers positions 0..T-1.
template <class F>
void mla_train_forward(const MlaParams<F>& p, const ModelConfig& c, const RopeTable<F>& rope, const F* x,
                       int64_t T, F* out, MlaSaved<F>& s);

// Adds ∂loss/∂(every MLA weight) into g (null entries are skipped) and ∂loss/∂x into dx
// (may be null), given d_out [T, D].
template <class F>
void mla_train_backward(const MlaParams<F>& p, const ModelConfig& c, const RopeTable<F>& rope, const F* d_out,
                        const MlaSaved<F>& s, const MlaGrads<F>& g, F* dx);

}  // namespace dsv3
