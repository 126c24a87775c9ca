#include "runtime/token_logprobs.h"

#include <algorithm>
#include <cmath>

namespace dsv3 {

void token_logprobs(const float* logits, int64_t n, int32_t chosen, int64_t k, float* chosen_logprob,
                    std::vector<std::pair<int32_t, float>>* top) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, logits[i]);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(double(logits[i]) - double(mx));
  const double lse = double(mx) + std::log(sum);
  *chosen_logprob = float(double(logits[chosen]) - lse);
  top->clear();
  k = std::min(k, n);
  if (k <= 0) return;
  std::vector<int32_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[size_t(i)] = int32_t(i);
  auto better = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), better);
  for (int64_t i = 0; i < k; ++i) top->push_back({idx[size_t(i)], float(double(logits[idx[size_t(i)]]) - lse)});
}

}  // namespace dsv3
