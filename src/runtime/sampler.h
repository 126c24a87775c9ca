// Next-token sampling with Hugging Face `generate` semantics: logits / temperature, then
// top-k, top-p (nucleus), min-p filtering, then a draw. temperature 0 means greedy (argmax,
// lowest id on ties). Draws come from a seeded generator, so a seed reproduces a run.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/rng.h"

namespace dsv3 {

struct SamplingParams {
  float temperature = 1.0f;
  int64_t top_k = 0;   // 0 = off
  float top_p = 1.0f;  // 1 = off
  float min_p = 0.0f;  // 0 = off
  uint64_t seed = 0;
  // Throws Error naming the field when out of range.
  void validate() const;
};

// Fills fields that are unset (nullopt) from DIR/generation_config.json when present
// (temperature, top_k, top_p, min_p), then from the defaults above.
struct SamplingOverrides {
  std::optional<float> temperature, top_p, min_p;
  std::optional<int64_t> top_k;
  std::optional<uint64_t> seed;
};
SamplingParams resolve_sampling(const std::string& model_dir, const SamplingOverrides& o);

int32_t argmax(const float* logits, int64_t n);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  // Picks the next token from logits[0..n). Does not modify logits.
  int32_t sample(const float* logits, int64_t n);
  // The filtered, renormalised distribution sample() draws from (tests, speculative decoding):
  // most likely first with top-k, else in id order (no sort of the vocabulary).
  std::vector<std::pair<int32_t, float>> distribution(const float* logits, int64_t n) const;
  // Its plain twin: sorts the whole vocabulary, std::exp, most likely first (the same set with
  // the same probabilities; the test compares the two).
  std::vector<std::pair<int32_t, float>> distribution_ref(const float* logits, int64_t n) const;
  // A draw from a distribution (pairs of id and probability summing to ~1), and a uniform
  // number in [0, 1), from this sampler's generator (speculative decoding's acceptance test).
  int32_t draw(const std::vector<std::pair<int32_t, float>>& dist);
  double uniform();
  bool greedy() const { return p_.temperature == 0.0f; }

 private:
  SamplingParams p_;
  Rng rng_;
};

}  // namespace dsv3
