#include "train/moe_grad.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "kernels/gemm.h"
#include "model/moe_gate.h"

namespace dsv3 {

namespace {

// The gate-weight rule of moe_gate.h: V3 normalises when norm_topk_prob, then scales; V2
// normalises when norm_topk_prob and K > 1, otherwise scales.
bool normalises(const ModelConfig& c) { return c.norm_topk_prob && (!c.is_v2() || c.num_experts_per_tok > 1); }
double gate_scale(const ModelConfig& c) { return (!c.is_v2() || !normalises(c)) ? c.routed_scaling_factor : 1.0; }
constexpr double kNormEps = 1e-20;  // as moe_gate's Σ + 1e-20

void check_shapes(const ModelConfig& c, size_t n_experts, bool has_bias) {
  DSV3_CHECK(c.n_routed_experts > 0 && int64_t(n_experts) == c.n_routed_experts, "moe: ", n_experts,
             " expert weight sets for n_routed_experts = ", c.n_routed_experts);
  DSV3_CHECK(c.scoring_func == "sigmoid" || c.scoring_func == "softmax", "moe: unknown scoring_func '",
             c.scoring_func, "'");
  DSV3_CHECK(c.topk_method != "noaux_tc" || has_bias, "moe: noaux_tc routing needs e_score_correction_bias");
}

}  // namespace

template <class F>
MoeStats moe_forward(const MoeParams<F>& w, const ModelConfig& c, const F* x, int64_t N, F* y, MoeSaved<F>& s) {
  const int64_t D = c.hidden_size, E = c.n_routed_experts, K = c.num_experts_per_tok;
  check_shapes(c, w.experts.size(), w.bias != nullptr);
  s.N = N;
  s.K = K;
  s.x.assign(x, x + N * D);

  // Router logits and scores, computed in F.
  std::vector<F> logits(size_t(N * E));
  gemm(Trans::kNo, Trans::kYes, N, E, D, x, w.gate, logits.data());
  s.scores.resize(size_t(N * E));
  for (int64_t t = 0; t < N; ++t) {
    const F* l = &logits[size_t(t * E)];
    F* p = &s.scores[size_t(t * E)];
    if (c.scoring_func == "sigmoid") {
      for (int64_t e = 0; e < E; ++e) p[e] = F(1) / (F(1) + std::exp(-l[e]));
    } else {
      const F mx = *std::max_element(l, l + E);
      F sum = 0;
      for (int64_t e = 0; e < E; ++e) sum += p[e] = std::exp(l[e] - mx);
      for (int64_t e = 0; e < E; ++e) p[e] /= sum;
    }
  }

  // Selection: exactly the inference code's (moe_gate.cpp) on the f32 logits.
  std::vector<float> logits_f(logits.begin(), logits.end());
  std::vector<float> bias;
  if (w.bias) bias.assign(w.bias, w.bias + E);
  Routing r = route_from_logits(c, bias, logits_f.data(), N);
  s.expert = std::move(r.expert);

  // Gate weights from the unbiased scores of the chosen experts.
  const bool norm = normalises(c);
  const F scale = F(gate_scale(c));
  s.weight.resize(size_t(N * K));
  for (int64_t t = 0; t < N; ++t) {
    const F* p = &s.scores[size_t(t * E)];
    F* g = &s.weight[size_t(t * K)];
    F sum = 0;
    for (int64_t k = 0; k < K; ++k) sum += g[k] = p[s.expert[size_t(t * K + k)]];
    for (int64_t k = 0; k < K; ++k) g[k] = (norm ? g[k] / (sum + F(kNormEps)) : g[k]) * scale;
  }

  // Shared experts, then routed experts with their tokens grouped.
  if (w.has_shared) mlp_forward(w.shared, x, N, y, s.shared_saved);
  else std::fill(y, y + N * D, F(0));
  s.tokens.assign(size_t(E), {});
  for (int64_t i = 0; i < N * K; ++i) s.tokens[size_t(s.expert[size_t(i)])].push_back(i);
  s.expert_saved.resize(size_t(E));
  s.expert_out.resize(size_t(E));
  std::vector<F> xin;
  for (int64_t e = 0; e < E; ++e) {
    const auto& slots = s.tokens[size_t(e)];
    const int64_t n = int64_t(slots.size());
    xin.resize(size_t(n * D));
    for (int64_t i = 0; i < n; ++i) std::copy_n(x + slots[size_t(i)] / K * D, D, &xin[size_t(i * D)]);
    auto& out = s.expert_out[size_t(e)];
    out.resize(size_t(n * D));
    mlp_forward(w.experts[size_t(e)], xin.data(), n, out.data(), s.expert_saved[size_t(e)]);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t slot = slots[size_t(i)];
      const F g = s.weight[size_t(slot)];
      F* yt = y + slot / K * D;
      const F* o = &out[size_t(i * D)];
      for (int64_t j = 0; j < D; ++j) yt[j] += g * o[j];
    }
  }

