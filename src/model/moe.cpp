#include "model/moe.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/vec_ops.h"
#include "model/ops.h"

namespace dsv3 {

namespace {

// The decode rows of one SwiGLU MLP inside a grouped call: x [T, D] in, y [T, D] out, with
// its own g/u scratch [T, F].
struct MlpRows {
  const MlpWeights* w;
  const float* x;
  int64_t T;
  float* g;
  float* u;
  float* y;
};

// Runs every MLP's decode rows with two grouped matmuls (gate and up of all of them, then
// down of all of them): one fork-join each instead of three per MLP. The results are those
// of mlp_forward on the rows path (the rows path sums each output on its own).
void mlp_rows_grouped(const std::vector<MlpRows>& mlps) {
  std::vector<MatmulProduct> products;
  products.reserve(2 * mlps.size());
  for (const MlpRows& m : mlps) {
    products.push_back({m.x, m.T, &m.w->gate, m.g});
    products.push_back({m.x, m.T, &m.w->up, m.u});
  }
  matmul_rows_grouped(products.data(), products.size());
  products.clear();
  for (const MlpRows& m : mlps) {
    silu_mul(m.g, m.u, m.T * m.w->gate.rows);
    products.push_back({m.g, m.T, &m.w->down, m.y});
  }
  matmul_rows_grouped(products.data(), products.size());
}

// The prefill rows [0, n) of an MLP on the tiled path.
void mlp_tiled(const MlpWeights& w, const float* x, int64_t n, float* out) {
  if (n > 0) mlp_forward(w, x, n, out, n);
}

}  // namespace

void mlp_forward(const MlpWeights& w, const float* x, int64_t T, float* out, int64_t n_tiled) {
  const int64_t F = w.gate.rows, D = w.down.rows;
  std::vector<float> g(size_t(T * F)), u(size_t(T * F));
  if (n_tiled < 0 || n_tiled == T) {
    matmul_split(x, T, n_tiled, w.gate, g.data());
    matmul_split(x, T, n_tiled, w.up, u.data());
    silu_mul(g.data(), u.data(), T * F);
    matmul_split(g.data(), T, n_tiled, w.down, out);
    return;
  }
  mlp_tiled(w, x, n_tiled, out);
  const int64_t nd = T - n_tiled;
  mlp_rows_grouped({MlpRows{&w, x + n_tiled * w.gate.cols, nd, &g[size_t(n_tiled * F)], &u[size_t(n_tiled * F)],
                            out + n_tiled * D}});
}

Routing moe_forward(const MoeWeights& w, const ModelConfig& c, const float* x, int64_t T, float* out,
                    int64_t n_tiled) {
  const int64_t D = c.hidden_size, E = c.n_routed_experts;
  Routing r = moe_route(w, c, x, T, n_tiled);
  // Group (token, weight) pairs per expert, in token order.
  std::vector<std::vector<std::pair<int64_t, float>>> by_expert(static_cast<size_t>(E));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < r.K; ++k)
      by_expert[size_t(r.expert[size_t(t * r.K + k)])].push_back({t, r.weight[size_t(t * r.K + k)]});

  // One expert at a time: every row when n_tiled < 0 (matmul picks each product's path; tests,
  // tools), else the prefill rows on the tiled path. The shared expert first, then each routed
  // expert added to its tokens' rows at once (small per-expert buffers stay in cache). Tokens
  // are in row order, so an expert's rows below n_one come first in its list.
  const int64_t n_one = n_tiled < 0 ? T : n_tiled;
  auto path = [n_tiled](int64_t n) { return n_tiled < 0 ? int64_t(-1) : n; };
  if (w.has_shared && n_one > 0) mlp_forward(w.shared, x, n_one, out, path(n_one));
  else if (!w.has_shared) std::fill(out, out + n_one * D, 0.0f);
  std::vector<int64_t> tiled(static_cast<size_t>(E), 0);
  std::vector<float> xin, y;
  for (int64_t e = 0; e < E; ++e) {
    const auto& toks = by_expert[size_t(e)];
    int64_t n = 0;
    while (n < int64_t(toks.size()) && toks[size_t(n)].first < n_one) ++n;
    tiled[size_t(e)] = n;
    if (n == 0) continue;
    xin.resize(size_t(n * D));
    y.resize(size_t(n * D));
    for (int64_t i = 0; i < n; ++i) std::memcpy(&xin[size_t(i * D)], x + toks[size_t(i)].first * D, sizeof(float) * D);
    mlp_forward(w.experts[size_t(e)], xin.data(), n, y.data(), path(n));
    for (int64_t i = 0; i < n; ++i) axpy_f32(toks[size_t(i)].second, &y[size_t(i * D)], out + toks[size_t(i)].first * D, D);
  }
  const int64_t nd = T - n_one;
  if (nd <= 0) return r;

  // Decode rows of the shared expert and of every routed expert in one grouped pass: every
  // (decode token, expert) pair gets a row of xd / yd, an expert's rows contiguous.
  std::vector<int64_t> first(size_t(E + 1), 0);
  for (int64_t e = 0; e < E; ++e)
    first[size_t(e + 1)] = first[size_t(e)] + int64_t(by_expert[size_t(e)].size()) - tiled[size_t(e)];
  const int64_t rows = first[size_t(E)];
  const int64_t F = w.experts.empty() ? 0 : w.experts[0].gate.rows;
  std::vector<float> xd(size_t(rows * D)), yd(size_t(rows * D)), g(size_t(rows * F)), u(size_t(rows * F));
  std::vector<MlpRows> decode;
  std::vector<float> sg, su;
  if (w.has_shared) {
    const int64_t Fs = w.shared.gate.rows;
    sg.resize(size_t(nd * Fs));
    su.resize(size_t(nd * Fs));
    decode.push_back({&w.shared, x + n_tiled * D, nd, sg.data(), su.data(), out + n_tiled * D});
  } else {
    std::fill(out + n_tiled * D, out + T * D, 0.0f);
  }
  for (int64_t e = 0; e < E; ++e) {
    const auto& toks = by_expert[size_t(e)];
    const int64_t r0 = first[size_t(e)], n = first[size_t(e + 1)] - r0, t0 = tiled[size_t(e)];
    if (n == 0) continue;
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(&xd[size_t((r0 + i) * D)], x + toks[size_t(t0 + i)].first * D, sizeof(float) * D);
    decode.push_back({&w.experts[size_t(e)], &xd[size_t(r0 * D)], n, &g[size_t(r0 * F)], &u[size_t(r0 * F)],
                      &yd[size_t(r0 * D)]});
  }
  mlp_rows_grouped(decode);
  // Weighted sum in expert order (per token independent of the rest of the batch).
  for (int64_t e = 0; e < E; ++e) {
    const auto& toks = by_expert[size_t(e)];
    const int64_t r0 = first[size_t(e)], t0 = tiled[size_t(e)];
    for (int64_t i = 0; i < first[size_t(e + 1)] - r0; ++i)
      axpy_f32(toks[size_t(t0 + i)].second, &yd[size_t((r0 + i) * D)], out + toks[size_t(t0 + i)].first * D, D);
  }
  return r;
}

}  // namespace dsv3
