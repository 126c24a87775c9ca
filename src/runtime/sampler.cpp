#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"

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

std::vector<std::pair<int32_t, float>> Sampler::distribution(const float* logits, int64_t n) const {
  std::vector<std::pair<int32_t, float>> v;
  if (p_.temperature == 0.0f) {
    v.push_back({argmax(logits, n), 1.0f});
    return v;
  }
  v.reserve(size_t(n));
  for (int64_t i = 0; i < n; ++i) v.push_back({int32_t(i), logits[i] / p_.temperature});
  auto by_logit = [](const auto& a, const auto& b) { return a.second > b.second || (a.second == b.second && a.first < b.first); };
  if (p_.top_k > 0 && p_.top_k < n) {
    std::partial_sort(v.begin(), v.begin() + p_.top_k, v.end(), by_logit);
    v.resize(size_t(p_.top_k));
  } else {
    std::sort(v.begin(), v.end(), by_logit);
  }
  // Softmax over the survivors (sorted descending).
  const float m = v.front().second;
  double sum = 0.0;
  for (auto& [id, x] : v) {
    x = std::exp(x - m);
    sum += x;
  }
  for (auto& [id, x] : v) x = float(x / sum);
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
  double total = 0.0;
  for (auto& e : v) total += e.second;
  for (auto& e : v) e.second = float(e.second / total);
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
