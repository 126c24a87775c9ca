#include "model/weight_registry.h"

namespace dsv3 {

std::string layer_prefix(int64_t l) { return "model.layers." + std::to_string(l) + "."; }

namespace {

// add_block stamps the layer index on everything it adds.
void add_mlp(std::vector<WeightSpec>& out, const std::string& p, int64_t D, int64_t F, bool routed = false) {
  out.push_back({p + "gate_proj.weight", {F, D}, WeightRole::kLinear, -1, routed});
  out.push_back({p + "up_proj.weight", {F, D}, WeightRole::kLinear, -1, routed});
  out.push_back({p + "down_proj.weight", {D, F}, WeightRole::kLinear, -1, routed});
}

// One decoder block: MLA (section 2.1.1) + dense MLP or DeepSeekMoE (section 2.1.2).
void add_block(std::vector<WeightSpec>& out, const ModelConfig& c, int64_t l) {
  const std::string p = layer_prefix(l);
  const size_t first = out.size();
  const int64_t D = c.hidden_size, H = c.num_attention_heads;
  const int64_t Dn = c.qk_nope_head_dim, Dr = c.qk_rope_head_dim, Dv = c.v_head_dim;
  const int64_t Rkv = c.kv_lora_rank;
  out.push_back({p + "input_layernorm.weight", {D}, WeightRole::kNorm});
  if (c.q_lora_rank) {
    const int64_t Rq = *c.q_lora_rank;
    out.push_back({p + "self_attn.q_a_proj.weight", {Rq, D}, WeightRole::kLinear});
    out.push_back({p + "self_attn.q_a_layernorm.weight", {Rq}, WeightRole::kNorm});
    out.push_back({p + "self_attn.q_b_proj.weight", {H * (Dn + Dr), Rq}, WeightRole::kLinear});
  } else {
    out.push_back({p + "self_attn.q_proj.weight", {H * (Dn + Dr), D}, WeightRole::kLinear});
  }
  out.push_back({p + "self_attn.kv_a_proj_with_mqa.weight", {Rkv + Dr, D}, WeightRole::kLinear});
  out.push_back({p + "self_attn.kv_a_layernorm.weight", {Rkv}, WeightRole::kNorm});
  out.push_back({p + "self_attn.kv_b_proj.weight", {H * (Dn + Dv), Rkv}, WeightRole::kLinear});
  out.push_back({p + "self_attn.o_proj.weight", {D, H * Dv}, WeightRole::kLinear});
  out.push_back({p + "post_attention_layernorm.weight", {D}, WeightRole::kNorm});
  if (c.is_moe_layer(l)) {
    const int64_t E = c.n_routed_experts, F = c.moe_intermediate_size;
    out.push_back({p + "mlp.gate.weight", {E, D}, WeightRole::kRouter});
    if (c.topk_method == "noaux_tc")
      out.push_back({p + "mlp.gate.e_score_correction_bias", {E}, WeightRole::kBias});
    for (int64_t e = 0; e < E; ++e) add_mlp(out, p + "mlp.experts." + std::to_string(e) + ".", D, F, true);
    if (c.n_shared_experts > 0) add_mlp(out, p + "mlp.shared_experts.", D, F * c.n_shared_experts);
  } else {
    add_mlp(out, p + "mlp.", D, c.intermediate_size);
  }
  for (size_t i = first; i < out.size(); ++i) out[i].layer = l;
}

}  // namespace

std::vector<WeightSpec> weight_specs(const ModelConfig& c) {
  const int64_t D = c.hidden_size, V = c.vocab_size;
  std::vector<WeightSpec> out;
  out.push_back({"model.embed_tokens.weight", {V, D}, WeightRole::kEmbedding});
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) add_block(out, c, l);
  out.push_back({"model.norm.weight", {D}, WeightRole::kNorm});
  if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", {V, D}, WeightRole::kHead});
  // MTP modules (section 2.2), wired as in the published checkpoints.
  for (int64_t k = 1; k <= c.num_nextn_predict_layers; ++k) {
    const int64_t l = c.num_hidden_layers + k - 1;
    const std::string p = layer_prefix(l);
    out.push_back({p + "embed_tokens.weight", {V, D}, WeightRole::kEmbedding, l});
    out.push_back({p + "enorm.weight", {D}, WeightRole::kNorm, l});
    out.push_back({p + "hnorm.weight", {D}, WeightRole::kNorm, l});
    out.push_back({p + "eh_proj.weight", {D, 2 * D}, WeightRole::kProjection, l});
    add_block(out, c, l);
    out.push_back({p + "shared_head.norm.weight", {D}, WeightRole::kNorm, l});
    out.push_back({p + "shared_head.head.weight", {V, D}, WeightRole::kHead, l});
  }
  return out;
}

DecodeShare decode_share(const WeightSpec& s, const ModelConfig& c) {
  if (s.layer >= c.num_hidden_layers) return DecodeShare::kNone;
  if (s.role == WeightRole::kEmbedding) return c.tie_word_embeddings ? DecodeShare::kAll : DecodeShare::kNone;
  return s.routed_expert ? DecodeShare::kRoutedExpert : DecodeShare::kAll;
}

}  // namespace dsv3
