#include "model/presets.h"

#include "core/error.h"

namespace dsv3 {

std::vector<std::string> preset_names() { return {"tiny", "bench"}; }

namespace {

ModelConfig v3_defaults() {
  ModelConfig c;
  c.architecture = "DeepseekV3ForCausalLM";
  c.model_type = "deepseek_v3";
  c.topk_method = "noaux_tc";
  c.scoring_func = "sigmoid";
  c.norm_topk_prob = true;
  c.routed_scaling_factor = 2.5;
  c.moe_layer_freq = 1;
  c.rope_theta = 10000.0;
  c.rms_norm_eps = 1e-6;
  c.hidden_act = "silu";
  c.torch_dtype = "bfloat16";
  c.rope_scaling.type = "yarn";
  c.rope_scaling.factor = 40.0;
  c.rope_scaling.beta_fast = 32.0;
  c.rope_scaling.beta_slow = 1.0;
  c.rope_scaling.mscale = 1.0;
  c.rope_scaling.mscale_all_dim = 1.0;
  return c;
}

}  // namespace

ModelConfig preset_config(const std::string& name, int64_t mtp_layers, bool fp8) {
  DSV3_CHECK(mtp_layers >= 0 && mtp_layers <= 8, "--mtp must be between 0 and 8, got ", mtp_layers);
  ModelConfig c = v3_defaults();
  if (name == "tiny") {
    c.vocab_size = 512;
    c.hidden_size = 64;
    c.intermediate_size = 160;
    c.moe_intermediate_size = 32;
    c.num_hidden_layers = 3;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 4;
    c.q_lora_rank = 48;
    c.kv_lora_rank = 32;
    c.qk_rope_head_dim = 16;
    c.qk_nope_head_dim = 16;
    c.v_head_dim = 16;
    c.n_routed_experts = 8;
    c.n_shared_experts = 1;
    c.num_experts_per_tok = 2;
    c.n_group = 4;
    c.topk_group = 2;
    c.first_k_dense_replace = 1;
    c.max_position_embeddings = 4096;
    c.rope_scaling.original_max_position_embeddings = 128;
  } else if (name == "bench") {
    c.vocab_size = 129280;
    c.hidden_size = 2048;
    c.intermediate_size = 4608;
    c.moe_intermediate_size = 512;
    c.num_hidden_layers = 9;
    c.num_attention_heads = 16;
    c.num_key_value_heads = 16;
    c.q_lora_rank = 1536;
    c.kv_lora_rank = 512;
    c.qk_rope_head_dim = 64;
    c.qk_nope_head_dim = 128;
    c.v_head_dim = 128;
    c.n_routed_experts = 64;
    c.n_shared_experts = 1;
    c.num_experts_per_tok = 8;
    c.n_group = 8;
    c.topk_group = 4;
    c.first_k_dense_replace = 1;
    c.max_position_embeddings = 163840;
    c.rope_scaling.original_max_position_embeddings = 4096;
  } else {
    std::string known;
    for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
    fail("unknown preset '", name, "'; known presets: ", known);
  }
  c.num_nextn_predict_layers = mtp_layers;
  c.bos_token_id = 0;
  c.eos_token_id = 1;
  if (fp8) {
    QuantizationConfig q;
    q.quant_method = "fp8";
    q.fmt = "e4m3";
    q.activation_scheme = "dynamic";
    c.quantization_config = q;
  }
  return c;
}

}  // namespace dsv3
