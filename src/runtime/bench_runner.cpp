#include "runtime/bench_runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

#include "core/error.h"
#include "core/rng.h"
#include "model/weight_registry.h"
#include "runtime/generator.h"

namespace dsv3 {

namespace {

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<int32_t> random_ids(Rng& rng, int64_t n, int64_t vocab) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (auto& id : ids) id = int32_t(rng.next() % uint64_t(vocab));
  return ids;
}

int32_t argmax(const std::vector<float>& v) {
  return int32_t(std::max_element(v.begin(), v.end()) - v.begin());
}

// Buffers of one run, allocated outside the timed region.
struct RunState {
  ContiguousLatentCache cache;
  std::vector<LatentRows> rows;
  std::vector<float> hidden, logits;
  RunState(const Model& m, LatentFormat kv, int64_t capacity, int64_t rows_of_hidden)
      : cache(m.cache_layers(), m.cache_layout(kv), capacity),
        rows(cache.layers()),
        hidden(size_t(rows_of_hidden * m.hidden_size())),
        logits(size_t(m.vocab_size())) {}
};

// Prefill of p tokens into a fresh cache plus the last position's logits (what a generation
// needs before its first token). Returns elapsed seconds.
double time_prefill(const Model& m, LatentFormat kv, const std::vector<int32_t>& ids,
                    const std::function<double()>& now) {
  const int64_t T = int64_t(ids.size()), D = m.hidden_size();
  RunState s(m, kv, T, T);
  const double t0 = now();
  m.forward(ids.data(), T, 0, s.rows, s.hidden.data());
  m.logits(s.hidden.data() + (T - 1) * D, 1, s.logits.data());
  return now() - t0;
}

// Untimed prefill of the prompt, then n timed decode steps: each picks the greedy token from
// the current logits and runs it through the model (absorbed MLA over the latent cache).
double time_decode(const Model& m, LatentFormat kv, const std::vector<int32_t>& prompt, int64_t n,
                   const std::function<double()>& now) {
  const int64_t P = int64_t(prompt.size()), D = m.hidden_size();
  RunState s(m, kv, P + n, P);
  m.forward(prompt.data(), P, 0, s.rows, s.hidden.data());
  m.logits(s.hidden.data() + (P - 1) * D, 1, s.logits.data());
  const double t0 = now();
  for (int64_t i = 0; i < n; ++i) {
    const int32_t next = argmax(s.logits);
    m.forward(&next, 1, P + i, s.rows, s.hidden.data());
    m.logits(s.hidden.data(), 1, s.logits.data());
  }
  return now() - t0;
}

void summarize(BenchResult& r, int64_t timed_tokens) {
  for (double sec : r.seconds) r.tokens_per_s.push_back(sec > 0 ? double(timed_tokens) / sec : 0.0);
  const double n = double(r.tokens_per_s.size());
  double sum = 0;
  for (double v : r.tokens_per_s) sum += v;
  r.mean_tokens_per_s = sum / n;
  double ss = 0;
  for (double v : r.tokens_per_s) ss += (v - r.mean_tokens_per_s) * (v - r.mean_tokens_per_s);
  r.stddev_tokens_per_s = n > 1 ? std::sqrt(ss / (n - 1)) : 0.0;
}

}  // namespace

