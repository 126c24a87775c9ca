// Gradient checks of the FFN side of training (issue 4 item 3): SwiGLU MLP, DeepSeekMoE (V3
// sigmoid + group-limited noaux_tc routing, V2 softmax; with/without shared experts;
// routed_scaling_factor ≠ 1; norm_topk_prob on/off) and the sequence-wise balance loss
// (report section 2.1.2). Analytic gradients of L = Σ y⊙R (+ balance loss) in double precision
// against central finite differences for every parameter entry and the input; the selection
// must not flip under the perturbations (asserted). The float training forward must equal the
// inference forward (src/model/moe.h) on the same weights.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "model/moe.h"
#include "model/moe_gate.h"
#include "train/balance_loss.h"
#include "train/mlp_grad.h"
#include "train/moe_grad.h"

namespace dsv3 {
namespace {

constexpr double kStep = 1e-6;    // finite-difference step (small: the selection must not flip)
constexpr double kGradTol = 1e-6; // max|analytic − numeric| / max|numeric| per tensor

template <class F>
std::vector<F> randn(size_t n, double stddev, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> nd(0.0, stddev);
  std::vector<F> v(n);
  for (auto& x : v) x = F(nd(rng));
  return v;
}

// Max |a − n| over a tensor relative to max |n| (the gradient's own scale).
struct GradError {
  double max_abs = 0, max_ref = 0;
  double rel() const { return max_abs / std::max(max_ref, 1e-30); }
};

// Central differences of loss() for entries [begin, end) of v, compared with analytic g.
GradError fd_check(std::vector<double>& v, size_t begin, size_t end, const std::vector<double>& g,
                   const std::function<double()>& loss) {
  GradError err;
  for (size_t i = begin; i < end; ++i) {
    const double keep = v[i];
    v[i] = keep + kStep;
    const double lp = loss();
    v[i] = keep - kStep;
    const double lm = loss();
    v[i] = keep;
    const double num = (lp - lm) / (2 * kStep);
    err.max_abs = std::max(err.max_abs, std::abs(num - g[i]));
    err.max_ref = std::max(err.max_ref, std::abs(num));
  }
  return err;
}

// ---------------------------------------------------------------------------------- MLP

// One flat buffer for gate_proj [I, D], up_proj [I, D], down_proj [D, I].
template <class F>
MlpParams<F> mlp_view(const F* flat, int64_t D, int64_t I) {
  return {flat, flat + I * D, flat + 2 * I * D, D, I};
}
template <class F>
MlpGrads<F> mlp_grad_view(F* flat, int64_t D, int64_t I) {
  return {flat, flat + I * D, flat + 2 * I * D};
}

TEST(TrainGradcheckFfn, MlpMatchesFiniteDifferences) {
  const int64_t N = 7, D = 6, I = 10;
  auto theta = randn<double>(size_t(3 * I * D), 0.4, 1);
  auto x = randn<double>(size_t(N * D), 1.0, 2);
  const auto R = randn<double>(size_t(N * D), 1.0, 3);
  auto loss = [&] {
    std::vector<double> y(size_t(N * D));
    MlpSaved<double> s;
    mlp_forward(mlp_view(theta.data(), D, I), x.data(), N, y.data(), s);
    double l = 0;
    for (size_t i = 0; i < y.size(); ++i) l += y[i] * R[i];
    return l;
  };
  std::vector<double> y(size_t(N * D)), d_theta(theta.size(), 0.0), d_x(x.size(), 0.0);
  MlpSaved<double> s;
  const auto w = mlp_view(theta.data(), D, I);
  mlp_forward(w, x.data(), N, y.data(), s);
  mlp_backward(w, s, R.data(), mlp_grad_view(d_theta.data(), D, I), d_x.data());
  const char* names[] = {"gate_proj", "up_proj", "down_proj"};
  for (int p = 0; p < 3; ++p) {
    const auto e = fd_check(theta, size_t(p * I * D), size_t((p + 1) * I * D), d_theta, loss);
    std::printf("  mlp %-10s rel err %.2e\n", names[p], e.rel());
    EXPECT_LT(e.rel(), kGradTol) << names[p];
  }
  const auto ex = fd_check(x, 0, x.size(), d_x, loss);
  std::printf("  mlp %-10s rel err %.2e\n", "x", ex.rel());
  EXPECT_LT(ex.rel(), kGradTol);

  // Backward accumulates: a second call doubles every gradient.
  auto d2 = d_theta, dx2 = d_x;
  mlp_backward(w, s, R.data(), mlp_grad_view(d2.data(), D, I), dx2.data());
  for (size_t i = 0; i < d2.size(); ++i) EXPECT_DOUBLE_EQ(d2[i], 2 * d_theta[i]);
  for (size_t i = 0; i < dx2.size(); ++i) EXPECT_DOUBLE_EQ(dx2[i], 2 * d_x[i]);
}

TEST(TrainGradcheckFfn, MlpFloatForwardEqualsInference) {
  const int64_t N = 9, D = 16, I = 24;
  const auto theta = randn<float>(size_t(3 * I * D), 0.3, 4);
  const auto x = randn<float>(size_t(N * D), 1.0, 5);
  std::vector<float> y(size_t(N * D)), ref(size_t(N * D));
  MlpSaved<float> s;
  mlp_forward(mlp_view(theta.data(), D, I), x.data(), N, y.data(), s);
  MlpWeights iw;
  iw.gate = {DType::F32, I, D, theta.data(), nullptr, 128, 128, "gate_proj"};
  iw.up = {DType::F32, I, D, theta.data() + I * D, nullptr, 128, 128, "up_proj"};
  iw.down = {DType::F32, D, I, theta.data() + 2 * I * D, nullptr, 128, 128, "down_proj"};
  mlp_forward(iw, x.data(), N, ref.data());
  float max_ref = 0, max_diff = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    max_ref = std::max(max_ref, std::abs(ref[i]));
    max_diff = std::max(max_diff, std::abs(ref[i] - y[i]));
  }
  EXPECT_LE(max_diff, 1e-5f * max_ref);
}

// ---------------------------------------------------------------------------------- MoE

struct MoeCase {
  const char* name;
  bool v2;              // DeepseekV2ForCausalLM (softmax) vs V3 (sigmoid, noaux_tc)
  std::string topk_method;
  int64_t n_group, topk_group, K;
  bool norm_topk_prob;
  double routed_scaling_factor;
  int64_t n_shared;
};

ModelConfig moe_config(const MoeCase& mc) {
  ModelConfig c;
  c.architecture = mc.v2 ? "DeepseekV2ForCausalLM" : "DeepseekV3ForCausalLM";
  c.model_type = mc.v2 ? "deepseek_v2" : "deepseek_v3";
  c.hidden_size = 6;
  c.moe_intermediate_size = 4;
  c.n_routed_experts = 8;
  c.n_shared_experts = mc.n_shared;
  c.num_experts_per_tok = mc.K;
  c.n_group = mc.n_group;
  c.topk_group = mc.topk_group;
  c.topk_method = mc.topk_method;
  c.scoring_func = mc.v2 ? "softmax" : "sigmoid";
  c.norm_topk_prob = mc.norm_topk_prob;
  c.routed_scaling_factor = mc.routed_scaling_factor;
  return c;
}

// Flat layout of a MoE layer's parameters: router, then per expert gate/up/down, then shared.
struct MoeLayout {
  int64_t D, E, I, Is;
  int64_t expert_size() const { return 3 * I * D; }
  int64_t expert(int64_t e) const { return E * D + e * expert_size(); }
  int64_t shared() const { return E * D + E * expert_size(); }
  int64_t total() const { return shared() + 3 * Is * D; }
  explicit MoeLayout(const ModelConfig& c)
      : D(c.hidden_size), E(c.n_routed_experts), I(c.moe_intermediate_size),
        Is(c.moe_intermediate_size * c.n_shared_experts) {}
};

template <class F>
MoeParams<F> moe_view(const ModelConfig& c, const F* flat, const float* bias) {
  const MoeLayout L(c);
  MoeParams<F> p;
  p.gate = flat;
  p.bias = bias;
  for (int64_t e = 0; e < L.E; ++e) p.experts.push_back(mlp_view(flat + L.expert(e), L.D, L.I));
  p.has_shared = L.Is > 0;
  if (p.has_shared) p.shared = mlp_view(flat + L.shared(), L.D, L.Is);
  return p;
}
template <class F>
MoeGrads<F> moe_grad_view(const ModelConfig& c, F* flat) {
  const MoeLayout L(c);
  MoeGrads<F> g;
  g.gate = flat;
  for (int64_t e = 0; e < L.E; ++e) g.experts.push_back(mlp_grad_view(flat + L.expert(e), L.D, L.I));
  if (L.Is > 0) g.shared = mlp_grad_view(flat + L.shared(), L.D, L.Is);
  return g;
}

// Router weights large enough that scores spread; a bias for noaux_tc.
template <class F>
std::vector<F> moe_theta(const ModelConfig& c, uint32_t seed) {
  const MoeLayout L(c);
  auto theta = randn<F>(size_t(L.total()), 0.4, seed);
  for (int64_t i = 0; i < L.E * L.D; ++i) theta[size_t(i)] *= F(2.5);
  return theta;
}
std::vector<float> moe_bias(const ModelConfig& c, uint32_t seed) {
  if (c.topk_method != "noaux_tc") return {};
  return randn<float>(size_t(c.n_routed_experts), 0.1, seed);
}

void PrintTo(const MoeCase& mc, std::ostream* os) { *os << mc.name; }

class TrainGradcheckFfnMoe : public ::testing::TestWithParam<MoeCase> {};

// d/dθ of Σ y⊙R (+ α·balance loss over B sequences of T tokens) against finite differences.
void check_moe_gradients(const MoeCase& mc, double alpha) {
  const ModelConfig c = moe_config(mc);
  const MoeLayout L(c);
  const int64_t B = 2, T = 6, N = B * T, D = L.D, E = L.E, K = c.num_experts_per_tok;
  auto theta = moe_theta<double>(c, 11);
  const auto bias = moe_bias(c, 12);
  auto x = randn<double>(size_t(N * D), 1.0, 13);
  const auto R = randn<double>(size_t(N * D), 1.0, 14);
  const float* bias_ptr = bias.empty() ? nullptr : bias.data();

  std::vector<double> y(size_t(N * D));
  MoeSaved<double> s;
  const auto w = moe_view(c, theta.data(), bias_ptr);
  const MoeStats stats = moe_forward(w, c, x.data(), N, y.data(), s);
  const std::vector<int32_t> selection = s.expert;
  int64_t routed = 0;
  for (int64_t l : stats.load) routed += l;
  EXPECT_EQ(routed, N * K);

  bool flipped = false;
  auto loss = [&] {
    std::vector<double> yy(size_t(N * D));
    MoeSaved<double> ss;
    moe_forward(moe_view(c, theta.data(), bias_ptr), c, x.data(), N, yy.data(), ss);
    if (ss.expert != selection) flipped = true;
    double l = 0;
    for (size_t i = 0; i < yy.size(); ++i) l += yy[i] * R[i];
    if (alpha > 0) l += balance_loss_forward(ss.scores.data(), ss.expert.data(), B, T, E, K, alpha);
    return l;
  };

  std::vector<double> d_theta(theta.size(), 0.0), d_x(x.size(), 0.0), d_scores;
  if (alpha > 0) {
    d_scores.assign(size_t(N * E), 0.0);
    balance_loss_backward(s.scores.data(), s.expert.data(), B, T, E, K, alpha, 1.0, d_scores.data());
  }
  moe_backward(w, c, s, R.data(), alpha > 0 ? d_scores.data() : nullptr, moe_grad_view(c, d_theta.data()),
               d_x.data());

  struct Span { std::string name; int64_t begin, end; bool used; };
  std::vector<Span> spans = {{"mlp.gate.weight", 0, E * D, true}};
  const char* proj[] = {"gate_proj", "up_proj", "down_proj"};
  for (int64_t e = 0; e < E; ++e)
    for (int p = 0; p < 3; ++p)
      spans.push_back({"mlp.experts." + std::to_string(e) + "." + proj[p], L.expert(e) + p * L.I * D,
                       L.expert(e) + (p + 1) * L.I * D, stats.load[size_t(e)] > 0});
  for (int p = 0; p < 3 && L.Is > 0; ++p)
    spans.push_back({std::string("mlp.shared_experts.") + proj[p], L.shared() + p * L.Is * D,
                     L.shared() + (p + 1) * L.Is * D, true});
  double worst = 0;
  for (const auto& sp : spans) {
    const auto err = fd_check(theta, size_t(sp.begin), size_t(sp.end), d_theta, loss);
    worst = std::max(worst, err.rel());
    EXPECT_LT(err.rel(), kGradTol) << sp.name;
    if (sp.used) {
      EXPECT_GT(err.max_ref, 0.0) << sp.name << ": zero gradient, the test does not exercise it";
    }
  }
  // An expert without tokens has exactly zero gradient.
  for (int64_t e = 0; e < E; ++e) {
    if (stats.load[size_t(e)] != 0) continue;
    for (int64_t i = L.expert(e); i < L.expert(e + 1); ++i) EXPECT_EQ(d_theta[size_t(i)], 0.0);
  }
  const auto ex = fd_check(x, 0, x.size(), d_x, loss);
  std::printf("  %s%s: max rel err %.2e over parameters, %.2e for x\n", mc.name, alpha > 0 ? " + balance" : "",
              worst, ex.rel());
  EXPECT_LT(ex.rel(), kGradTol);
  EXPECT_FALSE(flipped) << "a finite-difference perturbation changed the expert selection";
}

TEST_P(TrainGradcheckFfnMoe, MatchesFiniteDifferences) { check_moe_gradients(GetParam(), 0.0); }
TEST_P(TrainGradcheckFfnMoe, WithBalanceLossMatchesFiniteDifferences) { check_moe_gradients(GetParam(), 0.3); }

// Training forward in float equals the inference forward (src/model/moe.cpp) on the same weights.
TEST_P(TrainGradcheckFfnMoe, FloatForwardEqualsInference) {
  const ModelConfig c = moe_config(GetParam());
  const MoeLayout L(c);
  const int64_t N = 40, D = L.D;
  const auto theta = moe_theta<float>(c, 21);
  const auto bias = moe_bias(c, 22);
  const auto x = randn<float>(size_t(N * D), 1.0, 23);
  std::vector<float> y(size_t(N * D)), ref(size_t(N * D));
  MoeSaved<float> s;
  moe_forward(moe_view(c, theta.data(), bias.empty() ? nullptr : bias.data()), c, x.data(), N, y.data(), s);

  auto wm = [](int64_t rows, int64_t cols, const float* p) {
    return WeightMatrix{DType::F32, rows, cols, p, nullptr, 128, 128, "w"};
  };
  auto mlp = [&](const float* p, int64_t I) {
    return MlpWeights{wm(I, D, p), wm(I, D, p + I * D), wm(D, I, p + 2 * I * D)};
  };
  MoeWeights iw;
  iw.gate = wm(L.E, D, theta.data());
  iw.bias = bias;
  for (int64_t e = 0; e < L.E; ++e) iw.experts.push_back(mlp(theta.data() + L.expert(e), L.I));
  iw.has_shared = L.Is > 0;
  if (iw.has_shared) iw.shared = mlp(theta.data() + L.shared(), L.Is);
  const Routing r = moe_forward(iw, c, x.data(), N, ref.data());

  EXPECT_EQ(s.expert, r.expert);
  for (size_t i = 0; i < r.weight.size(); ++i) EXPECT_NEAR(s.weight[i], r.weight[i], 1e-6f * std::abs(r.weight[i]) + 1e-7f);
  float max_ref = 0, max_diff = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    max_ref = std::max(max_ref, std::abs(ref[i]));
    max_diff = std::max(max_diff, std::abs(ref[i] - y[i]));
  }
  EXPECT_LE(max_diff, 1e-5f * max_ref);
}

