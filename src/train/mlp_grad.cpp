#include "train/mlp_grad.h"

#include <cmath>

#include "core/error.h"
#include "kernels/gemm.h"

namespace dsv3 {

template <class F>
void mlp_forward(const MlpParams<F>& w, const F* x, int64_t N, F* y, MlpSaved<F>& s) {
  const int64_t D = w.D, I = w.I;
  DSV3_CHECK(D > 0 && I > 0 && N >= 0, "mlp_forward: bad shape N=", N, " D=", D, " I=", I);
  s.N = N;
  s.x.assign(x, x + N * D);
  s.g.resize(size_t(N * I));
  s.u.resize(size_t(N * I));
  s.h.resize(size_t(N * I));
  gemm(Trans::kNo, Trans::kYes, N, I, D, x, w.gate_proj, s.g.data());
  gemm(Trans::kNo, Trans::kYes, N, I, D, x, w.up_proj, s.u.data());
  for (size_t i = 0; i < s.h.size(); ++i) {
    const F g = s.g[i];
    s.h[i] = g / (F(1) + std::exp(-g)) * s.u[i];
  }
  gemm(Trans::kNo, Trans::kYes, N, D, I, s.h.data(), w.down_proj, y);
}

template <class F>
void mlp_backward(const MlpParams<F>& w, const MlpSaved<F>& s, const F* d_y, const MlpGrads<F>& d, F* d_x) {
  const int64_t D = w.D, I = w.I, N = s.N;
  if (N == 0) return;
  // down: y = h·W_downᵀ  →  dW_down += d_yᵀ·h, d_h = d_y·W_down.
  gemm(Trans::kYes, Trans::kNo, D, I, N, d_y, s.h.data(), d.down_proj, true);
  std::vector<F> d_g(size_t(N * I)), d_u(size_t(N * I));
  gemm(Trans::kNo, Trans::kNo, N, I, D, d_y, w.down_proj, d_g.data());  // d_h, in place below
  // h = silu(g)·u: silu(g) = g·σ(g), silu'(g) = σ(g)·(1 + g·(1 − σ(g))).
  for (size_t i = 0; i < d_g.size(); ++i) {
    const F g = s.g[i], sig = F(1) / (F(1) + std::exp(-g)), d_h = d_g[i];
    d_u[i] = d_h * g * sig;
    d_g[i] = d_h * s.u[i] * sig * (F(1) + g * (F(1) - sig));
  }
  gemm(Trans::kYes, Trans::kNo, I, D, N, d_g.data(), s.x.data(), d.gate_proj, true);
  gemm(Trans::kYes, Trans::kNo, I, D, N, d_u.data(), s.x.data(), d.up_proj, true);
  gemm(Trans::kNo, Trans::kNo, N, D, I, d_g.data(), w.gate_proj, d_x, true);
  gemm(Trans::kNo, Trans::kNo, N, D, I, d_u.data(), w.up_proj, d_x, true);
}

template void mlp_forward<float>(const MlpParams<float>&, const float*, int64_t, float*, MlpSaved<float>&);
template void mlp_forward<double>(const MlpParams<double>&, const double*, int64_t, double*, MlpSaved<double>&);
template void mlp_backward<float>(const MlpParams<float>&, const MlpSaved<float>&, const float*,
                                  const MlpGrads<float>&, float*);
template void mlp_backward<double>(const MlpParams<double>&, const MlpSaved<double>&, const double*,
                                   const MlpGrads<double>&, double*);

}  // namespace dsv3
