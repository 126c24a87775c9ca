#include "model/moe_gate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "kernels/matmul.h"
#include "model/ops.h"

namespace dsv3 {

namespace {

// Indices of the k largest values, largest first; ties go to the lower index.
std::vector<int32_t> top_k_indices(const float* v, int64_t n, int64_t k) {
  std::vector<int32_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t a, int32_t b) {
    return v[a] > v[b] || (v[a] == v[b] && a < b);
  });
  idx.resize(size_t(k));
  return idx;
}

}  // namespace

Routing route_from_logits(const ModelConfig& c, const std::vector<float>& bias, const float* logits, int64_t T) {
  const int64_t E = c.n_routed_experts, K = c.num_experts_per_tok, G = c.n_group;
  const int64_t per_group = E / G;
  const bool use_bias = c.topk_method == "noaux_tc";
  DSV3_CHECK(!use_bias || int64_t(bias.size()) == E, "noaux_tc routing needs e_score_correction_bias");
  Routing r;
  r.T = T;
  r.K = K;
  r.expert.resize(size_t(T * K));
  r.weight.resize(size_t(T * K));
  r.scores.resize(size_t(T * E));
  std::vector<float> choice(static_cast<size_t>(E)), group_score(static_cast<size_t>(G));
  for (int64_t t = 0; t < T; ++t) {
    float* s = &r.scores[size_t(t * E)];
    std::copy(logits + t * E, logits + (t + 1) * E, s);
    if (c.scoring_func == "sigmoid") {
      for (int64_t e = 0; e < E; ++e) s[e] = 1.0f / (1.0f + std::exp(-s[e]));
    } else {
      softmax_inplace(s, E);
    }
    for (int64_t e = 0; e < E; ++e) choice[size_t(e)] = s[e] + (use_bias ? bias[size_t(e)] : 0.0f);
    if (c.topk_method != "greedy" && G > 1) {
      for (int64_t g = 0; g < G; ++g) {
        const float* gs = &choice[size_t(g * per_group)];
        if (use_bias) {  // sum of the group's two best biased scores
          auto top = top_k_indices(gs, per_group, std::min<int64_t>(2, per_group));
          float sum = 0.0f;
          for (int32_t i : top) sum += gs[i];
          group_score[size_t(g)] = sum;
        } else {  // group_limited_greedy: best score in the group
          group_score[size_t(g)] = *std::max_element(gs, gs + per_group);
        }
      }
      auto keep = top_k_indices(group_score.data(), G, c.topk_group);
      std::vector<bool> kept(size_t(G), false);
      for (int32_t g : keep) kept[size_t(g)] = true;
      for (int64_t e = 0; e < E; ++e)
        if (!kept[size_t(e / per_group)]) choice[size_t(e)] = -std::numeric_limits<float>::infinity();
    }
    auto chosen = top_k_indices(choice.data(), E, K);
    float sum = 0.0f;
    for (int64_t k = 0; k < K; ++k) {
      r.expert[size_t(t * K + k)] = chosen[size_t(k)];
      r.weight[size_t(t * K + k)] = s[chosen[size_t(k)]];
      sum += s[chosen[size_t(k)]];
    }
    float* w = &r.weight[size_t(t * K)];
    const bool normalise = c.norm_topk_prob && (!c.is_v2() || K > 1);
    if (normalise)
      for (int64_t k = 0; k < K; ++k) w[k] /= (sum + 1e-20f);
    if (!c.is_v2() || !normalise)
      for (int64_t k = 0; k < K; ++k) w[k] *= float(c.routed_scaling_factor);
  }
  return r;
}

Routing moe_route(const MoeWeights& w, const ModelConfig& c, const float* x, int64_t T, int64_t n_tiled) {
  std::vector<float> logits(size_t(T * c.n_routed_experts));
  matmul_split(x, T, n_tiled, w.gate, logits.data());
  return route_from_logits(c, w.bias, logits.data(), T);
}

}  // namespace dsv3