// The float instantiation (what training runs) agrees with the double one the finite
// differences validated: gradients within 1e-4 of each tensor's scale.
TEST_P(TrainGradcheckFfnMoe, FloatGradientsMatchDouble) {
  const ModelConfig c = moe_config(GetParam());
  const MoeLayout L(c);
  const int64_t B = 2, T = 8, N = B * T, D = L.D, E = L.E, K = c.num_experts_per_tok;
  const auto theta = moe_theta<double>(c, 51);
  const auto bias = moe_bias(c, 52);
  const auto x = randn<double>(size_t(N * D), 1.0, 53);
  const auto R = randn<double>(size_t(N * D), 1.0, 54);
  auto run = [&](auto zero) {
    using F = decltype(zero);
    const std::vector<F> th(theta.begin(), theta.end()), xf(x.begin(), x.end()), rf(R.begin(), R.end());
    std::vector<F> y(size_t(N * D)), d_th(th.size(), F(0)), d_x(xf.size(), F(0)), d_s(size_t(N * E), F(0));
    MoeSaved<F> s;
    const auto w = moe_view(c, th.data(), bias.empty() ? nullptr : bias.data());
    moe_forward(w, c, xf.data(), N, y.data(), s);
    balance_loss_backward(s.scores.data(), s.expert.data(), B, T, E, K, 0.1, F(1), d_s.data());
    moe_backward(w, c, s, rf.data(), d_s.data(), moe_grad_view(c, d_th.data()), d_x.data());
    d_th.insert(d_th.end(), d_x.begin(), d_x.end());
    return std::make_pair(std::vector<double>(d_th.begin(), d_th.end()), s.expert);
  };
  const auto [gd, sel_d] = run(0.0);
  const auto [gf, sel_f] = run(0.0f);
  ASSERT_EQ(sel_d, sel_f);
  double max_ref = 0, max_diff = 0;
  for (size_t i = 0; i < gd.size(); ++i) {
    max_ref = std::max(max_ref, std::abs(gd[i]));
    max_diff = std::max(max_diff, std::abs(gd[i] - gf[i]));
  }
  EXPECT_LT(max_diff, 1e-4 * max_ref);
}