  MoeStats st;
  st.load.resize(size_t(E));
  for (int64_t e = 0; e < E; ++e) st.load[size_t(e)] = int64_t(s.tokens[size_t(e)].size());
  st.max_load = N > 0 ? double(*std::max_element(st.load.begin(), st.load.end())) : 0.0;
  st.mean_load = double(N * K) / double(E);
  double h = 0;
  for (int64_t t = 0; t < N; ++t) {
    const F* p = &s.scores[size_t(t * E)];
    double sum = 0;
    for (int64_t e = 0; e < E; ++e) sum += double(p[e]);
    for (int64_t e = 0; e < E; ++e) {
      const double q = double(p[e]) / sum;
      if (q > 0) h -= q * std::log(q);
    }
  }
  st.entropy = N > 0 ? h / double(N) : 0.0;
  return st;
}

template <class F>
void moe_backward(const MoeParams<F>& w, const ModelConfig& c, const MoeSaved<F>& s, const F* d_y,
                  const F* d_scores, const MoeGrads<F>& d, F* d_x) {
  const int64_t D = c.hidden_size, E = c.n_routed_experts, K = s.K, N = s.N;
  check_shapes(c, w.experts.size(), w.bias != nullptr);
  DSV3_CHECK(d.experts.size() == size_t(E), "moe_backward: ", d.experts.size(), " expert gradient sets for ", E);

  // Routed experts: y_t += g·o  →  d_o = g·d_y_t, d_g = d_y_t·o.
  std::vector<F> d_g(size_t(N * K), F(0)), d_o, d_xin;
  for (int64_t e = 0; e < E; ++e) {
    const auto& slots = s.tokens[size_t(e)];
    const int64_t n = int64_t(slots.size());
    if (n == 0) continue;
    const auto& out = s.expert_out[size_t(e)];
    d_o.resize(size_t(n * D));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t slot = slots[size_t(i)];
      const F* dy = d_y + slot / K * D;
      const F* o = &out[size_t(i * D)];
      const F g = s.weight[size_t(slot)];
      F dot = 0;
      for (int64_t j = 0; j < D; ++j) {
        dot += dy[j] * o[j];
        d_o[size_t(i * D + j)] = g * dy[j];
      }
      d_g[size_t(slot)] = dot;
    }
    d_xin.assign(size_t(n * D), F(0));
    mlp_backward(w.experts[size_t(e)], s.expert_saved[size_t(e)], d_o.data(), d.experts[size_t(e)], d_xin.data());
    for (int64_t i = 0; i < n; ++i) {
      F* dx = d_x + slots[size_t(i)] / K * D;
      for (int64_t j = 0; j < D; ++j) dx[j] += d_xin[size_t(i * D + j)];
    }
  }
  if (w.has_shared) mlp_backward(w.shared, s.shared_saved, d_y, d.shared, d_x);

  // Gate weights → scores of the chosen experts (through the normalisation when it applies).
  std::vector<F> d_s(size_t(N * E), F(0));
  if (d_scores) std::copy(d_scores, d_scores + N * E, d_s.begin());
  const bool norm = normalises(c);
  const F scale = F(gate_scale(c));
  for (int64_t t = 0; t < N; ++t) {
    const F* p = &s.scores[size_t(t * E)];
    const int32_t* ex = &s.expert[size_t(t * K)];
    const F* dg = &d_g[size_t(t * K)];
    F* ds = &d_s[size_t(t * E)];
    if (!norm) {
      for (int64_t k = 0; k < K; ++k) ds[ex[k]] += scale * dg[k];
      continue;
    }
    // g_k = scale·p_k / Z, Z = Σ_j p_j + eps:  dL/dp_j = scale·(dg_j − Σ_k dg_k·p_k / Z) / Z.
    F z = F(kNormEps), dot = 0;
    for (int64_t k = 0; k < K; ++k) z += p[ex[k]];
    for (int64_t k = 0; k < K; ++k) dot += dg[k] * p[ex[k]];
    for (int64_t k = 0; k < K; ++k) ds[ex[k]] += scale * (dg[k] - dot / z) / z;
  }

  // Scores → router logits → router weight and input.
  std::vector<F>& d_l = d_s;  // converted in place
  for (int64_t t = 0; t < N; ++t) {
    const F* p = &s.scores[size_t(t * E)];
    F* dl = &d_l[size_t(t * E)];
    if (c.scoring_func == "sigmoid") {
      for (int64_t e = 0; e < E; ++e) dl[e] *= p[e] * (F(1) - p[e]);
    } else {
      F dot = 0;
      for (int64_t e = 0; e < E; ++e) dot += dl[e] * p[e];
      for (int64_t e = 0; e < E; ++e) dl[e] = p[e] * (dl[e] - dot);
    }
  }
  gemm(Trans::kYes, Trans::kNo, E, D, N, d_l.data(), s.x.data(), d.gate, true);
  gemm(Trans::kNo, Trans::kNo, N, D, E, d_l.data(), w.gate, d_x, true);
}

template MoeStats moe_forward<float>(const MoeParams<float>&, const ModelConfig&, const float*, int64_t, float*,
                                     MoeSaved<float>&);
template MoeStats moe_forward<double>(const MoeParams<double>&, const ModelConfig&, const double*, int64_t,
                                      double*, MoeSaved<double>&);
template void moe_backward<float>(const MoeParams<float>&, const ModelConfig&, const MoeSaved<float>&,
                                  const float*, const float*, const MoeGrads<float>&, float*);
template void moe_backward<double>(const MoeParams<double>&, const ModelConfig&, const MoeSaved<double>&,
                                   const double*, const double*, const MoeGrads<double>&, double*);

}  // namespace dsv3
