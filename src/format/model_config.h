// Typed view of a Hugging Face config.json for DeepseekV3ForCausalLM / DeepseekV2ForCausalLM.
// Field names are exactly the Hugging Face ones (STYLE.md habit 2); defaults are those of
// transformers' DeepseekV3Config / DeepseekV2Config where a field may be absent.
#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace dsv3 {

struct RopeScaling {
  std::string type;  // "yarn" (the only kind DeepSeek checkpoints use); empty when none
  double factor = 1.0;
  int64_t original_max_position_embeddings = 4096;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double mscale = 1.0;
  double mscale_all_dim = 0.0;
};

struct QuantizationConfig {
  std::string quant_method;  // "fp8" for DeepSeek's released weights; also "int8"/"int4" (dsv3 quantize)
  std::string fmt;           // "e4m3"
  std::string activation_scheme;  // "dynamic"
  int64_t block_rows = 128;  // weight_block_size[0]: block height (output dim)
  int64_t block_cols = 128;  // weight_block_size[1]: block width (input dim)
  int64_t group_size = 0;    // int8/int4 group size along the input dim (dsv3 quantize)
};

struct ModelConfig {
  std::string architecture;  // architectures[0]
  std::string model_type;    // "deepseek_v3" / "deepseek_v2"
  bool is_v2() const { return architecture == "DeepseekV2ForCausalLM"; }

  int64_t vocab_size = 0;
  int64_t hidden_size = 0;             // D
  int64_t intermediate_size = 0;       // dense MLP width
  int64_t moe_intermediate_size = 0;   // F, routed/shared expert width
  int64_t num_hidden_layers = 0;       // L
  int64_t num_attention_heads = 0;     // H
  int64_t num_key_value_heads = 0;     // informational (MLA has no KV heads)
  std::optional<int64_t> q_lora_rank;  // Rq; null => single W_Q projection (V2-Lite)
  int64_t kv_lora_rank = 0;            // Rkv
  int64_t qk_rope_head_dim = 0;        // Dr
  int64_t qk_nope_head_dim = 0;        // Dn
  int64_t v_head_dim = 0;              // Dv
  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }

  // MoE (DeepSeek-V3 report section 2.1.2)
  int64_t n_routed_experts = 0;  // E; 0 => every layer dense
  int64_t n_shared_experts = 0;
  int64_t num_experts_per_tok = 0;  // K
  int64_t n_group = 1;              // G
  int64_t topk_group = 1;
  std::string topk_method;    // "noaux_tc" (V3), "greedy", "group_limited_greedy" (V2)
  std::string scoring_func;   // "sigmoid" (V3) or "softmax" (V2)
  bool norm_topk_prob = false;
  double routed_scaling_factor = 1.0;
  int64_t first_k_dense_replace = 0;
  int64_t moe_layer_freq = 1;
  // Layer l uses DeepSeekMoE iff E > 0, l >= first_k_dense_replace and l % moe_layer_freq == 0.
  bool is_moe_layer(int64_t l) const {
    return n_routed_experts > 0 && l >= first_k_dense_replace && l % moe_layer_freq == 0;
  }

  int64_t num_nextn_predict_layers = 0;  // MTP depth (report section 2.2)
  int64_t max_position_embeddings = 0;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;  // type empty when config has null/absent rope_scaling
  double rms_norm_eps = 1e-6;
  std::string hidden_act = "silu";
  bool tie_word_embeddings = false;
  bool attention_bias = false;
  std::optional<int64_t> bos_token_id, eos_token_id;
  std::optional<QuantizationConfig> quantization_config;
  std::string torch_dtype;

  nlohmann::json raw;  // the parsed config.json, written back unchanged by tools that copy it
};

// Parses and validates config.json text; `source` names the file in error messages.
// Throws Error naming the field for: not JSON, unknown architecture, a missing required
// field, wrong JSON types, and inconsistent values (e.g. topk_group > n_group,
// n_routed_experts % n_group != 0, num_experts_per_tok > n_routed_experts, unknown
// scoring_func/topk_method, non-positive sizes, unknown rope_scaling type).
ModelConfig parse_model_config(const std::string& json_text, const std::string& source);
// Reads DIR/config.json.
ModelConfig load_model_config(const std::string& model_dir);
// Serialises the typed fields back into Hugging Face config.json form (used by `dsv3 init`).
nlohmann::json model_config_to_json(const ModelConfig& c);

}  // namespace dsv3
