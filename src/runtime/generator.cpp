#include "runtime/generator.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "runtime/speculative.h"

namespace dsv3 {

int64_t context_length(const Model& m) {
  const int64_t n = m.config().max_position_embeddings;
  return n > 0 ? n : 4096;
}

GenerateResult generate(const Model& m, const GenerateRequest& req, const std::function<bool(int32_t)>& on_token) {
  if (req.speculative_draft > 0) return generate_speculative(m, req, on_token);
  const int64_t T = int64_t(req.prompt.size()), ctx = context_length(m);
  DSV3_CHECK(T > 0, "the prompt is empty");
  DSV3_CHECK(T < ctx, "the prompt has ", T, " tokens but the model's context is ", ctx, " tokens");
  DSV3_CHECK(req.max_new_tokens >= 0, "the number of tokens to generate must be >= 0");
  const int64_t capacity = std::min(ctx, T + std::max<int64_t>(req.max_new_tokens, 1));
  ContiguousLatentCache cache(m.cache_layers(), m.cache_layout(req.kv_cache), capacity);
  const std::vector<LatentRows> rows = cache.layers();

  const int64_t D = m.hidden_size(), V = m.vocab_size();
  std::vector<float> hidden(size_t(T * D)), logits(static_cast<size_t>(V));
  Sampler sampler(req.sampling);
  GenerateResult res;
  res.finish_reason = "length";
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  // The prompt is always a prefill (even one token), as in the serving engine, so both
  // produce the same tokens.
  m.forward_batch(req.prompt.data(), T, T, {BatchSlice{0, T, 0, &rows}}, hidden.data());
  m.logits(hidden.data() + (T - 1) * D, 1, logits.data());
  res.prefill_seconds = std::chrono::duration<double>(clock::now() - t0).count();
  auto t1 = clock::now();
  int64_t pos = T;
  while (int64_t(res.tokens.size()) < req.max_new_tokens) {
    const int32_t next = sampler.sample(logits.data(), V);
    res.tokens.push_back(next);
    const bool keep_going = on_token ? on_token(next) : true;
    if (std::find(req.stop_ids.begin(), req.stop_ids.end(), next) != req.stop_ids.end() || !keep_going) {
      res.finish_reason = "stop";
      break;
    }
    if (int64_t(res.tokens.size()) == req.max_new_tokens || pos >= capacity) break;
    m.forward(&next, 1, pos, rows, hidden.data());
    m.logits(hidden.data(), 1, logits.data());
    ++pos;
  }
  res.decode_seconds = std::chrono::duration<double>(clock::now() - t1).count();
  return res;
}

}  // namespace dsv3
