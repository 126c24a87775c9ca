// Typed, validated views of a checkpoint's tensors (memory-mapped, stored dtype kept).
#pragma once
#include <deque>
#include <memory>
#include <vector>

#include "format/model_config.h"
#include "format/safetensors.h"
#include "kernels/matmul.h"

namespace dsv3 {

struct MlpWeights {  // SwiGLU: down(silu(gate(x)) * up(x))
  WeightMatrix gate, up, down;
};

struct AttentionWeights {  // MLA, report section 2.1.1
  WeightMatrix q_a, q_b;            // q_lora_rank set: W_DQ [Rq, D], W_UQ [H(Dn+Dr), Rq]
  std::vector<float> q_a_norm;      // [Rq]
  WeightMatrix q;                   // q_lora_rank null: W_Q [H(Dn+Dr), D]
  WeightMatrix kv_a;                // [Rkv + Dr, D]: latent c_kv then shared k_rope
  std::vector<float> kv_a_norm;     // [Rkv]
  WeightMatrix kv_b;                // [H(Dn+Dv), Rkv]: per head W_UK rows then W_UV rows
  WeightMatrix o;                   // [D, H·Dv]
};

struct MoeWeights {  // DeepSeekMoE, report section 2.1.2
  WeightMatrix gate;                 // router [E, D]
  std::vector<float> bias;           // e_score_correction_bias [E] (noaux_tc), else empty
  std::vector<MlpWeights> experts;   // E routed experts, width F
  bool has_shared = false;
  MlpWeights shared;                 // n_shared_experts fused, width F·n_shared
};

struct LayerWeights {
  std::vector<float> input_norm, post_attention_norm;
  AttentionWeights attn;
  bool is_moe = false;
  MlpWeights mlp;  // dense layers
  MoeWeights moe;  // MoE layers
};

struct MtpWeights {  // report section 2.2; HF layer num_hidden_layers + k - 1
  WeightMatrix embed;  // the layer's embed_tokens, else the main embedding
  std::vector<float> enorm, hnorm, head_norm;
  WeightMatrix eh_proj;  // [D, 2D] over concat(enorm(emb), hnorm(h))
  LayerWeights block;
  WeightMatrix head;   // shared_head.head, else lm_head
};

struct ModelWeights {
  WeightMatrix embed;  // [V, D]
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;
  WeightMatrix lm_head;  // [V, D]
  std::vector<MtpWeights> mtp;
  // f32 copies of FP8 block scales stored in other dtypes; deque keeps pointers stable.
  std::deque<std::vector<float>> owned_scales;
};

// The checkpoint tensor `name` as a [rows, cols] matmul weight in its stored dtype: BF16,
// F16, F32; F8_E4M3 with DeepSeek's `<name>_scale_inv` blocks (quantization_config's
// weight_block_size, default 128×128); I8, or U8 read as packed I4 under an int4 config,
// with `<name>_scale_inv` f32 [rows, ceil(cols/group_size)] (kernels/quant.h). Checks the
// stored shape, dtype and scale shape; scales not usable in place are copied to
// `owned_scales`. Errors name the tensor and the folder.
WeightMatrix weight_view(const Checkpoint& ckpt, const ModelConfig& cfg, const std::string& name, int64_t rows,
                         int64_t cols, std::deque<std::vector<float>>& owned_scales);

// Validates every tensor of weight_specs(cfg) (presence, shape, supported dtype, FP8 scale
// shape) and builds the typed views. Errors name the tensor and the checkpoint folder.
std::unique_ptr<ModelWeights> load_model_weights(const Checkpoint& ckpt, const ModelConfig& cfg);

}  // namespace dsv3