// Group limiting must actually change some selections (else the V3 case would not test it).
TEST(TrainGradcheckFfn, GroupLimitingIsExercised) {
  const MoeCase mc{"v3", false, "noaux_tc", 4, 2, 3, true, 2.5, 1};
  const ModelConfig c = moe_config(mc);
  const MoeLayout L(c);
  const int64_t N = 12, E = L.E, K = c.num_experts_per_tok;
  const auto theta = moe_theta<double>(c, 11);
  const auto bias = moe_bias(c, 12);
  const auto x = randn<double>(size_t(N * L.D), 1.0, 13);
  std::vector<double> y(size_t(N * L.D));
  MoeSaved<double> s;
  moe_forward(moe_view(c, theta.data(), bias.data()), c, x.data(), N, y.data(), s);
  int differs = 0;
  for (int64_t t = 0; t < N; ++t) {
    std::vector<int32_t> idx(static_cast<size_t>(E));
    for (int32_t e = 0; e < E; ++e) idx[size_t(e)] = e;
    auto biased = [&](int32_t e) { return s.scores[size_t(t * E + e)] + bias[size_t(e)]; };
    std::sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) { return biased(a) > biased(b); });
    std::vector<int32_t> plain(idx.begin(), idx.begin() + K), got(&s.expert[size_t(t * K)], &s.expert[size_t(t * K + K)]);
    std::sort(plain.begin(), plain.end());
    std::sort(got.begin(), got.end());
    differs += plain != got;
  }
  EXPECT_GT(differs, 0);
}

