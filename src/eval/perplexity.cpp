#include "eval/perplexity.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/thread_pool.h"
#include "model/latent_cache.h"

namespace dsv3 {

std::vector<EvalWindow> eval_windows(int64_t n, int64_t ctx, int64_t stride) {
  DSV3_CHECK(ctx >= 2, "--ctx must be at least 2, got ", ctx);
  DSV3_CHECK(stride >= 1 && stride <= ctx, "--stride must be between 1 and --ctx (", ctx, "), got ", stride);
  std::vector<EvalWindow> out;
  int64_t prev_end = 0;
  for (int64_t begin = 0; begin < n; begin += stride) {
    const int64_t end = std::min(begin + ctx, n);
    const int64_t first = std::max(prev_end, begin + 1);
    if (first < end) out.push_back({begin, end, first});
    prev_end = end;
    if (end == n) break;
  }
  return out;
}

std::vector<float> window_logits(const Model& m, const std::vector<int32_t>& ids, const EvalWindow& w, EvalMode mode,
                                 LatentFormat kv) {
  const int64_t T = w.end - w.begin, D = m.hidden_size(), V = m.vocab_size();
  ContiguousLatentCache cache(m.cache_layers(), m.cache_layout(kv), T);
  std::vector<float> hidden(size_t(T * D)), logits(size_t(T * V));
  if (mode == EvalMode::kPrefill) {
    m.forward(ids.data() + w.begin, T, 0, cache.layers(), hidden.data());
  } else {
    for (int64_t i = 0; i < T; ++i) m.forward(ids.data() + w.begin + i, 1, i, cache.layers(), hidden.data() + i * D);
  }
  matmul(hidden.data(), T, m.weights().lm_head, logits.data());
  return logits;
}

namespace {

// log-softmax statistics of one logits row, in double.
struct RowStats {
  double max = 0, log_z = 0;  // log Σ exp(l - max)
  int64_t argmax = 0;
};

RowStats row_stats(const float* l, int64_t V) {
  RowStats s;
  s.max = l[0];
  for (int64_t v = 1; v < V; ++v)
    if (l[v] > s.max) s.max = l[v], s.argmax = v;
  double z = 0;
  for (int64_t v = 0; v < V; ++v) z += std::exp(double(l[v]) - s.max);
  s.log_z = std::log(z);
  return s;
}

double logprob(const float* l, const RowStats& s, int64_t v) { return double(l[v]) - s.max - s.log_z; }

// Σ_v p(v) (log p(v) - log q(v)) for p = softmax(lp), q = softmax(lq).
double kl_row(const float* lp, const RowStats& sp, const float* lq, const RowStats& sq, int64_t V) {
  double kl = 0;
  for (int64_t v = 0; v < V; ++v) {
    const double a = logprob(lp, sp, v), b = logprob(lq, sq, v);
    kl += std::exp(a) * (a - b);
  }
  return std::max(0.0, kl);
}

void check_ids(const std::vector<int32_t>& ids, int64_t V) {
  DSV3_CHECK(ids.size() >= 2, "eval: the text has ", ids.size(), " token(s); at least 2 are needed");
  for (int32_t id : ids) DSV3_CHECK(id >= 0 && id < V, "eval: token id ", id, " is outside the model's vocabulary of ", V);
}

}  // namespace

PerplexityResult perplexity(const Model& m, const std::vector<int32_t>& ids, int64_t ctx, int64_t stride, EvalMode mode,
                            LatentFormat kv) {
  const int64_t V = m.vocab_size();
  check_ids(ids, V);
  PerplexityResult r;
  double nll = 0;
  for (const EvalWindow& w : eval_windows(int64_t(ids.size()), ctx, stride)) {
    const std::vector<float> logits = window_logits(m, ids, w, mode, kv);
    // Positions are independent: computed in parallel, summed in order (deterministic).
    std::vector<double> pos_nll(size_t(w.end - w.first));
    ThreadPool::global().parallel_for(w.end - w.first, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const int64_t j = w.first + i;
        const float* l = logits.data() + (j - 1 - w.begin) * V;
        pos_nll[size_t(i)] = -logprob(l, row_stats(l, V), ids[size_t(j)]);
      }
    });
    for (double v : pos_nll) nll += v;
    r.tokens += w.end - w.first;
    ++r.windows;
  }
  r.nll = nll / double(r.tokens);
  r.ppl = std::exp(r.nll);
  return r;
}

KlResult kl_divergence(const Model& m, const Model& ref, const std::vector<int32_t>& ids, int64_t ctx, int64_t stride,
                       EvalMode mode, LatentFormat kv) {
  const int64_t V = m.vocab_size();
  DSV3_CHECK(ref.vocab_size() == V, "eval kl: vocabulary sizes differ (", V, " vs reference ", ref.vocab_size(), ")");
  check_ids(ids, V);
  KlResult r;
  double kl = 0, nll = 0, ref_nll = 0;
  int64_t agree = 0;
  struct Pos {
    double kl, nll, ref_nll;
    bool agree;
  };
  for (const EvalWindow& w : eval_windows(int64_t(ids.size()), ctx, stride)) {
    const std::vector<float> lm = window_logits(m, ids, w, mode, kv), lr = window_logits(ref, ids, w, mode);
    std::vector<Pos> pos(size_t(w.end - w.first));
    ThreadPool::global().parallel_for(w.end - w.first, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const int64_t j = w.first + i, row = (j - 1 - w.begin) * V;
        const float *pm = lm.data() + row, *pr = lr.data() + row;
        const RowStats sm = row_stats(pm, V), sr = row_stats(pr, V);
        pos[size_t(i)] = {kl_row(pr, sr, pm, sm, V), -logprob(pm, sm, ids[size_t(j)]), -logprob(pr, sr, ids[size_t(j)]),
                          sm.argmax == sr.argmax};
      }
    });
    for (const Pos& p : pos) {
      kl += p.kl, nll += p.nll, ref_nll += p.ref_nll, agree += p.agree;
      r.kl_max = std::max(r.kl_max, p.kl);
    }
    r.tokens += w.end - w.first;
    ++r.windows;
  }
  const double n = double(r.tokens);
  r.kl = kl / n;
  r.top1_agree = double(agree) / n;
  r.model = {r.tokens, r.windows, nll / n, std::exp(nll / n)};
  r.ref = {r.tokens, r.windows, ref_nll / n, std::exp(ref_nll / n)};
  return r;
}

}  // namespace dsv3
