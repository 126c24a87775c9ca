// Next-token sampling per decode step (runtime/sampler.h): Sampler::distribution (softmax and a
// probability histogram for top-p) against distribution_ref (full sort of the vocabulary), at
// the default model's vocabulary (4096) and DeepSeek-V3's (129280), for a flat and a peaked
// next-token distribution (logits drawn with standard deviation 1 and 4), and with top-k 40.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.h"
#include "runtime/sampler.h"

namespace dsv3 {
namespace {

std::vector<float> logits(int64_t n, float sd) {
  Rng rng(3);
  std::vector<float> l(static_cast<size_t>(n));
  for (auto& x : l)  // Box-Muller normals
    x = float(std::sqrt(-2 * std::log(1 - rng.uniform_double())) * std::cos(6.283185307179586 * rng.uniform_double())) *
        sd;
  return l;
}

void bm_distribution(benchmark::State& st, bool ref, float top_p, float sd, int64_t top_k) {
  const int64_t n = st.range(0);
  const std::vector<float> l = logits(n, sd);
  SamplingParams p;
  p.temperature = 0.7f;
  p.top_p = top_p;
  p.top_k = top_k;
  const Sampler s(p);
  size_t kept = 0;
  for (auto _ : st) {
    auto d = ref ? s.distribution_ref(l.data(), n) : s.distribution(l.data(), n);
    kept = d.size();
    benchmark::DoNotOptimize(d.data());
  }
  st.counters["kept"] = double(kept);
}

int register_all() {
  for (bool ref : {false, true})
    for (float top_p : {0.9f, 1.0f})
      for (float sd : {1.0f, 4.0f}) {
        const std::string name = std::string("sampler/") + (ref ? "full_sort" : "histogram") + "/top_p" +
                                 (top_p < 1 ? "0.9" : "1") + "/sd" + std::to_string(int(sd));
        benchmark::RegisterBenchmark(name.c_str(), bm_distribution, ref, top_p, sd, int64_t(0))
            ->Arg(4096)
            ->Arg(129280)
            ->Unit(benchmark::kMicrosecond);
      }
  for (bool ref : {false, true})  // top-k 40 (then top-p 0.9)
    benchmark::RegisterBenchmark((std::string("sampler/") + (ref ? "full_sort" : "histogram") + "/top_k40").c_str(),
                                 bm_distribution, ref, 0.9f, 1.0f, int64_t(40))
        ->Arg(4096)
        ->Arg(129280)
        ->Unit(benchmark::kMicrosecond);
  return 0;
}
const int kRegistered = register_all();

}  // namespace
}  // namespace dsv3
