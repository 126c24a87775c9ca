// `dsv3 bench` measurements, in the manner of llama-bench: prefill speed (pp<p>: one forward
// of p random tokens into a fresh latent cache) and decode speed (tg<n>: n tokens generated
// one at a time through the latent cache, greedy, no early stop, after a short prompt).
// Each test runs once untimed (warm-up: weights into the page cache, pool threads awake),
// then `repetitions` timed runs; results are the per-run rates with their mean and sample sd.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/transformer.h"

namespace dsv3 {

struct BenchOptions {
  std::vector<int64_t> prompt_lengths{512};  // one pp test per entry
  std::vector<int64_t> gen_lengths{128};     // one tg test per entry
  int repetitions = 5;
  int warmup_runs = 1;         // untimed runs of each test before the timed ones
  int64_t tg_prompt_tokens = 8;  // the short prompt prefilled (untimed) before each tg run
  uint64_t seed = 42;          // token ids are uniform in [0, vocab) from this seed
  LatentFormat kv_cache = LatentFormat::kF32;  // latent cache row format (--kv-cache)
  // Seconds on a monotonic clock; tests inject a fake one. Default: steady_clock.
  std::function<double()> now;
};

struct BenchResult {
  std::string test;      // "pp512", "tg128"
  bool is_prompt = false;  // pp (prefill) or tg (decode)
  int64_t n_prompt = 0;  // tokens prefilled in the timed region (pp), or untimed before it (tg)
  int64_t n_gen = 0;     // tokens decoded in the timed region (tg), 0 for pp
  std::vector<double> seconds;        // per timed run
  std::vector<double> tokens_per_s;   // per timed run: timed tokens / seconds
  double mean_tokens_per_s = 0;       // mean of tokens_per_s (as llama-bench averages)
  double stddev_tokens_per_s = 0;     // sample standard deviation (0 for one run)
};

// Runs every pp test, then every tg test. Throws Error on lengths < 1, repetitions < 1, or
// a test that does not fit the model's context.
std::vector<BenchResult> run_bench(const Model& m, const BenchOptions& opt);

// Weight bytes one decoded token reads, at their stored dtype (FP8 weights with their
// weight_scale_inv): every main-layer tensor (attention, norms, dense MLP, router and its bias,
// shared experts), K/E of the routed experts (exactly K experts' worth, all experts being the
// same size), the final norm and lm_head. Not the embedding table (a row lookup) nor the MTP
// modules (bench decodes without speculation). A tied lm_head counts the embedding once.
int64_t decode_weight_bytes_per_token(const Model& m);

// Summary of the checkpoint for the report: bytes of every stored tensor and the number of
// parameters (every tensor's elements except FP8 scales), MTP modules included.
struct ModelSize {
  int64_t bytes = 0;
  int64_t params = 0;
};
ModelSize model_size(const Model& m);

}  // namespace dsv3
