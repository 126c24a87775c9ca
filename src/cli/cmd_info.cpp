// dsv3 info --model DIR: architecture, parameter counts (total, active per token), dtypes,
// latent-cache bytes per token, as one JSON object on stdout.
#include <algorithm>
#include <iostream>
#include <map>
#include <memory>

#include "cli/commands.h"
#include "format/model_config.h"
#include "model/transformer.h"
#include "model/weight_registry.h"

namespace dsv3::cli {

namespace {

struct Counts {
  int64_t total = 0, active = 0, mtp = 0, embedding = 0;
};

// Active per token follows decode_share (DeepSeek-V3's "37B activated" convention): every
// matmul weight a token passes through, K of E routed experts, not the embedding lookup and
// not the MTP modules.
Counts count_params(const ModelConfig& c) {
  Counts n;
  int64_t routed = 0;
  for (const WeightSpec& s : weight_specs(c)) {
    int64_t numel = 1;
    for (int64_t d : s.shape) numel *= d;
    if (s.layer >= c.num_hidden_layers) {
      n.mtp += numel;
      continue;
    }
    n.total += numel;
    if (s.role == WeightRole::kEmbedding) n.embedding += numel;
    switch (decode_share(s, c)) {
      case DecodeShare::kNone: break;
      case DecodeShare::kAll: n.active += numel; break;
      case DecodeShare::kRoutedExpert: routed += numel; break;
    }
  }
  n.active += routed * c.num_experts_per_tok / std::max<int64_t>(c.n_routed_experts, 1);
  return n;
}

void run(const std::string& dir) {
  auto model = Model::load(dir, ResidencyPolicy::kMapped);  // one pass over the weights
  const ModelConfig& c = model->config();
  const Counts n = count_params(c);
  std::map<std::string, int64_t> dtype_params;
  int64_t weight_bytes = 0;
  nlohmann::json dtypes = nlohmann::json::object();
  const Checkpoint& ckpt = model->checkpoint();
  for (const auto& name : ckpt.names()) {
    const TensorView& t = ckpt.get(name);
    dtype_params[std::string(dtype_name(t.dtype))] += t.numel();
    weight_bytes += int64_t(t.nbytes);
  }
  for (const auto& [k, v] : dtype_params) dtypes[k] = v;
  const int64_t cache_row = c.kv_lora_rank + c.qk_rope_head_dim;
  nlohmann::json j = {
      {"architecture", c.architecture},
      {"model_type", c.model_type},
      {"num_hidden_layers", c.num_hidden_layers},
      {"dense_layers", [&] {
         int64_t k = 0;
         for (int64_t l = 0; l < c.num_hidden_layers; ++l) k += c.is_moe_layer(l) ? 0 : 1;
         return k;
       }()},
      {"hidden_size", c.hidden_size},
      {"vocab_size", c.vocab_size},
      {"num_attention_heads", c.num_attention_heads},
      {"q_lora_rank", c.q_lora_rank ? nlohmann::json(*c.q_lora_rank) : nlohmann::json(nullptr)},
      {"kv_lora_rank", c.kv_lora_rank},
      {"n_routed_experts", c.n_routed_experts},
      {"num_experts_per_tok", c.num_experts_per_tok},
      {"n_shared_experts", c.n_shared_experts},
      {"scoring_func", c.scoring_func},
      {"topk_method", c.topk_method},
      {"mtp_modules", c.num_nextn_predict_layers},
      {"params_total", n.total},
      {"params_active_per_token", n.active},
      {"params_embedding", n.embedding},
      {"params_mtp", n.mtp},
      {"params_by_dtype", dtypes},
      {"weights_bytes", weight_bytes},
      {"quantization", c.quantization_config ? nlohmann::json(c.quantization_config->quant_method) : nlohmann::json(nullptr)},
      {"context_length", c.max_position_embeddings},
      // Latent cache: (kv_lora_rank + qk_rope_head_dim) f32 values per token per layer.
      {"latent_cache_values_per_token", cache_row * c.num_hidden_layers},
      {"latent_cache_bytes_per_token", cache_row * c.num_hidden_layers * int64_t(sizeof(float))},
      // The same with --kv-cache fp8 (model/latent_cache.h row layout).
      {"latent_cache_bytes_per_token_fp8",
       LatentLayout{LatentFormat::kFp8, c.kv_lora_rank, c.qk_rope_head_dim}.row_bytes() * c.num_hidden_layers},
  };
  std::cout << j.dump(2) << "\n";
}

}  // namespace

void add_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Architecture, parameter counts, dtypes, cache size");
  auto dir = std::make_shared<std::string>();
  cmd->add_option("--model", *dir, "Hugging Face model folder")->required();
  cmd->callback([dir] { run(*dir); });
}

DSV3_COMMAND(40, add_info);

}  // namespace dsv3::cli
