// The one table of every tensor a DeepSeek-V3/V2 checkpoint holds, under its Hugging Face
// name, with its shape and role. Loading (shape checks), `dsv3 init` (random weights),
// quantisation and, later, training all walk this list (gemma.cpp's registry + visitor).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "format/model_config.h"

namespace dsv3 {

enum class WeightRole {
  kLinear,     // nn.Linear weight [out, in]; FP8/INT-quantisable
  kProjection, // MTP eh_proj [D, 2D]: a linear weight the release keeps in bf16
  kRouter,     // MoE gate weight [E, D]; kept at high precision (DeepSeek-V3 release: bf16)
  kEmbedding,  // [V, D]
  kHead,       // lm_head / shared_head.head [V, D]
  kNorm,       // RMSNorm weight [D]
  kBias,       // e_score_correction_bias [E], f32 in the release
};

struct WeightSpec {
  std::string name;
  std::vector<int64_t> shape;
  WeightRole role;
  int64_t layer = -1;          // decoder layer index (>= num_hidden_layers: an MTP module); -1 outside layers
  bool routed_expert = false;  // mlp.experts.{e}.*
  bool quantizable() const { return role == WeightRole::kLinear; }
};

// How much of a weight one decoded token reads (DeepSeek-V3's "activated parameters" rule):
// none for MTP modules and for the embedding table (a row lookup, unless tied, when it is
// also the lm_head); routed experts K of E (callers scale their sum by K/E); all otherwise.
enum class DecodeShare { kNone, kAll, kRoutedExpert };
DecodeShare decode_share(const WeightSpec& s, const ModelConfig& c);

// Prefix of decoder layer l ("model.layers.{l}."). MTP module k (1-based) lives at
// layer index num_hidden_layers + k - 1 (report section 2.2; HF layout).
std::string layer_prefix(int64_t l);

// Every tensor of the model, main layers then MTP modules, in a stable order.
std::vector<WeightSpec> weight_specs(const ModelConfig& c);

}  // namespace dsv3