std::vector<BenchResult> run_bench(const Model& m, const BenchOptions& opt) {
  DSV3_CHECK(opt.repetitions >= 1, "repetitions must be >= 1, got ", opt.repetitions);
  DSV3_CHECK(opt.warmup_runs >= 0, "warm-up runs must be >= 0, got ", opt.warmup_runs);
  DSV3_CHECK(opt.tg_prompt_tokens >= 1, "the decode prompt needs >= 1 token, got ", opt.tg_prompt_tokens);
  const int64_t ctx = context_length(m), V = m.vocab_size();
  // 0 means "no such test" (llama-bench's -p 0 / -n 0); at least one test must remain.
  std::vector<int64_t> prompts, gens;
  for (int64_t p : opt.prompt_lengths) {
    DSV3_CHECK(p >= 0, "prompt lengths must be >= 0, got ", p);
    DSV3_CHECK(p <= ctx, "prompt length ", p, " exceeds the model's context of ", ctx, " tokens");
    if (p > 0) prompts.push_back(p);
  }
  for (int64_t n : opt.gen_lengths) {
    DSV3_CHECK(n >= 0, "generation lengths must be >= 0, got ", n);
    DSV3_CHECK(opt.tg_prompt_tokens + n <= ctx, "prompt ", opt.tg_prompt_tokens, " + ", n,
               " generated tokens exceed the model's context of ", ctx, " tokens");
    if (n > 0) gens.push_back(n);
  }
  DSV3_CHECK(!prompts.empty() || !gens.empty(), "nothing to measure: every prompt and generation length is 0");
  const std::function<double()> now = opt.now ? opt.now : steady_seconds;
  Rng rng(opt.seed);
  std::vector<BenchResult> out;
  for (int64_t p : prompts) {
    BenchResult r;
    r.test = "pp" + std::to_string(p);
    r.is_prompt = true;
    r.n_prompt = p;
    const std::vector<int32_t> ids = random_ids(rng, p, V);
    for (int w = 0; w < opt.warmup_runs; ++w) time_prefill(m, opt.kv_cache, ids, now);
    for (int i = 0; i < opt.repetitions; ++i) r.seconds.push_back(time_prefill(m, opt.kv_cache, ids, now));
    summarize(r, p);
    out.push_back(std::move(r));
  }
  for (int64_t n : gens) {
    BenchResult r;
    r.test = "tg" + std::to_string(n);
    r.n_prompt = opt.tg_prompt_tokens;
    r.n_gen = n;
    const std::vector<int32_t> prompt = random_ids(rng, opt.tg_prompt_tokens, V);
    for (int w = 0; w < opt.warmup_runs; ++w) time_decode(m, opt.kv_cache, prompt, n, now);
    for (int i = 0; i < opt.repetitions; ++i) r.seconds.push_back(time_decode(m, opt.kv_cache, prompt, n, now));
    summarize(r, n);
    out.push_back(std::move(r));
  }
  return out;
}

int64_t decode_weight_bytes_per_token(const Model& m) {
  const ModelConfig& c = m.config();
  const Checkpoint& ckpt = m.checkpoint();
  // A weight's stored bytes plus its FP8 block scales when present.
  auto stored = [&](const std::string& name) {
    int64_t b = int64_t(ckpt.get(name).nbytes);
    const std::string suffix = ".weight";
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      if (const TensorView* s = ckpt.find(name.substr(0, name.size() - suffix.size()) + ".weight_scale_inv"))
        b += int64_t(s->nbytes);
    }
    return b;
  };
  int64_t always = 0, routed = 0;
  for (const WeightSpec& s : weight_specs(c)) {
    switch (decode_share(s, c)) {
      case DecodeShare::kNone: break;
      case DecodeShare::kAll: always += stored(s.name); break;
      case DecodeShare::kRoutedExpert: routed += stored(s.name); break;
    }
  }
  // All routed experts have the same shapes, so routed·K/E is exactly K experts' bytes.
  return always + routed * c.num_experts_per_tok / std::max<int64_t>(c.n_routed_experts, 1);
}

ModelSize model_size(const Model& m) {
  ModelSize s;
  const Checkpoint& ckpt = m.checkpoint();
  for (const std::string& name : ckpt.names()) {
    const TensorView& t = ckpt.get(name);
    s.bytes += int64_t(t.nbytes);
    const bool is_scale = name.ends_with("weight_scale_inv");
    // int4 weights are stored as U8 [N, ceil(K/2)] beside their scales: two weights a byte.
    const bool int4 = t.dtype == DType::U8 && ckpt.find(name + "_scale_inv") != nullptr;
    if (!is_scale) s.params += int4 ? 2 * t.numel() : t.numel();
  }
  return s;
}

}  // namespace dsv3
