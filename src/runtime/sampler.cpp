#include "runtime/sampler.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "kernels/softmax.h"

namespace dsv3 {

void SamplingParams::validate() const {
  DSV3_CHECK(std::isfinite(temperature) && temperature >= 0.0f, "temperature must be >= 0, got ", temperature);
  DSV3_CHECK(top_k >= 0, "top_k must be >= 0, got ", top_k);
  DSV3_CHECK(top_p > 0.0f && top_p <= 1.0f, "top_p must be in (0, 1], got ", top_p);
  DSV3_CHECK(min_p >= 0.0f && min_p <= 1.0f, "min_p must be in [0, 1], got ", min_p);
}

SamplingParams resolve_sampling(const std::string& model_dir, const SamplingOverrides& o) {
  SamplingParams p;
  const std::string path = model_dir + "/generation_config.json";
  if (std::filesystem::exists(path)) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
    DSV3_CHECK(!j.is_discarded() && j.is_object(), path, " is not a JSON object");
    auto num = [&](const char* k, auto& field) {
      if (j.contains(k) && j[k].is_number()) field = j[k].get<std::decay_t<decltype(field)>>();
    };
    num("temperature", p.temperature);
    num("top_k", p.top_k);
    num("top_p", p.top_p);
    num("min_p", p.min_p);
    // do_sample false in generation_config.json means greedy decoding.
    if (j.contains("do_sample") && j["do_sample"].is_boolean() && !j["do_sample"].get<bool>()) p.temperature = 0.0f;
  }
  if (o.temperature) p.temperature = *o.temperature;
  if (o.top_k) p.top_k = *o.top_k;
  if (o.top_p) p.top_p = *o.top_p;
  if (o.min_p) p.min_p = *o.min_p;
  if (o.seed) p.seed = *o.seed;
  p.validate();
  return p;
}

int32_t argmax(const float* logits, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;
  return int32_t(best);
}

Sampler::Sampler(const SamplingParams& p) : p_(p), rng_(p.seed) { p_.validate(); }

namespace {

using Dist = std::vector<std::pair<int32_t, float>>;

// Descending logit, lowest id first on ties: the order draws walk the distribution in.
struct ByLogit {
  const float* x;  // logits / temperature
  bool operator()(const std::pair<int32_t, float>& a, const std::pair<int32_t, float>& b) const {
    const float xa = x[a.first], xb = x[b.first];
    return xa > xb || (xa == xb && a.first < b.first);
  }
};

void renormalise(Dist& v) {
  double total = 0.0;
  for (auto& e : v) total += e.second;
  for (auto& e : v) e.second = float(e.second / total);
}

}  // namespace

