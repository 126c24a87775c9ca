// DeepSeekMoE routing rules (report section 2.1.2) on hand-built router logits.
#include <gtest/gtest.h>

#include <cmath>

#include "model/moe_gate.h"

namespace dsv3 {
namespace {

ModelConfig v3_gate(int64_t E, int64_t K, int64_t G, int64_t topk_group) {
  ModelConfig c;
  c.architecture = "DeepseekV3ForCausalLM";
  c.n_routed_experts = E;
  c.num_experts_per_tok = K;
  c.n_group = G;
  c.topk_group = topk_group;
  c.topk_method = "noaux_tc";
  c.scoring_func = "sigmoid";
  c.norm_topk_prob = true;
  c.routed_scaling_factor = 2.5;
  return c;
}

float logit(float p) { return std::log(p / (1 - p)); }  // inverse sigmoid

TEST(MoeGate, SigmoidWeightsAreNormalisedUnbiasedScoresTimesScaling) {
  ModelConfig c = v3_gate(4, 2, 1, 1);
  std::vector<float> bias{0, 0, 0, 0};
  std::vector<float> lg{logit(0.1f), logit(0.9f), logit(0.3f), logit(0.6f)};
  Routing r = route_from_logits(c, bias, lg.data(), 1);
  ASSERT_EQ(r.expert[0], 1);
  ASSERT_EQ(r.expert[1], 3);
  EXPECT_NEAR(r.weight[0], 0.9f / 1.5f * 2.5f, 1e-5);
  EXPECT_NEAR(r.weight[1], 0.6f / 1.5f * 2.5f, 1e-5);
}

TEST(MoeGate, BiasChangesSelectionButNotWeights) {
  ModelConfig c = v3_gate(4, 1, 1, 1);
  std::vector<float> bias{0.5f, 0, 0, 0};
  std::vector<float> lg{logit(0.2f), logit(0.6f), logit(0.1f), logit(0.1f)};
  Routing r = route_from_logits(c, bias, lg.data(), 1);
  EXPECT_EQ(r.expert[0], 0);  // 0.2 + 0.5 beats 0.6
  EXPECT_NEAR(r.weight[0], 2.5f, 1e-5);  // normalised over one expert, times scaling
}

TEST(MoeGate, GroupLimitedByTopTwoSum) {
  // 8 experts in 4 groups of 2; keep 2 groups. Group 0 holds the single best expert but
  // its top-2 sum is low; groups 2 and 3 win on their sums.
  ModelConfig c = v3_gate(8, 2, 4, 2);
  std::vector<float> bias(8, 0.0f);
  std::vector<float> p{0.95f, 0.01f, 0.2f, 0.2f, 0.6f, 0.6f, 0.5f, 0.55f};
  std::vector<float> lg;
  for (float v : p) lg.push_back(logit(v));
  Routing r = route_from_logits(c, bias, lg.data(), 1);
  std::vector<int32_t> got{r.expert[0], r.expert[1]};
  EXPECT_EQ(got, (std::vector<int32_t>{4, 5}));
}

TEST(MoeGate, SoftmaxGreedyV2ScalesWithoutNormalising) {
  ModelConfig c;
  c.architecture = "DeepseekV2ForCausalLM";
  c.n_routed_experts = 4;
  c.num_experts_per_tok = 2;
  c.topk_method = "greedy";
  c.scoring_func = "softmax";
  c.norm_topk_prob = false;
  c.routed_scaling_factor = 2.0;
  std::vector<float> lg{0.0f, 1.0f, 2.0f, 3.0f};
  Routing r = route_from_logits(c, {}, lg.data(), 1);
  double z = std::exp(0.0) + std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_EQ(r.expert[0], 3);
  EXPECT_EQ(r.expert[1], 2);
  EXPECT_NEAR(r.weight[0], std::exp(3.0) / z * 2.0, 1e-5);
  EXPECT_NEAR(r.weight[1], std::exp(2.0) / z * 2.0, 1e-5);
}

TEST(MoeGate, V2NormalisedSkipsScaling) {
  ModelConfig c;
  c.architecture = "DeepseekV2ForCausalLM";
  c.n_routed_experts = 4;
  c.num_experts_per_tok = 2;
  c.topk_method = "greedy";
  c.scoring_func = "softmax";
  c.norm_topk_prob = true;
  c.routed_scaling_factor = 16.0;
  std::vector<float> lg{0.0f, 1.0f, 2.0f, 3.0f};
  Routing r = route_from_logits(c, {}, lg.data(), 1);
  EXPECT_NEAR(r.weight[0] + r.weight[1], 1.0f, 1e-5);
}

TEST(MoeGate, GroupLimitedGreedyUsesGroupMax) {
  ModelConfig c;
  c.architecture = "DeepseekV2ForCausalLM";
  c.n_routed_experts = 4;
  c.num_experts_per_tok = 2;
  c.n_group = 2;
  c.topk_group = 1;
  c.topk_method = "group_limited_greedy";
  c.scoring_func = "softmax";
  c.routed_scaling_factor = 1.0;
  // group 0 = {0,1} has the max single score; group 1 = {2,3} has a higher sum.
  std::vector<float> lg{3.0f, 0.0f, 2.5f, 2.5f};
  Routing r = route_from_logits(c, {}, lg.data(), 1);
  EXPECT_EQ(r.expert[0], 0);
  EXPECT_EQ(r.expert[1], 1);
}

}  // namespace
}  // namespace dsv3
