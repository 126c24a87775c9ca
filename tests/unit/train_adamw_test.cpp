// The optimizer side of training (issue 4 item 4): AdamW against a hand-computed step and
// against torch.optim.AdamW, global-norm clipping, the learning-rate schedule, bit-identical
// state save/restore, the weight-decay mask, and aux-loss-free bias balancing (report section
// 2.1.2) evening out expert load on a skewed synthetic routing problem compared with γ = 0.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <random>
#include <vector>

#include "model/moe_gate.h"
#include "test_util.h"
#include "train/adamw.h"
#include "train/bias_update.h"
#include "train/lr_schedule.h"

namespace dsv3 {
namespace {

TEST(TrainAdamW, OneStepByHand) {
  // p = 1, g = 0.5, lr = 0.1, β1 = 0.9, β2 = 0.999, wd = 0.1. Step 1: p ← 0.99; m = 0.05,
  // v = 0.00025; m̂ = 0.5, v̂ = 0.25; p ← 0.99 − 0.1 · 0.5 / (0.5 + 1e-8).
  AdamW opt({0.9, 0.999, 1e-8, 0.1}, {{"w", 0, 1, true}, {"n", 1, 1, false}});
  std::vector<float> p = {1.0f, 1.0f}, g = {0.5f, 0.5f};
  opt.step(p.data(), g.data(), 0.1);
  EXPECT_NEAR(p[0], 0.99 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-7);
  EXPECT_NEAR(p[1], 1.0 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-7);  // no decay
  EXPECT_EQ(opt.steps(), 1);
  // Step 2 with g = −0.5: m = 0.9·0.05 − 0.05 = −0.005, v = 0.999·0.00025 + 0.00025 = 0.00049975;
  // m̂ = −0.005/0.19, v̂ = 0.00049975/0.001999.
  const double p0 = p[0], p1 = p[1];
  g = {-0.5f, -0.5f};
  opt.step(p.data(), g.data(), 0.1);
  const double upd = 0.1 * (-0.005 / 0.19) / (std::sqrt(0.00049975 / 0.001999) + 1e-8);
  EXPECT_NEAR(p[0], p0 * 0.99 - upd, 1e-7);
  EXPECT_NEAR(p[1], p1 - upd, 1e-7);
}

// Produced by /usr/bin/python3 with Debian's torch 1.13 (float32):
//   w = [0.1·(i+1) − 0.3 for i in 0..5] as [2, 3] (weight_decay 0.1); n = [1 + 0.05·i for i in 0..2] (no decay)
//   AdamW(lr, betas=(0.9, 0.95), eps=1e-8, foreach=False); for step s = 1..3:
//     w.grad[i] = sin(0.7·i + 1.3·s); n.grad[i] = 0.5·cos(0.5·i + 0.9·s)
//     norm = clip_grad_norm_([w, n], 1.0); lr = [0.005, 0.01, 0.0075][s−1]; opt.step()
struct TorchStep {
  float norm;
  float w[6], n[3];
};
const TorchStep kTorch[3] = {
    {1.94809997f,
     {-0.204899997f, -0.104950003f, -0.00499999989f, 0.104950003f, 0.204899997f, 0.304850012f},
     {0.995000005f, 1.04499996f, 1.10500002f}},
    {1.68505251f,
     {-0.214363158f, -0.110010952f, -0.00127636408f, 0.11345917f, 0.214697331f, 0.312735349f},
     {0.991696954f, 1.05075836f, 1.11394596f}},
    {1.95858872f,
     {-0.21650964f, -0.108460627f, 0.00344770728f, 0.119387411f, 0.218564674f, 0.312864482f},
     {0.994368851f, 1.05652452f, 1.12095797f}},
};

void torch_grads(int s, float* g) {
  for (int i = 0; i < 6; ++i) g[i] = float(std::sin(0.7 * i + 1.3 * s));
  for (int i = 0; i < 3; ++i) g[6 + i] = float(0.5 * std::cos(0.5 * i + 0.9 * s));
}

std::vector<ParamSpan> torch_spans() { return {{"w", 0, 6, true}, {"n", 6, 3, false}}; }

TEST(TrainAdamW, MatchesTorchWithClipping) {
  AdamW opt({0.9, 0.95, 1e-8, 0.1}, torch_spans());
  std::vector<float> p(9), g(9);
  for (int i = 0; i < 6; ++i) p[size_t(i)] = float(0.1 * (i + 1) - 0.3);
  for (int i = 0; i < 3; ++i) p[size_t(6 + i)] = float(1.0 + 0.05 * i);
  const double lrs[3] = {0.005, 0.01, 0.0075};
  float max_ulp = 0;
  for (int s = 1; s <= 3; ++s) {
    torch_grads(s, g.data());
    const double norm = clip_grad_norm(g.data(), 9, 1.0);
    EXPECT_NEAR(norm, kTorch[s - 1].norm, 1e-6);
    opt.step(p.data(), g.data(), lrs[s - 1]);
    // Same f32 operations in the same order as torch: agreement to an ulp or two.
    for (int i = 0; i < 6; ++i) EXPECT_NEAR(p[size_t(i)], kTorch[s - 1].w[i], 2e-7) << "step " << s << " w " << i;
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(p[size_t(6 + i)], kTorch[s - 1].n[i], 2e-7) << "step " << s << " n " << i;
    for (int i = 0; i < 9; ++i) {
      const float want = i < 6 ? kTorch[s - 1].w[i] : kTorch[s - 1].n[i - 6];
      const float ulp = std::nextafter(std::abs(want), 1e9f) - std::abs(want);
      max_ulp = std::max(max_ulp, std::abs(p[size_t(i)] - want) / ulp);
    }
  }
  std::printf("  max difference from torch: %.0f ulp\n", max_ulp);
  EXPECT_LE(max_ulp, 4.0f);
}

TEST(TrainAdamW, ClipGradNorm) {
  std::vector<float> g = {3.0f, 4.0f};
  EXPECT_DOUBLE_EQ(clip_grad_norm(g.data(), 2, 10.0), 5.0);  // below max: unchanged
  EXPECT_EQ(g[0], 3.0f);
  EXPECT_DOUBLE_EQ(clip_grad_norm(g.data(), 2, 1.0), 5.0);
  EXPECT_NEAR(std::hypot(g[0], g[1]), 1.0, 1e-6);
  EXPECT_NEAR(g[0] / g[1], 0.75, 1e-6);
  g = {3.0f, 4.0f};
  EXPECT_DOUBLE_EQ(clip_grad_norm(g.data(), 2, 0.0), 5.0);  // max_norm 0: measure only
  EXPECT_EQ(g[1], 4.0f);
}

TEST(TrainAdamW, StateRoundTripIsBitIdentical) {
  std::vector<float> p(9, 0.5f), g(9);
  AdamW a({0.9, 0.95, 1e-8, 0.1}, torch_spans());
  for (int s = 1; s <= 2; ++s) {
    torch_grads(s, g.data());
    a.step(p.data(), g.data(), 0.01);
  }
  const auto saved = a.state();
  ASSERT_EQ(saved.size(), 5u);
  EXPECT_EQ(saved[0].name, "adamw.step");
  EXPECT_EQ(saved[0].data[0], 2.0f);
  EXPECT_EQ(saved[1].name, "w.exp_avg");
  EXPECT_EQ(saved[2].name, "w.exp_avg_sq");

  AdamW b({0.9, 0.95, 1e-8, 0.1}, torch_spans());
  b.load_state(saved);
  EXPECT_EQ(b.steps(), 2);
  std::vector<float> pa = p, pb = p;
  for (int s = 3; s <= 6; ++s) {
    torch_grads(s, g.data());
    a.step(pa.data(), g.data(), 0.01);
    b.step(pb.data(), g.data(), 0.01);
  }
  EXPECT_EQ(std::memcmp(pa.data(), pb.data(), pa.size() * sizeof(float)), 0);
  const auto sa = a.state(), sb = b.state();
  for (size_t i = 0; i < sa.size(); ++i) EXPECT_EQ(sa[i].data, sb[i].data) << sa[i].name;

  // Errors name the buffer.
  auto bad = saved;
  bad[2].data.pop_back();
  test::expect_error([&] { b.load_state(bad); }, {"w.exp_avg_sq", "expected 6"});
  bad = saved;
  bad.erase(bad.begin() + 3);
  test::expect_error([&] { b.load_state(bad); }, {"n.exp_avg", "missing"});
  bad = saved;
  bad.push_back({"extra", {1.0f}});
  test::expect_error([&] { b.load_state(bad); }, {"'extra'", "unexpected"});
  EXPECT_EQ(b.steps(), 6);  // failed loads changed nothing
}

TEST(TrainAdamW, RejectsOverlappingOrDuplicateSpans) {
  test::expect_error([] { AdamW({}, {{"a", 0, 4, true}, {"b", 3, 2, true}}); }, {"'a'", "'b'", "overlap"});
  test::expect_error([] { AdamW({}, {{"a", 0, 4, true}, {"a", 4, 2, true}}); }, {"'a'", "twice"});
}

TEST(TrainAdamW, DefaultWeightDecayMask) {
  EXPECT_TRUE(default_weight_decay("model.layers.0.self_attn.q_a_proj.weight"));
  EXPECT_TRUE(default_weight_decay("model.embed_tokens.weight"));
  EXPECT_TRUE(default_weight_decay("lm_head.weight"));
  EXPECT_TRUE(default_weight_decay("model.layers.1.mlp.gate.weight"));
  EXPECT_FALSE(default_weight_decay("model.layers.0.input_layernorm.weight"));
  EXPECT_FALSE(default_weight_decay("model.layers.0.self_attn.kv_a_layernorm.weight"));
  EXPECT_FALSE(default_weight_decay("model.norm.weight"));
  EXPECT_FALSE(default_weight_decay("model.layers.3.enorm.weight"));
  EXPECT_FALSE(default_weight_decay("model.layers.3.shared_head.norm.weight"));
  EXPECT_FALSE(default_weight_decay("model.layers.1.mlp.gate.e_score_correction_bias"));
}

TEST(TrainLrSchedule, WarmupThenCosine) {
  const LrSchedule s{1e-3, 10, 110, 0.1};
  EXPECT_DOUBLE_EQ(s.at(0), 1e-4);
  EXPECT_DOUBLE_EQ(s.at(4), 5e-4);
  EXPECT_DOUBLE_EQ(s.at(9), 1e-3);
  EXPECT_DOUBLE_EQ(s.at(10), 1e-3);                       // cosine starts at the peak
  EXPECT_NEAR(s.at(60), 1e-4 + 0.9e-3 * 0.5, 1e-15);      // halfway
  EXPECT_NEAR(s.at(35), 1e-4 + 0.9e-3 * 0.5 * (1 + std::cos(std::numbers::pi * 0.25)), 1e-15);
  EXPECT_DOUBLE_EQ(s.at(110), 1e-4);
  EXPECT_DOUBLE_EQ(s.at(1000), 1e-4);
  for (int64_t t = 10; t < 110; ++t) EXPECT_LE(s.at(t + 1), s.at(t));
  const LrSchedule flat{2e-3, 0, 0, 1.0};  // no warmup, no decay
  EXPECT_DOUBLE_EQ(flat.at(0), 2e-3);
  EXPECT_DOUBLE_EQ(flat.at(50), 2e-3);
}

TEST(TrainBiasUpdate, MovesTowardBalance) {
  std::vector<float> b = {0.0f, 0.0f, 0.0f, 0.0f};
  const int64_t load[4] = {10, 2, 4, 4};  // mean 5
  bias_update(b.data(), load, 4, 0.01f);
  EXPECT_EQ(b, (std::vector<float>{-0.01f, 0.01f, 0.01f, 0.01f}));
  const int64_t even[4] = {3, 3, 3, 3};
  bias_update(b.data(), even, 4, 0.01f);  // balanced: nothing moves
  EXPECT_EQ(b, (std::vector<float>{-0.01f, 0.01f, 0.01f, 0.01f}));
}

// Skewed synthetic routing: logits = noise + a per-expert offset favouring low expert indices,
// routed with the V3 gate (sigmoid, noaux_tc, 4 groups, top-2 groups, K = 4 of E = 16). Fresh
// batches each step, bias updated from the step's load; afterwards max/mean load on a held-out
// batch must be much nearer 1 than with γ = 0.
struct BalanceResult {
  double max_over_mean, min_over_mean;
};

BalanceResult run_balancing(float gamma, int steps) {
  ModelConfig c;
  c.architecture = "DeepseekV3ForCausalLM";
  c.n_routed_experts = 16;
  c.num_experts_per_tok = 4;
  c.n_group = 4;
  c.topk_group = 2;
  c.topk_method = "noaux_tc";
  c.scoring_func = "sigmoid";
  c.norm_topk_prob = true;
  const int64_t E = c.n_routed_experts, N = 512;
  std::vector<float> skew(static_cast<size_t>(E));
  for (int64_t e = 0; e < E; ++e) skew[size_t(e)] = 2.0f - 4.0f * float(e) / float(E - 1);
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> bias(size_t(E), 0.0f), logits(size_t(N * E));
  auto loads = [&] {
    for (int64_t t = 0; t < N; ++t)
      for (int64_t e = 0; e < E; ++e) logits[size_t(t * E + e)] = nd(rng) + skew[size_t(e)];
    const Routing r = route_from_logits(c, bias, logits.data(), N);
    std::vector<int64_t> load(size_t(E), 0);
    for (int32_t e : r.expert) ++load[size_t(e)];
    return load;
  };
  for (int s = 0; s < steps; ++s) {
    const auto load = loads();
    bias_update(bias.data(), load.data(), E, gamma);
  }
  const auto load = loads();
  const double mean = double(N * c.num_experts_per_tok) / double(E);
  return {double(*std::max_element(load.begin(), load.end())) / mean,
          double(*std::min_element(load.begin(), load.end())) / mean};
}

TEST(TrainBiasUpdate, EvensOutSkewedLoad) {
  const BalanceResult off = run_balancing(0.0f, 300), on = run_balancing(0.01f, 300);
  std::printf("  max/mean load: gamma=0 %.2f, gamma=0.01 %.2f; min/mean: %.2f vs %.2f\n", off.max_over_mean,
              on.max_over_mean, off.min_over_mean, on.min_over_mean);
  EXPECT_GT(off.max_over_mean, 2.0);  // the problem is skewed
  EXPECT_LT(on.max_over_mean, 1.3);
  EXPECT_GT(on.min_over_mean, 0.7);
  EXPECT_LT(off.min_over_mean, 0.1);
}

}  // namespace
}  // namespace dsv3