// Router statistics: a zero router gives equal scores (entropy ln E) and, with ties going to
// the lower index, every token on experts 0..K-1 (max load N, mean load N·K/E).
TEST(TrainGradcheckFfn, MoeStatsOnAZeroRouter) {
  const MoeCase mc{"v3", false, "noaux_tc", 1, 1, 2, true, 1.0, 0};
  const ModelConfig c = moe_config(mc);
  const MoeLayout L(c);
  const int64_t N = 5;
  auto theta = moe_theta<double>(c, 41);
  std::fill(theta.begin(), theta.begin() + L.E * L.D, 0.0);
  const std::vector<float> bias(size_t(L.E), 0.0f);
  const auto x = randn<double>(size_t(N * L.D), 1.0, 42);
  std::vector<double> y(size_t(N * L.D));
  MoeSaved<double> s;
  const MoeStats st = moe_forward(moe_view(c, theta.data(), bias.data()), c, x.data(), N, y.data(), s);
  EXPECT_NEAR(st.entropy, std::log(double(L.E)), 1e-12);
  EXPECT_EQ(st.max_load, double(N));
  EXPECT_EQ(st.mean_load, double(N * 2) / double(L.E));
  EXPECT_EQ(st.load, (std::vector<int64_t>{N, N, 0, 0, 0, 0, 0, 0}));
}

