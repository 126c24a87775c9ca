#include "train/mlp_grad.h"

#include <cmath>

#include "core/error.h"
#include "train/fp8_quant.h"
#include "train/grad_ops.h"

namespace dsv3 {

template <class F>
void mlp_forward(const MlpParams<F>& w, const F* x, int64_t N, F* y, MlpSaved<F>& s) {
  const int64_t D = w.D, I = w.I;
  DSV3_CHECK(D > 0 && I > 0 && N >= 0, "mlp_forward: bad shape N=", N, " D=", D, " I=", I);
  s.N = N;
  s.x.assign(x, x + N * D);
  if (w.fp8) quantize_tiles_e4m3(s.x.data(), N, D);
  s.g.resize(size_t(N * I));
  s.u.resize(size_t(N * I));
  s.h.resize(size_t(N * I));
  linear_forward(s.x.data(), w.gate_proj, N, D, I, s.g.data());
  linear_forward(s.x.data(), w.up_proj, N, D, I, s.u.data());
  for (size_t i = 0; i < s.h.size(); ++i) {
    const F g = s.g[i];
    s.h[i] = g / (F(1) + std::exp(-g)) * s.u[i];
  }
  if (w.fp8) quantize_tiles_e4m3(s.h.data(), N, I);
  linear_forward(s.h.data(), w.down_proj, N, I, D, y);
}

template <class F>
void mlp_backward(const MlpParams<F>& w, const MlpSaved<F>& s, const F* d_y, const MlpGrads<F>& d, F* d_x) {
  const int64_t D = w.D, I = w.I, N = s.N;
  if (N == 0) return;
  const bool q = w.fp8;
  // down: y = h·W_downᵀ  →  dW_down += d_yᵀ·h, d_h = d_y·W_down.
  linear_wgrad(d_y, s.h.data(), N, I, D, d.down_proj, q);
  std::vector<F> d_g(size_t(N * I)), d_u(size_t(N * I));
  linear_dgrad(d_y, w.down_proj, N, I, D, d_g.data(), /*accumulate=*/false, q);  // d_h, in place below
  // h = silu(g)·u: silu(g) = g·σ(g), silu'(g) = σ(g)·(1 + g·(1 − σ(g))).
  for (size_t i = 0; i < d_g.size(); ++i) {
    const F g = s.g[i], sig = F(1) / (F(1) + std::exp(-g)), d_h = d_g[i];
    d_u[i] = d_h * g * sig;
    d_g[i] = d_h * s.u[i] * sig * (F(1) + g * (F(1) - sig));
  }
  // gate, up: g = x·W_gateᵀ, u = x·W_upᵀ (x quantised along tokens once for both Wgrads).
  thread_local std::vector<F> x_tok_buf;
  const F* x_tok = q ? fp8_token_tiles(s.x.data(), N, D, x_tok_buf) : nullptr;
  linear_wgrad(d_g.data(), s.x.data(), N, D, I, d.gate_proj, q, x_tok);
  linear_wgrad(d_u.data(), s.x.data(), N, D, I, d.up_proj, q, x_tok);
  linear_dgrad(d_g.data(), w.gate_proj, N, D, I, d_x, /*accumulate=*/true, q);
  linear_dgrad(d_u.data(), w.up_proj, N, D, I, d_x, /*accumulate=*/true, q);
}

template void mlp_forward<float>(const MlpParams<float>&, const float*, int64_t, float*, MlpSaved<float>&);
template void mlp_forward<double>(const MlpParams<double>&, const double*, int64_t, double*, MlpSaved<double>&);
template void mlp_backward<float>(const MlpParams<float>&, const MlpSaved<float>&, const float*,
                                  const MlpGrads<float>&, float*);
template void mlp_backward<double>(const MlpParams<double>&, const MlpSaved<double>&, const double*,
                                   const MlpGrads<double>&, double*);

}  // namespace dsv3
