#include "train/adamw.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"

namespace dsv3 {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

constexpr double kMaxExactStep = 16777216.0;  // 2^24: the step count must stay exact in f32

}  // namespace

bool default_weight_decay(const std::string& name) {
  if (ends_with(name, "bias")) return false;
  if (ends_with(name, "norm.weight") || ends_with(name, "norm")) return false;  // input_layernorm, kv_a_layernorm, enorm, …
  return true;
}

AdamW::AdamW(const AdamWConfig& cfg, std::vector<ParamSpan> spans) : cfg_(cfg), spans_(std::move(spans)) {
  DSV3_CHECK(cfg_.beta1 >= 0 && cfg_.beta1 < 1 && cfg_.beta2 >= 0 && cfg_.beta2 < 1 && cfg_.eps > 0 &&
                 cfg_.weight_decay >= 0,
             "adamw: invalid hyper-parameters beta1=", cfg_.beta1, " beta2=", cfg_.beta2, " eps=", cfg_.eps,
             " weight_decay=", cfg_.weight_decay);
  std::vector<const ParamSpan*> by_offset;
  std::map<std::string, int> names;
  for (const auto& s : spans_) {
    DSV3_CHECK(s.offset >= 0 && s.size >= 0, "adamw: parameter '", s.name, "' has a negative offset or size");
    DSV3_CHECK(names[s.name]++ == 0, "adamw: parameter '", s.name, "' listed twice");
    size_ = std::max(size_, s.offset + s.size);
    by_offset.push_back(&s);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    DSV3_CHECK(by_offset[i - 1]->offset + by_offset[i - 1]->size <= by_offset[i]->offset, "adamw: parameters '",
               by_offset[i - 1]->name, "' and '", by_offset[i]->name, "' overlap");
  m_.assign(size_t(size_), 0.0f);
  v_.assign(size_t(size_), 0.0f);
}

void AdamW::step(float* params, const float* grads, double lr) {
  DSV3_CHECK(double(t_ + 1) < kMaxExactStep, "adamw: step count exceeds 2^24");
  ++t_;
  // Scalars in double, as torch computes them in Python floats; element math in f32.
  const double bc1 = 1.0 - std::pow(cfg_.beta1, double(t_));
  const double bc2_sqrt = std::sqrt(1.0 - std::pow(cfg_.beta2, double(t_)));
  const float b1 = float(cfg_.beta1), b2 = float(cfg_.beta2), one_b1 = float(1.0 - cfg_.beta1),
              one_b2 = float(1.0 - cfg_.beta2), eps = float(cfg_.eps), c2 = float(bc2_sqrt);
  const float step_size = float(lr / bc1);
  for (const auto& s : spans_) {
    const float keep = s.decay ? float(1.0 - lr * cfg_.weight_decay) : 1.0f;
    float* p = params + s.offset;
    const float* g = grads + s.offset;
    float* m = m_.data() + s.offset;
    float* v = v_.data() + s.offset;
    for (int64_t i = 0; i < s.size; ++i) {
      p[i] *= keep;
      m[i] = m[i] * b1 + g[i] * one_b1;
      v[i] = v[i] * b2 + one_b2 * g[i] * g[i];  // torch's addcmul order
      const float denom = std::sqrt(v[i]) / c2 + eps;
      p[i] += (-step_size * m[i]) / denom;  // torch's addcdiv order
    }
  }
}

std::vector<NamedBuffer> AdamW::state() const {
  std::vector<NamedBuffer> out;
  out.push_back({"adamw.step", {float(t_)}});
  for (const auto& s : spans_) {
    out.push_back({s.name + ".exp_avg", std::vector<float>(m_.begin() + s.offset, m_.begin() + s.offset + s.size)});
    out.push_back({s.name + ".exp_avg_sq", std::vector<float>(v_.begin() + s.offset, v_.begin() + s.offset + s.size)});
  }
  return out;
}

void AdamW::load_state(const std::vector<NamedBuffer>& buffers) {
  std::map<std::string, const std::vector<float>*> by_name;
  for (const auto& b : buffers) by_name[b.name] = &b.data;
  auto get = [&](const std::string& name, int64_t size) -> const std::vector<float>& {
    auto it = by_name.find(name);
    DSV3_CHECK(it != by_name.end(), "adamw state: buffer '", name, "' is missing");
    DSV3_CHECK(int64_t(it->second->size()) == size, "adamw state: buffer '", name, "' has ", it->second->size(),
               " values, expected ", size);
    return *it->second;
  };
  const float step = get("adamw.step", 1)[0];
  DSV3_CHECK(step >= 0 && step < kMaxExactStep && step == std::floor(step), "adamw state: invalid step ", step);
  std::vector<std::pair<const std::vector<float>*, const std::vector<float>*>> mv;
  for (const auto& s : spans_) mv.push_back({&get(s.name + ".exp_avg", s.size), &get(s.name + ".exp_avg_sq", s.size)});
  if (by_name.size() != 1 + 2 * spans_.size())
    for (const auto& [name, data] : by_name) {
      const bool known = name == "adamw.step" ||
                         std::any_of(spans_.begin(), spans_.end(), [&](const ParamSpan& s) {
                           return name == s.name + ".exp_avg" || name == s.name + ".exp_avg_sq";
                         });
      DSV3_CHECK(known, "adamw state: unexpected buffer '", name, "'");
    }
  // Everything checked: now overwrite (a failed load leaves the optimizer unchanged).
  for (size_t i = 0; i < spans_.size(); ++i) {
    std::copy(mv[i].first->begin(), mv[i].first->end(), m_.begin() + spans_[i].offset);
    std::copy(mv[i].second->begin(), mv[i].second->end(), v_.begin() + spans_[i].offset);
  }
  t_ = int64_t(step);
}

double clip_grad_norm(float* grads, int64_t n, double max_norm) {
  double sq = 0;
  for (int64_t i = 0; i < n; ++i) sq += double(grads[i]) * double(grads[i]);
  const double norm = std::sqrt(sq);
  if (max_norm > 0) {
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
      const float c = float(coef);
      for (int64_t i = 0; i < n; ++i) grads[i] *= c;
    }
  }
  return norm;
}

}  // namespace dsv3
