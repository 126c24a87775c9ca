#include "train/balance_loss.h"

#include <vector>

#include "core/error.h"

namespace dsv3 {

namespace {

void check(int64_t B, int64_t T, int64_t E, int64_t K) {
  DSV3_CHECK(B > 0 && T > 0 && E > 0 && K > 0 && K <= E, "balance_loss: bad shape B=", B, " T=", T, " E=", E,
             " K=", K);
}

// f_i of one sequence (eq. 18): E / (K·T) · count of tokens that chose expert i.
template <class F>
std::vector<F> expert_fraction(const int32_t* expert, int64_t T, int64_t E, int64_t K) {
  std::vector<F> f(size_t(E), F(0));
  for (int64_t i = 0; i < T * K; ++i) {
    DSV3_CHECK(expert[i] >= 0 && expert[i] < E, "balance_loss: expert index ", expert[i], " out of range");
    f[size_t(expert[i])] += F(1);
  }
  const F c = F(double(E) / double(K * T));
  for (F& v : f) v *= c;
  return f;
}

}  // namespace

template <class F>
F balance_loss_forward(const F* scores, const int32_t* expert, int64_t B, int64_t T, int64_t E, int64_t K,
                       double alpha) {
  check(B, T, E, K);
  F total = 0;
  for (int64_t b = 0; b < B; ++b) {
    const auto f = expert_fraction<F>(expert + b * T * K, T, E, K);
    F lb = 0;
    for (int64_t t = 0; t < T; ++t) {
      const F* s = scores + (b * T + t) * E;
      F sum = 0, dot = 0;
      for (int64_t e = 0; e < E; ++e) {
        sum += s[e];
        dot += f[size_t(e)] * s[e];
      }
      lb += dot / sum;  // Σ_i f_i·s'_{i,t}
    }
    total += lb / F(T);
  }
  return F(alpha) * total / F(B);
}

template <class F>
void balance_loss_backward(const F* scores, const int32_t* expert, int64_t B, int64_t T, int64_t E, int64_t K,
                           double alpha, F d_loss, F* d_scores) {
  check(B, T, E, K);
  // dL/ds'_{i,t} = c·f_i with c = d_loss·α/(B·T); through s' = s/Σs:
  //   dL/ds_{j,t} = c·(f_j − Σ_i f_i·s'_{i,t}) / Σ_i s_{i,t}.
  const F c = d_loss * F(alpha) / F(double(B * T));
  for (int64_t b = 0; b < B; ++b) {
    const auto f = expert_fraction<F>(expert + b * T * K, T, E, K);
    for (int64_t t = 0; t < T; ++t) {
      const F* s = scores + (b * T + t) * E;
      F* ds = d_scores + (b * T + t) * E;
      F sum = 0, dot = 0;
      for (int64_t e = 0; e < E; ++e) {
        sum += s[e];
        dot += f[size_t(e)] * s[e];
      }
      for (int64_t e = 0; e < E; ++e) ds[e] += c * (f[size_t(e)] - dot / sum) / sum;
    }
  }
}

template float balance_loss_forward<float>(const float*, const int32_t*, int64_t, int64_t, int64_t, int64_t, double);
template double balance_loss_forward<double>(const double*, const int32_t*, int64_t, int64_t, int64_t, int64_t,
                                             double);
template void balance_loss_backward<float>(const float*, const int32_t*, int64_t, int64_t, int64_t, int64_t, double,
                                           float, float*);
template void balance_loss_backward<double>(const double*, const int32_t*, int64_t, int64_t, int64_t, int64_t,
                                            double, double, double*);

}  // namespace dsv3
