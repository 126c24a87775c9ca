// Absorbed MLA attention over a latent cache for one head: the scores and weighted-sum kernels
// (kernels/latent_attention.h) against the per-row form they replaced (a dot per cached row for
// c_kv, another for k_pe, an axpy per row), at DeepSeek-V3's row width (512 + 64) and the
// default model's (64 + 16), for 1, 2 and 4 query rows sharing the cache (plain decode and
// speculative verification with 1 and 3 drafts). Items = query rows × cached rows.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/latent_attention.h"
#include "kernels/vec_ops.h"

namespace dsv3 {
namespace {

struct Setup {
  int64_t rkv, dr, W, T, S;
  std::vector<float> q, cache, scores, out;
  std::vector<const float*> rows;
  std::vector<int64_t> n;
  Setup(int64_t rkv_, int64_t dr_, int64_t T_, int64_t S_) : rkv(rkv_), dr(dr_), W(rkv_ + dr_), T(T_), S(S_) {
    q.assign(size_t(T * W), 0.01f);
    cache.assign(size_t(S * W), 0.02f);
    scores.assign(size_t(T * S), 0.0f);
    out.assign(size_t(T * rkv), 0.0f);
    for (int64_t s = 0; s < S; ++s) rows.push_back(&cache[size_t(s * W)]);
    for (int64_t t = 0; t < T; ++t) n.push_back(S - T + 1 + t);  // causal rows of one step
  }
};

void bm_kernels(benchmark::State& st, int64_t rkv, int64_t dr) {
  Setup b(rkv, dr, st.range(0), st.range(1));
  for (auto _ : st) {
    latent_scores(b.q.data(), b.T, b.n.data(), b.rows.data(), b.W, 0.1f, b.scores.data(), b.S);
    latent_weighted_sum(b.scores.data(), b.S, b.T, b.n.data(), b.rows.data(), b.rkv, b.out.data());
    benchmark::DoNotOptimize(b.out.data());
  }
  st.SetItemsProcessed(int64_t(st.iterations()) * b.T * b.S);
}

void bm_per_row(benchmark::State& st, int64_t rkv, int64_t dr) {
  Setup b(rkv, dr, st.range(0), st.range(1));
  for (auto _ : st) {
    for (int64_t t = 0; t < b.T; ++t) {
      const float* q = &b.q[size_t(t * b.W)];
      float* sc = &b.scores[size_t(t * b.S)];
      for (int64_t s = 0; s < b.n[size_t(t)]; ++s)
        sc[s] = (dot_f32(q, b.rows[size_t(s)], rkv) + dot_f32(q + rkv, b.rows[size_t(s)] + rkv, dr)) * 0.1f;
      float* o = &b.out[size_t(t * rkv)];
      for (int64_t s = 0; s < b.n[size_t(t)]; ++s) axpy_f32(sc[s], b.rows[size_t(s)], o, rkv);
    }
    benchmark::DoNotOptimize(b.out.data());
  }
  st.SetItemsProcessed(int64_t(st.iterations()) * b.T * b.S);
}

int register_all() {
  struct Shape {
    const char* name;
    int64_t rkv, dr;
  };
  for (const Shape& s : {Shape{"v3", 512, 64}, Shape{"default_model", 64, 16}}) {
    const std::string base = std::string("latent_attention/") + s.name;
    benchmark::RegisterBenchmark((base + "/kernels").c_str(), bm_kernels, s.rkv, s.dr)
        ->ArgsProduct({{1, 2, 4}, {512, 4096}});
    benchmark::RegisterBenchmark((base + "/per_row").c_str(), bm_per_row, s.rkv, s.dr)
        ->ArgsProduct({{1, 2, 4}, {512, 4096}});
  }
  return 0;
}

const int kRegistered = register_all();

}  // namespace
}  // namespace dsv3
