#include "train/grad_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/gemm.h"
#include "train/fp8_quant.h"

namespace dsv3 {

template <class F>
void linear_forward(const F* x, const F* W, int64_t T, int64_t K, int64_t N, F* y) {
  gemm(Trans::kNo, Trans::kYes, T, N, K, x, W, y);
}

template <class F>
void linear_backward(const F* dy, const F* x, const F* W, int64_t T, int64_t K, int64_t N, F* dx, F* dW,
                     bool fp8, const F* x_tok) {
  if (dx) linear_dgrad(dy, W, T, K, N, dx, /*accumulate=*/true, fp8);
  if (dW) linear_wgrad(dy, x, T, K, N, dW, fp8, x_tok);
}

template <class F>
const F* fp8_token_tiles(const F* x, int64_t T, int64_t K, std::vector<F>& buf) {
  buf.assign(x, x + T * K);
  quantize_col_tiles_e4m3(buf.data(), T, K);
  return buf.data();
}

template <class F>
void linear_dgrad(const F* dy, const F* W, int64_t T, int64_t K, int64_t N, F* dx, bool accumulate, bool fp8) {
  thread_local std::vector<F> dy_q;
  if (fp8) {
    dy_q.assign(dy, dy + T * N);
    quantize_tiles_e4m3(dy_q.data(), T, N);
    dy = dy_q.data();
  }
  gemm(Trans::kNo, Trans::kNo, T, K, N, dy, W, dx, accumulate);
}

template <class F>
void linear_wgrad(const F* dy, const F* x, int64_t T, int64_t K, int64_t N, F* dW, bool fp8, const F* x_tok) {
  thread_local std::vector<F> dy_q, x_q;
  if (fp8) {
    dy = fp8_token_tiles(dy, T, N, dy_q);
    x = x_tok ? x_tok : fp8_token_tiles(x, T, K, x_q);
  }
  gemm(Trans::kYes, Trans::kNo, N, K, T, dy, x, dW, /*accumulate=*/true);
}

template <class F>
void rmsnorm_forward(const F* x, const F* w, F eps, int64_t T, int64_t n, F* y, std::vector<F>& rstd) {
  rstd.resize(size_t(T));
  for (int64_t t = 0; t < T; ++t) {
    const F* xr = x + t * n;
    double ss = 0.0;
    for (int64_t i = 0; i < n; ++i) ss += double(xr[i]) * double(xr[i]);
    const F r = F(1.0 / std::sqrt(ss / double(n) + double(eps)));
    rstd[size_t(t)] = r;
    F* yr = y + t * n;
    for (int64_t i = 0; i < n; ++i) yr[i] = xr[i] * r * w[i];
  }
}

// y_i = w_i·x_i·r with r = (mean(x²)+eps)^(-1/2), ∂r/∂x_j = -r³·x_j/n, so
// dx_j = r·w_j·dy_j − (r³/n)·x_j·Σ_i dy_i·w_i·x_i.
template <class F>
void rmsnorm_backward(const F* dy, const F* x, const F* w, const F* rstd, int64_t T, int64_t n, F* dx, F* dw) {
  for (int64_t t = 0; t < T; ++t) {
    const F* xr = x + t * n;
    const F* g = dy + t * n;
    const F r = rstd[t];
    if (dw)
      for (int64_t i = 0; i < n; ++i) dw[i] += g[i] * xr[i] * r;
    if (!dx) continue;
    double dot = 0.0;
    for (int64_t i = 0; i < n; ++i) dot += double(g[i]) * double(w[i]) * double(xr[i]);
    const F c = F(dot * double(r) * double(r) * double(r) / double(n));
    F* d = dx + t * n;
    for (int64_t i = 0; i < n; ++i) d[i] += r * w[i] * g[i] - c * xr[i];
  }
}

template <class F>
void embedding_forward(const F* table, int64_t V, int64_t D, const int32_t* ids, int64_t T, F* out) {
  for (int64_t t = 0; t < T; ++t) {
    DSV3_CHECK(ids[t] >= 0 && ids[t] < V, "token id ", ids[t], " is outside the vocabulary [0, ", V, ")");
    std::memcpy(out + t * D, table + int64_t(ids[t]) * D, sizeof(F) * size_t(D));
  }
}

template <class F>
void embedding_backward(const F* d_out, const int32_t* ids, int64_t T, int64_t D, F* d_table) {
  for (int64_t t = 0; t < T; ++t) {
    F* row = d_table + int64_t(ids[t]) * D;
    const F* g = d_out + t * D;
    for (int64_t i = 0; i < D; ++i) row[i] += g[i];
  }
}

template <class F>
RopeTable<F>::RopeTable(const Rope& rope, int64_t P) : dim(rope.dim()), positions(P) {
  const int64_t half = dim / 2;
  softmax_scale = F(rope.softmax_scale());
  cos.resize(size_t(P * half));
  sin.resize(size_t(P * half));
  // Rotating the unit vector (1, 0) of every pair yields exactly (cos, sin) as Rope::apply uses them.
  std::vector<float> unit(static_cast<size_t>(dim));
  for (int64_t p = 0; p < P; ++p) {
    for (int64_t i = 0; i < half; ++i) unit[size_t(2 * i)] = 1.0f, unit[size_t(2 * i + 1)] = 0.0f;
    rope.apply(unit.data(), p);
    for (int64_t i = 0; i < half; ++i) {
      cos[size_t(p * half + i)] = F(unit[size_t(2 * i)]);
      sin[size_t(p * half + i)] = F(unit[size_t(2 * i + 1)]);
    }
  }
}

template <class F>
void RopeTable<F>::forward(F* x, int64_t pos) const {
  DSV3_CHECK(pos >= 0 && pos < positions, "RoPE position ", pos, " outside the table of ", positions);
  const int64_t half = dim / 2;
  const F* c = &cos[size_t(pos * half)];
  const F* s = &sin[size_t(pos * half)];
  for (int64_t i = 0; i < half; ++i) {
    const F a = x[2 * i], b = x[2 * i + 1];
    x[2 * i] = a * c[i] - b * s[i];
    x[2 * i + 1] = a * s[i] + b * c[i];
  }
}

template <class F>
void RopeTable<F>::backward(F* dx, int64_t pos) const {
  DSV3_CHECK(pos >= 0 && pos < positions, "RoPE position ", pos, " outside the table of ", positions);
  const int64_t half = dim / 2;
  const F* c = &cos[size_t(pos * half)];
  const F* s = &sin[size_t(pos * half)];
  for (int64_t i = 0; i < half; ++i) {
    const F a = dx[2 * i], b = dx[2 * i + 1];
    dx[2 * i] = a * c[i] + b * s[i];
    dx[2 * i + 1] = -a * s[i] + b * c[i];
  }
}

template <class F>
double cross_entropy(const F* logits, const int32_t* targets, int64_t T, int64_t V, F grad_scale, F* dlogits) {
  int64_t count = 0;
  for (int64_t t = 0; t < T; ++t) {
    DSV3_CHECK(targets[t] < V, "target id ", targets[t], " is outside the vocabulary [0, ", V, ")");
    count += targets[t] >= 0;
  }
  double total = 0.0;
  const double inv_count = count ? 1.0 / double(count) : 0.0;
  for (int64_t t = 0; t < T; ++t) {
    const F* z = logits + t * V;
    F* d = dlogits ? dlogits + t * V : nullptr;
    if (targets[t] < 0) {
      if (d) std::fill(d, d + V, F(0));
      continue;
    }
    double m = double(z[0]);
    for (int64_t v = 1; v < V; ++v) m = std::max(m, double(z[v]));
    double sum = 0.0;
    for (int64_t v = 0; v < V; ++v) sum += std::exp(double(z[v]) - m);
    const double lse = m + std::log(sum);
    total += lse - double(z[targets[t]]);
    if (!d) continue;
    const double g = double(grad_scale) * inv_count;
    for (int64_t v = 0; v < V; ++v) d[v] = F(std::exp(double(z[v]) - lse) * g);
    d[targets[t]] -= F(g);
  }
  return total * inv_count;
}

#define DSV3_INSTANTIATE(F)                                                                                    \
  template void linear_forward<F>(const F*, const F*, int64_t, int64_t, int64_t, F*);                          \
  template void linear_backward<F>(const F*, const F*, const F*, int64_t, int64_t, int64_t, F*, F*, bool,       \
                                    const F*);                                                                  \
  template void linear_dgrad<F>(const F*, const F*, int64_t, int64_t, int64_t, F*, bool, bool);                 \
  template void linear_wgrad<F>(const F*, const F*, int64_t, int64_t, int64_t, F*, bool, const F*);             \
  template const F* fp8_token_tiles<F>(const F*, int64_t, int64_t, std::vector<F>&);                            \
  template void rmsnorm_forward<F>(const F*, const F*, F, int64_t, int64_t, F*, std::vector<F>&);               \
  template void rmsnorm_backward<F>(const F*, const F*, const F*, const F*, int64_t, int64_t, F*, F*);          \
  template void embedding_forward<F>(const F*, int64_t, int64_t, const int32_t*, int64_t, F*);                  \
  template void embedding_backward<F>(const F*, const int32_t*, int64_t, int64_t, F*);                          \
  template struct RopeTable<F>;                                                                                \
  template double cross_entropy<F>(const F*, const int32_t*, int64_t, int64_t, F, F*);
DSV3_INSTANTIATE(float)
DSV3_INSTANTIATE(double)
#undef DSV3_INSTANTIATE

}  // namespace dsv3
