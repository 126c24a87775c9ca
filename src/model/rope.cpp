#include "model/rope.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace dsv3 {

double yarn_mscale(double factor, double mscale) {
  return factor <= 1.0 ? 1.0 : 0.1 * mscale * std::log(factor) + 1.0;
}

namespace {
// Dimension index at which a wavelength completes `rotations` turns over the original
// context (YaRN's find_correction_dim).
double correction_dim(double rotations, int64_t dim, double base, double max_pos) {
  return (double(dim) * std::log(max_pos / (rotations * 2.0 * M_PI))) / (2.0 * std::log(base));
}
}  // namespace

Rope::Rope(const ModelConfig& c) : dim_(c.qk_rope_head_dim) {
  DSV3_CHECK(dim_ % 2 == 0, "qk_rope_head_dim must be even, got ", dim_);
  const int64_t half = dim_ / 2;
  const double base = c.rope_theta;
  inv_freq_.resize(size_t(half));
  // torch computes base ** (arange(0, dim, 2) / dim) in float32; match that rounding.
  std::vector<float> extra(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    float expo = float(2 * i) / float(dim_);
    extra[size_t(i)] = 1.0f / std::pow(float(base), expo);
  }
  double attn_mscale = 1.0;
  const RopeScaling& rs = c.rope_scaling;
  if (rs.type == "yarn") {
    const double f = rs.factor;
    double lo = std::floor(correction_dim(rs.beta_fast, dim_, base, double(rs.original_max_position_embeddings)));
    double hi = std::ceil(correction_dim(rs.beta_slow, dim_, base, double(rs.original_max_position_embeddings)));
    lo = std::max(lo, 0.0);
    hi = std::min(hi, double(dim_ - 1));
    if (lo == hi) hi += 0.001;  // avoid a zero-width ramp
    for (int64_t i = 0; i < half; ++i) {
      float ramp = std::clamp(float((double(i) - lo) / (hi - lo)), 0.0f, 1.0f);
      float keep = 1.0f - ramp;  // 1 => extrapolate (high frequency), 0 => interpolate
      float inter = 1.0f / (float(f) * std::pow(float(base), float(2 * i) / float(dim_)));
      inv_freq_[size_t(i)] = inter * (1.0f - keep) + extra[size_t(i)] * keep;
    }
    cos_sin_scale_ = float(yarn_mscale(f, rs.mscale) / yarn_mscale(f, rs.mscale_all_dim));
    if (rs.mscale_all_dim != 0.0) attn_mscale = yarn_mscale(f, rs.mscale_all_dim);
  } else {
    inv_freq_ = extra;
  }
  softmax_scale_ = float(1.0 / std::sqrt(double(c.qk_head_dim())) * attn_mscale * attn_mscale);
}

void Rope::cos_sin(int64_t pos, float* cs) const {
  const int64_t half = dim_ / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float angle = float(pos) * inv_freq_[size_t(i)];  // float32 product, as torch.outer does
    cs[2 * i] = float(std::cos(double(angle))) * cos_sin_scale_;
    cs[2 * i + 1] = float(std::sin(double(angle))) * cos_sin_scale_;
  }
}

void Rope::rotate(float* x, const float* cs) const {
  const int64_t half = dim_ / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float c = cs[2 * i], s = cs[2 * i + 1], a = x[2 * i], b = x[2 * i + 1];
    x[2 * i] = a * c - b * s;
    x[2 * i + 1] = a * s + b * c;
  }
}

void Rope::apply(float* x, int64_t pos) const {
  std::vector<float> cs(static_cast<size_t>(dim_));
  cos_sin(pos, cs.data());
  rotate(x, cs.data());
}

}  // namespace dsv3
