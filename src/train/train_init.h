// Initial weights of a model trained from scratch (`dsv3 train` with "model"), as Hugging Face
// transformers' DeepseekV3PreTrainedModel._init_weights: every matrix (linear layers, router,
// eh_proj, embeddings, heads) ~ N(0, initializer_range²), RMSNorm weights 1,
// e_score_correction_bias 0. Normals come from Box-Muller over Rng seeded per tensor row by
// (seed, tensor name, row), so the result is platform- and thread-independent.
#pragma once
#include <cstdint>

#include "train/train_model.h"

namespace dsv3 {

void init_train_params(ParamSet<float>& p, double initializer_range, uint64_t seed);

}  // namespace dsv3