INSTANTIATE_TEST_SUITE_P(
    Configs, TrainGradcheckFfnMoe,
    ::testing::Values(MoeCase{"v3_groups_norm_shared", false, "noaux_tc", 4, 2, 3, true, 2.5, 1},
                      MoeCase{"v3_nonorm_noshared", false, "noaux_tc", 2, 1, 2, false, 1.7, 0},
                      MoeCase{"v3_nogroups_norm_2shared", false, "noaux_tc", 1, 1, 2, true, 1.0, 2},
                      MoeCase{"v2_greedy_nonorm_shared", true, "greedy", 1, 1, 2, false, 1.5, 2},
                      MoeCase{"v2_grouplimited_norm_noshared", true, "group_limited_greedy", 4, 2, 3, true, 2.0, 0}),
    [](const ::testing::TestParamInfo<MoeCase>& i) { return std::string(i.param.name); });

// ---------------------------------------------------------------------------------- balance loss

TEST(TrainGradcheckFfn, BalanceLossMatchesFiniteDifferences) {
  const int64_t B = 3, T = 5, E = 6, K = 2, N = B * T;
  auto scores = randn<double>(size_t(N * E), 1.0, 31);
  for (auto& v : scores) v = 1.0 / (1.0 + std::exp(-v));  // positive, like sigmoid scores
  std::vector<int32_t> expert(size_t(N * K));
  std::mt19937 rng(32);
  for (int64_t t = 0; t < N; ++t) {
    std::vector<int32_t> p(static_cast<size_t>(E));
    for (int32_t e = 0; e < E; ++e) p[size_t(e)] = e;
    std::shuffle(p.begin(), p.end(), rng);
    for (int64_t k = 0; k < K; ++k) expert[size_t(t * K + k)] = p[size_t(k)];
  }
  const double alpha = 0.01;
  std::vector<double> d(scores.size(), 0.0);
  balance_loss_backward(scores.data(), expert.data(), B, T, E, K, alpha, 2.0, d.data());
  const auto err = fd_check(scores, 0, scores.size(), d, [&] {
    return 2.0 * balance_loss_forward(scores.data(), expert.data(), B, T, E, K, alpha);
  });
  std::printf("  balance loss: rel err %.2e\n", err.rel());
  EXPECT_LT(err.rel(), kGradTol);

  // Uniform scores: P_i = 1/E and Σ_i f_i = E, so L = α whatever the routing.
  std::vector<double> uniform(scores.size(), 0.3);
  EXPECT_NEAR(balance_loss_forward(uniform.data(), expert.data(), B, T, E, K, alpha), alpha, 1e-15);
  // Everything routed to experts 0 and 1 with all score mass there: f = E/K on them, P = 1/2 → L = α·E/K.
  std::vector<double> skew(scores.size(), 0.0);
  std::vector<int32_t> fixed(expert.size());
  for (int64_t t = 0; t < N; ++t) {
    skew[size_t(t * E)] = skew[size_t(t * E + 1)] = 0.5;
    fixed[size_t(t * K)] = 0;
    fixed[size_t(t * K + 1)] = 1;
  }
  EXPECT_NEAR(balance_loss_forward(skew.data(), fixed.data(), B, T, E, K, alpha), alpha * E / K, 1e-15);
}

}  // namespace
}  // namespace dsv3
