// `dsv3 quantize`: rewrites a Hugging Face checkpoint (bf16, or DeepSeek FP8) with its
// linear weights quantised block-wise to int8, int4 or fp8 (formats: kernels/quant.h),
// sharded like the input, with a `quantization_config` in config.json that the loader
// reads back without conversion. Lives in the eval layer beside the accuracy measurements
// (perplexity, KL) that say what each type costs.
//
// Policy (which tensors are quantised), explicit and configurable:
//   quantised by default  every WeightRole::kLinear matrix: attention projections
//                         (q_a/q_b/q, kv_a_proj_with_mqa, kv_b, o), dense MLPs, routed and
//                         shared experts, in the main layers and in MTP blocks;
//   kept by default       router (mlp.gate), norms, e_score_correction_bias, embeddings,
//                         lm_head / shared_head.head, MTP eh_proj;
//   --keep REGEX          also keep every tensor whose name matches (std::regex search);
//   --keep-attention      keep all self_attn.* projections (== --keep 'self_attn\.');
//   --quantize-head       also quantise lm_head and shared_head.head.
// Kept tensors keep their stored dtype, except FP8 ones under an int8/int4 target (one
// quantization_config cannot describe both), which become bf16.
#pragma once
#include <cstdint>
#include <regex>
#include <string>
#include <vector>

#include "format/model_config.h"
#include "model/weight_registry.h"

namespace dsv3 {

struct QuantizeOptions {
  std::string type;                // "int8", "int4" or "fp8"
  int64_t group = 128;             // int: weights per scale along K; fp8: square block side
  std::vector<std::string> keep;   // regexes of tensor names to keep
  bool keep_attention = false;
  bool quantize_head = false;
  bool force = false;              // replace an existing output folder
  int64_t shard_bytes = int64_t(1) << 30;  // sharded inputs: start a new shard past this
};

struct QuantizeReport {
  int64_t quantized = 0, kept = 0;        // tensors (scales not counted)
  int64_t bytes_in = 0, bytes_out = 0;    // safetensors payload bytes
  int shards = 0;
};

// Decides whether tensor `s` is quantised under `o` (the policy above). Throws on a bad regex.
class QuantizePolicy {
 public:
  explicit QuantizePolicy(const QuantizeOptions& o);
  bool quantize(const WeightSpec& s) const;

 private:
  std::vector<std::regex> keep_;
  bool quantize_head_;
};

// The quantization_config JSON written for a type ("fp8": DeepSeek's exact object).
nlohmann::json quantization_config_json(const std::string& type, int64_t group);

// Reads model_dir, writes out_dir atomically (into out_dir.tmp-<pid>, renamed at the end;
// removed on error). Copies tokenizer files and generation_config.json.
QuantizeReport quantize_checkpoint(const std::string& model_dir, const std::string& out_dir, const QuantizeOptions& o);

}  // namespace dsv3
