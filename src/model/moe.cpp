#include "model/moe.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/vec_ops.h"
#include "model/ops.h"

namespace dsv3 {

void mlp_forward(const MlpWeights& w, const float* x, int64_t T, float* out, int64_t n_tiled) {
  const int64_t F = w.gate.rows;
  std::vector<float> g(size_t(T * F)), u(size_t(T * F));
  matmul_split(x, T, n_tiled, w.gate, g.data());
  matmul_split(x, T, n_tiled, w.up, u.data());
  silu_mul(g.data(), u.data(), T * F);
  matmul_split(g.data(), T, n_tiled, w.down, out);
}

Routing moe_forward(const MoeWeights& w, const ModelConfig& c, const float* x, int64_t T, float* out,
                    int64_t n_tiled) {
  const int64_t D = c.hidden_size, E = c.n_routed_experts;
  Routing r = moe_route(w, c, x, T, n_tiled);
  if (w.has_shared) mlp_forward(w.shared, x, T, out, n_tiled);
  else std::fill(out, out + T * D, 0.0f);
  // Group (token, weight) pairs per expert.
  std::vector<std::vector<std::pair<int64_t, float>>> by_expert(static_cast<size_t>(E));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < r.K; ++k)
      by_expert[size_t(r.expert[size_t(t * r.K + k)])].push_back({t, r.weight[size_t(t * r.K + k)]});
  std::vector<float> xin, y;
  for (int64_t e = 0; e < E; ++e) {
    const auto& toks = by_expert[size_t(e)];
    if (toks.empty()) continue;
    const int64_t n = int64_t(toks.size());
    xin.resize(size_t(n * D));
    y.resize(size_t(n * D));
    // Tokens are in row order, so the expert's prefill rows come first.
    int64_t tiled = n_tiled < 0 ? -1 : 0;
    for (int64_t i = 0; i < n; ++i) {
      std::memcpy(&xin[size_t(i * D)], x + toks[size_t(i)].first * D, sizeof(float) * D);
      if (n_tiled >= 0 && toks[size_t(i)].first < n_tiled) ++tiled;
    }
    mlp_forward(w.experts[size_t(e)], xin.data(), n, y.data(), tiled);
    for (int64_t i = 0; i < n; ++i) axpy_f32(toks[size_t(i)].second, &y[size_t(i * D)], out + toks[size_t(i)].first * D, D);
  }
  return r;
}

}  // namespace dsv3
