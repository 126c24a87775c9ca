// DeepSeekMoE routing (report section 2.1.2; V2 report 2.1.2 for softmax routing).
//   s = sigmoid(W_gate·x) (scoring_func sigmoid) or softmax(W_gate·x) (softmax)
//   noaux_tc: choose with s + e_score_correction_bias; keep the topk_group groups whose top-2
//             biased scores sum highest, then top-K inside them.
//   group_limited_greedy: group score = max of s in the group.   greedy: plain top-K of s.
//   weights = unbiased s of the chosen experts; V3: normalised when norm_topk_prob, then
//   × routed_scaling_factor. V2 (transformers' DeepseekV2MoEGate): normalised when
//   norm_topk_prob and K > 1, otherwise × routed_scaling_factor.
#pragma once
#include <cstdint>
#include <vector>

#include "format/model_config.h"
#include "model/model_weights.h"

namespace dsv3 {

struct Routing {
  int64_t T = 0, K = 0;
  std::vector<int32_t> expert;  // [T, K]
  std::vector<float> weight;    // [T, K]
  std::vector<float> scores;    // [T, E] unbiased s (kept for router metrics)
};

// Routes from router logits [T, E] (computed by the caller).
Routing route_from_logits(const ModelConfig& c, const std::vector<float>& bias, const float* logits, int64_t T);
// Computes router logits from x [T, D] in f32 and routes. n_tiled: see matmul_split.
Routing moe_route(const MoeWeights& w, const ModelConfig& c, const float* x, int64_t T, int64_t n_tiled = -1);

}  // namespace dsv3
