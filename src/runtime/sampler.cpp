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

// Pairs of (id, logit / temperature): descending, lowest id first on ties. The order of
// distribution_ref, and of the top-p edge bin in distribution.
bool by_logit(const std::pair<int32_t, float>& a, const std::pair<int32_t, float>& b) {
  return a.second > b.second || (a.second == b.second && a.first < b.first);
}

void renormalise(Dist& v) {
  double total = 0.0;
  for (auto& e : v) total += e.second;
  const double inv = 1.0 / total;
  for (auto& e : v) e.second = float(e.second * inv);
}

}  // namespace

Dist Sampler::distribution(const float* logits, int64_t n) const {
  if (p_.temperature == 0.0f || p_.top_k > 0) return distribution_ref(logits, n);  // argmax; top-k is a partial sort
  // Softmax over the whole vocabulary (SIMD exp); then the top-p set from a histogram instead of
  // a sort (which cost as much as the decode step of a small model), in id order. Scratch is
  // per thread and reused: at 129280 tokens fresh buffers cost page faults on every call.
  thread_local std::vector<float> p;
  thread_local std::vector<double> mass;
  p.resize(static_cast<size_t>(n));
  const float inv_t = 1.0f / p_.temperature;
  for (int64_t i = 0; i < n; ++i) p[size_t(i)] = logits[i] * inv_t;
  softmax_f32(p.data(), n);
  float tops[8] = {};  // eight running maxima: one maxss chain was a third of the time
  int64_t i8 = 0;
  for (; i8 + 8 <= n; i8 += 8)
    for (int j = 0; j < 8; ++j) tops[j] = std::max(tops[j], p[size_t(i8 + j)]);
  for (; i8 < n; ++i8) tops[0] = std::max(tops[0], p[size_t(i8)]);
  const float top = *std::max_element(tops, tops + 8);
  // Non-finite logits (a diverged model: NaN, +inf, or all -inf) leave no probability to draw
  // from: fall back to the argmax, a valid id, as distribution_ref does for greedy.
  if (!(top > 0.0f) || !std::isfinite(top)) return Dist{{argmax(logits, n), 1.0f}};
  // min-p keeps tokens with p >= min_p × top, which come first in the order: dropping the rest
  // before top-p changes nothing (they would either be beyond the top-p prefix or cut after it).
  const float cut = p_.min_p > 0.0f ? p_.min_p * top : 0.0f;
  // Top-p: the smallest prefix of the order whose mass reaches top_p. Tokens are binned by the
  // top bits of their probability (exponent + 3 mantissa bits), the bins' masses walked down to
  // the one where top_p is reached, and only that bin's tokens sorted. keep_bin: bins above it
  // are kept whole. The SIMD exp is not monotone to the last ulp, so two logits a few ulps
  // apart can land on either side of a bin boundary (or of the min-p cut) in swapped order:
  // then the set differs from distribution_ref's by one of two tokens of equal probability
  // (within ~1e-7 relative), which does not change the distribution.
  constexpr int kShift = 20;
  auto bin = [](float q) { return std::bit_cast<uint32_t>(q) >> kShift; };
  uint32_t keep_bin = 0;
  std::vector<int32_t> edge_kept;  // ids kept from bin keep_bin - 1 (sorted), when top-p cuts there
  if (p_.top_p < 1.0f) {
    mass.assign(size_t(1) << (32 - kShift), 0.0);
    for (int64_t i = 0; i < n; ++i)
      if (p[size_t(i)] >= cut) mass[bin(p[size_t(i)])] += p[size_t(i)];
    double before = 0.0;  // mass of the bins above `edge`
    int64_t edge = int64_t(mass.size()) - 1;
    for (; edge >= 0 && before + mass[size_t(edge)] < p_.top_p; --edge) before += mass[size_t(edge)];
    if (edge >= 0) {  // else the mass never reached top_p (rounding): keep everything
      Dist edge_bin;  // (id, logit / temperature), sorted as distribution_ref orders them
      for (int64_t i = 0; i < n; ++i)
        if (p[size_t(i)] >= cut && bin(p[size_t(i)]) == uint32_t(edge))
          edge_bin.push_back({int32_t(i), logits[i] / p_.temperature});
      std::sort(edge_bin.begin(), edge_bin.end(), by_logit);
      for (const auto& [id, x] : edge_bin) {
        edge_kept.push_back(id);
        before += p[size_t(id)];
        if (before >= p_.top_p) break;
      }
      std::sort(edge_kept.begin(), edge_kept.end());
      keep_bin = uint32_t(edge) + 1;
    }
  }
  Dist v;
  size_t count = edge_kept.size();
  for (int64_t i = 0; i < n; ++i) count += p[size_t(i)] >= cut && bin(p[size_t(i)]) >= keep_bin;
  v.reserve(count);
  size_t next_edge = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float q = p[size_t(i)];
    if (q < cut) continue;
    const uint32_t b = bin(q);
    if (b >= keep_bin) {
      v.push_back({int32_t(i), q});
    } else if (b + 1 == keep_bin && next_edge < edge_kept.size() && edge_kept[next_edge] == int32_t(i)) {
      v.push_back({int32_t(i), q});
      ++next_edge;
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
  v.reserve(size_t(n));
  for (int64_t i = 0; i < n; ++i) v.push_back({int32_t(i), logits[i] / p_.temperature});
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
  DSV3_CHECK(!dist.empty(), "sampling from an empty distribution");
  double u = rng_.uniform_double(), cum = 0.0;
  size_t best = 0;
  for (size_t i = 0; i < dist.size(); ++i) {
    cum += dist[i].second;
    if (u < cum) return dist[i].first;
    if (dist[i].second > dist[best].second) best = i;
  }
  return dist[best].first;  // u beyond the rounded total: the most likely token, never a p = 0 one
}

double Sampler::uniform() { return rng_.uniform_double(); }

}  // namespace dsv3
