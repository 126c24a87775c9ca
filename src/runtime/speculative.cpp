#include "runtime/speculative.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <unordered_map>

#include "core/error.h"

namespace dsv3 {

namespace {

using Dist = std::vector<std::pair<int32_t, float>>;

float prob_of(const Dist& d, int32_t id) {
  for (const auto& [i, p] : d)
    if (i == id) return p;
  return 0.0f;
}

// max(0, p − q) renormalised (the residual distribution after a rejected draft).
Dist residual(const Dist& p, const Dist& q) {
  std::unordered_map<int32_t, float> qm;
  for (const auto& [i, v] : q) qm[i] = v;
  Dist r;
  double sum = 0;
  for (const auto& [i, v] : p) {
    auto it = qm.find(i);
    const float d = v - (it == qm.end() ? 0.0f : it->second);
    if (d > 0) {
      r.push_back({i, d});
      sum += d;
    }
  }
  if (r.empty() || sum <= 0) return p;  // p == q: any draw from p is exact
  for (auto& [i, v] : r) v = float(v / sum);
  return r;
}

// Inside reasoning after `id` when we were `inside` before it.
bool thinking_after(bool inside, int32_t id, const GenerateRequest& req) {
  if (id == req.think_begin) return true;
  if (id == req.think_end) return false;
  return inside;
}

}  // namespace

int32_t draw_draft(Sampler& sampler, const float* logits, int64_t V, std::vector<Dist>& q) {
  if (sampler.greedy()) return argmax(logits, V);
  q.push_back(sampler.distribution(logits, V));
  return sampler.draw(q.back());
}

int32_t accept_or_resample(Sampler& sampler, const float* logits, int64_t V, int32_t d, const Dist& q, bool* accepted) {
  const Dist p = sampler.distribution(logits, V);
  const float pd = prob_of(p, d), qd = prob_of(q, d);
  *accepted = qd > 0 && sampler.uniform() < std::min(1.0, double(pd) / double(qd));
  return *accepted ? d : sampler.draw(residual(p, q));
}

bool relaxed_accepts(const float* logits, int64_t V, int32_t draft, int64_t topk, float delta) {
  if (draft < 0 || draft >= V || topk < 1) return false;
  const float ld = logits[draft];
  float m = ld;
  int64_t above = 0;  // tokens ranked strictly before the draft
  for (int64_t i = 0; i < V; ++i) {
    m = std::max(m, logits[i]);
    above += logits[i] > ld;
  }
  if (above >= topk) return false;
  double z = 0;
  for (int64_t i = 0; i < V; ++i) z += std::exp(double(logits[i]) - m);
  const double p_top = 1.0 / z, p_draft = std::exp(double(ld) - m) / z;
  return p_draft >= p_top - double(delta);
}

GenerateResult generate_speculative(const Model& m, const GenerateRequest& req,
                                    const std::function<bool(int32_t)>& on_token) {
  const int64_t P = int64_t(req.prompt.size()), ctx = context_length(m), N = req.speculative_draft;
  DSV3_CHECK(P > 0, "the prompt is empty");
  DSV3_CHECK(P < ctx, "the prompt has ", P, " tokens but the model's context is ", ctx, " tokens");
  DSV3_CHECK(req.max_new_tokens >= 0, "the number of tokens to generate must be >= 0");
  DSV3_CHECK(m.num_mtp() >= 1, "speculative decoding needs an MTP module, but ", m.dir(), " has none");
  DSV3_CHECK(N >= 1 && N <= 16, "--draft must be in [1, 16], got ", N);
  const int64_t D = m.hidden_size(), V = m.vocab_size();
  const int64_t capacity = std::min(ctx, P + std::max<int64_t>(req.max_new_tokens, 1) + N + 1);
  ContiguousLatentCache cache(m.cache_layers(), m.cache_layout(req.kv_cache), capacity);
  const std::vector<LatentRows> rows = cache.layers();
  Sampler sampler(req.sampling);
  const bool relaxed = req.relaxed_topk > 1;
  if (relaxed) {
    DSV3_CHECK(sampler.greedy(), "relaxed acceptance applies to greedy decoding (temperature 0); ",
               "sampling keeps its distribution with the rejection rule");
    DSV3_CHECK(req.think_begin >= 0 && req.think_begin < m.vocab_size() && req.think_end >= 0 &&
                   req.think_end < m.vocab_size(),
               "relaxed acceptance needs the <think> and </think> token ids inside the vocabulary");
    DSV3_CHECK(req.relaxed_delta >= 0 && req.relaxed_delta <= 1, "--relaxed-delta must be in [0, 1], got ",
               req.relaxed_delta);
  }
  GenerateResult res;
  res.finish_reason = "length";
  using Clock = std::chrono::steady_clock;

  std::vector<float> hidden(size_t(std::max(P, N + 1) * D)), logits(size_t((N + 1) * V));
  std::vector<float> h_mtp(size_t(std::max(P, N + 1) * D)), mtp_logits(static_cast<size_t>(V));
  auto t0 = Clock::now();
  m.forward_batch(req.prompt.data(), P, P, {BatchSlice{0, P, 0, &rows}}, hidden.data());
  m.logits(hidden.data() + (P - 1) * D, 1, logits.data());
  res.prefill_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  auto t1 = Clock::now();

  bool done = false;
  bool thinking = false;  // inside a reasoning block after the tokens so far
  for (int32_t id : req.prompt) thinking = thinking_after(thinking, id, req);
  // Emits one token; returns false when generation ends with it.
  auto emit = [&](int32_t id) {
    res.tokens.push_back(id);
    thinking = thinking_after(thinking, id, req);
    const bool keep = on_token ? on_token(id) : true;
    if (std::find(req.stop_ids.begin(), req.stop_ids.end(), id) != req.stop_ids.end() || !keep) {
      res.finish_reason = "stop";
      done = true;
    } else if (int64_t(res.tokens.size()) >= req.max_new_tokens) {
      done = true;
    }
    return !done;
  };
  if (req.max_new_tokens == 0) return res;
  int32_t last = sampler.sample(logits.data(), V);
  int64_t pos = P;  // position of `last`, the newest token, not yet in the cache
  if (!emit(last)) {
    res.decode_seconds = std::chrono::duration<double>(Clock::now() - t1).count();
    return res;
  }

  // MTP module 1 over the prompt: row j combines h_j with token j+1 (the last row with `last`).
  std::vector<int32_t> next_ids(req.prompt.begin() + 1, req.prompt.end());
  next_ids.push_back(last);
  m.mtp_forward(1, hidden.data(), next_ids.data(), P, 0, rows, h_mtp.data(), nullptr, MlaPath::kNaive);
  // h_src: the MTP input for the next draft (the newest MTP output row); mpos: its position.
  std::vector<float> h_src(h_mtp.begin() + (P - 1) * D, h_mtp.begin() + P * D), h_next(static_cast<size_t>(D));

  std::vector<int32_t> verify;
  std::vector<Dist> q_dists;
  while (!done) {
    // Draft n tokens: module k at depth k, module 1 again (one position further) past the
    // last module. The first draft is the MTP prediction from the row just computed.
    const int64_t n = std::min(N, capacity - pos - 1);
    verify.assign(1, last);
    q_dists.clear();
    for (int64_t i = 0; i < n; ++i) {
      if (i > 0) {
        // Module 1 again, one position further, fed its own output and the previous draft.
        m.mtp_forward(1, h_src.data(), &verify.back(), 1, pos + i - 1, rows, h_next.data(), nullptr,
                      MlaPath::kAbsorbed);
        h_src = h_next;
      }
      m.mtp_logits(1, h_src.data(), 1, mtp_logits.data());
      verify.push_back(draw_draft(sampler, mtp_logits.data(), V, q_dists));
    }
    // Verify [last, d1..dn] at positions pos..pos+n with decode numerics (n_prefill = 0).
    const int64_t T = n + 1;
    m.forward_batch(verify.data(), T, 0, {BatchSlice{0, T, pos, &rows}}, hidden.data());
    m.logits(hidden.data(), T, logits.data());
    ++res.verify_steps;
    res.drafted += n;
    int64_t accepted = 0;
    int32_t next = -1;
    bool inside = thinking;  // after verify[0..i]: `last` is already emitted
    for (int64_t i = 0; i <= n; ++i) {
      const float* lg = &logits[size_t(i * V)];
      if (i == n) {  // every draft accepted: the bonus token from the last row
        next = sampler.sample(lg, V);
        break;
      }
      const int32_t d = verify[size_t(i + 1)];
      if (sampler.greedy()) {
        const int32_t target = argmax(lg, V);
        if (target != d) {
          const bool relax = relaxed && inside && d != req.think_begin && d != req.think_end &&
                             relaxed_accepts(lg, V, d, req.relaxed_topk, req.relaxed_delta);
          if (!relax) {
            next = target;
            break;
          }
          ++res.accepted_relaxed;
        }
        inside = thinking_after(inside, d, req);
      } else {
        bool ok = false;
        const int32_t t = accept_or_resample(sampler, lg, V, d, q_dists[size_t(i)], &ok);
        if (!ok) {
          next = t;
          break;
        }
      }
      ++accepted;
    }
    res.accepted += accepted;
    for (int64_t i = 1; i <= accepted && !done; ++i) emit(verify[size_t(i)]);
    if (done) break;
    if (!emit(next)) break;
    // MTP module 1 over the newly verified positions pos..pos+accepted (real inputs overwrite
    // the drafting rows), giving the input of the next draft.
    std::vector<int32_t> ids(verify.begin() + 1, verify.begin() + 1 + accepted);
    ids.push_back(next);
    m.mtp_forward(1, hidden.data(), ids.data(), accepted + 1, pos, rows, h_mtp.data(), nullptr, MlaPath::kAbsorbed);
    h_src.assign(h_mtp.begin() + accepted * D, h_mtp.begin() + (accepted + 1) * D);
    pos += accepted + 1;
    last = next;
    if (pos + 1 >= capacity) break;
  }
  res.decode_seconds = std::chrono::duration<double>(Clock::now() - t1).count();
  return res;
}

}  // namespace dsv3
