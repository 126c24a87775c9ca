#include "train/train_init.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/rng.h"

namespace dsv3 {

void init_train_params(ParamSet<float>& p, double initializer_range, uint64_t seed) {
  for (size_t i = 0; i < p.size(); ++i) {
    const WeightSpec& s = p.specs()[i];
    float* w = p.tensor(i);
    const int64_t n = p.numel(i);
    if (s.role == WeightRole::kNorm) {
      std::fill(w, w + n, 1.0f);
      continue;
    }
    if (s.role == WeightRole::kBias) {
      std::fill(w, w + n, 0.0f);
      continue;
    }
    const int64_t cols = s.shape.size() > 1 ? s.shape[1] : n, rows = n / cols;
    const uint64_t base = seed ^ hash_name(s.name);
    for (int64_t r = 0; r < rows; ++r) {
      Rng rng(base + uint64_t(r) * 0x9e3779b97f4a7c15ull);
      float* row = w + r * cols;
      for (int64_t c = 0; c < cols; c += 2) {  // Box-Muller: two normals per pair of uniforms
        const double u1 = 1.0 - rng.uniform_double(), u2 = rng.uniform_double();  // u1 in (0, 1]
        const double rad = std::sqrt(-2.0 * std::log(u1)) * initializer_range;
        row[c] = float(rad * std::cos(2.0 * std::numbers::pi * u2));
        if (c + 1 < cols) row[c + 1] = float(rad * std::sin(2.0 * std::numbers::pi * u2));
      }
    }
  }
}

}  // namespace dsv3