Dist Sampler::distribution(const float* logits, int64_t n) const {
  if (p_.temperature == 0.0f || p_.top_k > 0) return distribution_ref(logits, n);  // argmax; top-k is a partial sort
  // Softmax over the whole vocabulary (SIMD exp); then the top-p set from a histogram instead of
  // a sort (which cost as much as the decode step of a small model), in id order.
  std::vector<float> x(static_cast<size_t>(n)), p;
  for (int64_t i = 0; i < n; ++i) x[size_t(i)] = logits[i] / p_.temperature;
  p = x;
  softmax_f32(p.data(), n);
  float top = 0.0f;
  for (float v : p) top = std::max(top, v);
  // min-p keeps tokens with p >= min_p × top, which come first in the order: dropping the rest
  // before top-p changes nothing (they would either be beyond the top-p prefix or cut after it).
  const float cut = p_.min_p > 0.0f ? p_.min_p * top : 0.0f;
  Dist v;
  v.reserve(size_t(n));
  for (int64_t i = 0; i < n; ++i)
    if (p[size_t(i)] >= cut) v.push_back({int32_t(i), p[size_t(i)]});
  if (p_.top_p < 1.0f) {
    // The smallest prefix of the order whose mass reaches top_p, without sorting: bin tokens by
    // the top bits of their probability (exponent + 3 mantissa bits; a higher bin never ranks
    // after a lower one), walk the bins' masses down to the one where top_p is reached, and sort
    // only that bin's tokens.
    constexpr int kShift = 20;
    auto bin = [](float q) { return std::bit_cast<uint32_t>(q) >> kShift; };
    std::vector<double> mass(size_t(1) << (32 - kShift), 0.0);
    for (const auto& e : v) mass[bin(e.second)] += e.second;
    double before = 0.0;  // mass of the bins above `edge`
    int64_t edge = int64_t(mass.size()) - 1;
    for (; edge >= 0 && before + mass[size_t(edge)] < p_.top_p; --edge) before += mass[size_t(edge)];
    if (edge >= 0) {  // else the mass never reached top_p (rounding): keep everything
      std::vector<std::pair<int32_t, float>> edge_bin;
      for (const auto& e : v)
        if (bin(e.second) == uint32_t(edge)) edge_bin.push_back(e);
      std::sort(edge_bin.begin(), edge_bin.end(), ByLogit{x.data()});
      size_t keep = edge_bin.size();
      for (size_t k = 0; k < edge_bin.size(); ++k) {
        before += edge_bin[k].second;
        if (before >= p_.top_p) {
          keep = k + 1;
          break;
        }
      }
      std::vector<uint8_t> kept_in_edge(static_cast<size_t>(n), 0);
      for (size_t k = 0; k < keep; ++k) kept_in_edge[size_t(edge_bin[k].first)] = 1;
      size_t out = 0;  // v stays in id order
      for (const auto& e : v)
        if (bin(e.second) > uint32_t(edge) || kept_in_edge[size_t(e.first)]) v[out++] = e;
      v.resize(out);
    }
  }
  renormalise(v);
  return v;
}

Dist Sampler::distribution_ref(const float* logits, int64_t n) const {
  Dist v;
  if (p_.temperature == 0.0f) {
    v.push_back({argmax(logits, n), 1.0f});
    return v;
  }
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[size_t(i)] = logits[i] / p_.temperature;
  v.reserve(size_t(n));
  for (int64_t i = 0; i < n; ++i) v.push_back({int32_t(i), x[size_t(i)]});
  const ByLogit by_logit{x.data()};
  if (p_.top_k > 0 && p_.top_k < n) {
    std::partial_sort(v.begin(), v.begin() + p_.top_k, v.end(), by_logit);
    v.resize(size_t(p_.top_k));
  } else {
    std::sort(v.begin(), v.end(), by_logit);
  }
  // Softmax over the survivors (sorted descending).
  const float m = v.front().second;
  double sum = 0.0;
  for (auto& [id, e] : v) {
    e = std::exp(e - m);
    sum += e;
  }
  for (auto& [id, e] : v) e = float(e / sum);
  if (p_.top_p < 1.0f) {  // smallest prefix whose mass reaches top_p (always >= 1 token)
    double cum = 0.0;
    size_t keep = 0;
    while (keep < v.size()) {
      cum += v[keep].second;
      ++keep;
      if (cum >= p_.top_p) break;
    }
    v.resize(keep);
  }
  if (p_.min_p > 0.0f) {  // drop tokens below min_p × the top probability
    const float cut = p_.min_p * v.front().second;
    while (v.size() > 1 && v.back().second < cut) v.pop_back();
  }
  renormalise(v);
  return v;
}

int32_t Sampler::sample(const float* logits, int64_t n) {
  if (p_.temperature == 0.0f) return argmax(logits, n);
  return draw(distribution(logits, n));
}

int32_t Sampler::draw(const std::vector<std::pair<int32_t, float>>& dist) {
  double u = rng_.uniform_double(), cum = 0.0;
  for (const auto& [id, p] : dist) {
    cum += p;
    if (u < cum) return id;
  }
  return dist.back().first;
}

double Sampler::uniform() { return rng_.uniform_double(); }

}  // namespace dsv3
