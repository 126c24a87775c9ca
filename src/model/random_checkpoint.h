// Writes a random-weight checkpoint in Hugging Face layout (config.json, sharded
// model.safetensors with index) for tests and benchmarks (`dsv3 init`).
#pragma once
#include <cstdint>
#include <string>

#include "format/model_config.h"

namespace dsv3 {

struct RandomInitOptions {
  uint64_t seed = 0;
  int64_t shard_bytes = int64_t(1) << 30;  // start a new shard past this size
};

// Linear weights ~ U(±sqrt(3/in)) (unit-variance outputs), embeddings ~ U(±sqrt(3)),
// norms 1 ± 0.1, router bias ±0.05. Linear weights become FP8 e4m3 with 128×128
// `weight_scale_inv` blocks when cfg.quantization_config says fp8; everything else bf16
// (e_score_correction_bias f32), as in DeepSeek-V3's release.
void write_random_checkpoint(const std::string& dir, const ModelConfig& cfg, const RandomInitOptions& opt);

}  // namespace dsv3
