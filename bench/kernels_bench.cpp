// Kernel microbenchmarks: matmul decode (T = 1, memory-bound: watch bytes/s against the
// machine's bandwidth) and prefill (T = 128, 512, compute-bound: watch FLOP/s), for BF16,
// FP8 (128×128 block scales) and F32 weights at the bench preset's shapes (hidden 2048).
// Decode cycles through enough copies of the weight to defeat the last-level cache.
// DSV3_ISA and DSV3_THREADS select the SIMD level and the pool size.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/vec_ops.h"

namespace dsv3 {
namespace {

constexpr int64_t kColdBytes = int64_t(640) << 20;  // working set for decode runs

uint64_t mix(uint64_t& s) {
  s += 0x9e3779b97f4a7c15ull;
  uint64_t z = s;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
float uniform(uint64_t& s) { return float(mix(s) >> 40) / float(1 << 24) * 2.0f - 1.0f; }

struct BenchWeight {
  DType dt;
  int64_t N = 0, K = 0;
  std::vector<std::vector<uint8_t>> copies;
  std::vector<float> scales;
  size_t bytes = 0;
};

// One weight set at a time: the lm_head shapes alone are hundreds of MB.
BenchWeight& weight(DType dt, int64_t N, int64_t K, int copies) {
  static std::unique_ptr<BenchWeight> cur;
  if (cur && cur->dt == dt && cur->N == N && cur->K == K && int(cur->copies.size()) >= copies) return *cur;
  cur.reset();
  cur = std::make_unique<BenchWeight>();
  cur->dt = dt;
  cur->N = N;
  cur->K = K;
  cur->bytes = storage_bytes(dt, N * K);
  uint64_t seed = 12345;
  std::vector<uint8_t> base(cur->bytes);
  for (int64_t i = 0; i < N * K; ++i) {
    const float v = uniform(seed);
    switch (dt) {
      case DType::F32: reinterpret_cast<float*>(base.data())[i] = v; break;
      case DType::BF16: reinterpret_cast<uint16_t*>(base.data())[i] = f32_to_bf16(v); break;
      case DType::F16: reinterpret_cast<uint16_t*>(base.data())[i] = f32_to_f16(v); break;
      default: {
        uint8_t c = uint8_t(mix(seed));
        base[size_t(i)] = (c & 0x7f) == 0x7f ? uint8_t(c - 1) : c;
      }
    }
  }
  if (dt == DType::F8_E4M3) {
    cur->scales.resize(size_t(((N + 127) / 128) * ((K + 127) / 128)));
    for (auto& s : cur->scales) s = 1e-3f * (1.5f + uniform(seed));
  }
  for (int c = 0; c < copies; ++c) cur->copies.push_back(base);
  return *cur;
}

const char* short_name(DType dt) {
  return dt == DType::F32 ? "f32" : dt == DType::BF16 ? "bf16" : dt == DType::F16 ? "f16" : "fp8";
}

void bm_matmul(benchmark::State& st, DType dt, int64_t N, int64_t K, int64_t T, MatmulPath path) {
  const int64_t wbytes = int64_t(storage_bytes(dt, N * K));
  const int copies = T <= 4 ? int(std::min<int64_t>(64, std::max<int64_t>(1, kColdBytes / wbytes))) : 1;
  BenchWeight& bw = weight(dt, N, K, copies);
  uint64_t seed = 7;
  std::vector<float> x(size_t(T * K)), y(size_t(T * N));
  for (auto& v : x) v = uniform(seed);
  WeightMatrix w;
  w.dtype = dt;
  w.rows = N;
  w.cols = K;
  w.scale_inv = bw.scales.empty() ? nullptr : bw.scales.data();
  w.name = "bench";
  size_t i = 0;
  for (auto _ : st) {
    w.data = bw.copies[i++ % bw.copies.size()].data();
    matmul_with(active_isa(), path, x.data(), T, w, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * wbytes);
  st.counters["FLOP/s"] = benchmark::Counter(2.0 * double(N) * double(K) * double(T),
                                             benchmark::Counter::kIsIterationInvariantRate);
  st.SetLabel(std::string(matmul_isa()) + " threads=" + std::to_string(ThreadPool::global().size()));
}

void bm_dot(benchmark::State& st) {
  const int64_t n = st.range(0);
  std::vector<float> a(size_t(n), 0.5f), b(size_t(n), 0.25f);
  for (auto _ : st) benchmark::DoNotOptimize(dot_f32(a.data(), b.data(), n));
  st.SetBytesProcessed(int64_t(st.iterations()) * n * 8);
}

void bm_axpy(benchmark::State& st) {
  const int64_t n = st.range(0);
  std::vector<float> x(size_t(n), 0.5f), y(size_t(n), 0.25f);
  for (auto _ : st) {
    axpy_f32(1e-6f, x.data(), y.data(), n);
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * n * 12);
}

// Absorbed MLA's W_UKᵀ q for one head of the bench preset: 128 rows of kv_b × 512 (warm in
// cache, as in decode, where a head's rows are reused by every verification row), the fused
// kernel against its dequantize-and-fma twin.
void bm_weighted_row_sum(benchmark::State& st, DType dt, bool twin) {
  const int64_t N = 128, K = 512;
  BenchWeight& bw = weight(dt, N, K, 1);
  WeightMatrix w;
  w.dtype = dt;
  w.rows = N;
  w.cols = K;
  w.data = bw.copies[0].data();
  w.scale_inv = bw.scales.empty() ? nullptr : bw.scales.data();
  w.name = "bench";
  uint64_t seed = 9;
  std::vector<float> a(static_cast<size_t>(N)), y(static_cast<size_t>(K), 0.0f);
  for (auto& v : a) v = uniform(seed);
  for (auto _ : st) {
    if (twin) weighted_row_sum_ref(w, 0, N, a.data(), y.data());
    else weighted_row_sum(w, 0, N, a.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(storage_bytes(dt, N * K)));
  st.SetLabel(matmul_isa());
}

struct Shape {
  const char* name;
  int64_t N, K;
};

int register_all() {
  // Bench preset, hidden 2048: attention/MLP projections and the lm_head (vocab 129280).
  const Shape shapes[] = {{"2048x2048", 2048, 2048}, {"4608x2048", 4608, 2048}, {"2048x4608", 2048, 4608},
                          {"512x2048", 512, 2048},   {"lm_head_129280x2048", 129280, 2048}};
  const DType dtypes[] = {DType::BF16, DType::F8_E4M3, DType::F32};
  for (DType dt : dtypes)
    for (const Shape& s : shapes)
      for (int64_t T : {int64_t(1), int64_t(128), int64_t(512)}) {
        const bool lm_head = s.N > 100000;
        if (lm_head && dt == DType::F32) continue;  // 1 GB of weights; bf16/fp8 tell the story
        if (lm_head && T == 512) continue;          // ~270 GFLOP per call
        const std::string name = std::string(T == 1 ? "matvec/" : "prefill/") + short_name(dt) + "/" + s.name +
                                 "/T" + std::to_string(T);
        benchmark::RegisterBenchmark(name.c_str(), bm_matmul, dt, s.N, s.K, T, MatmulPath::kAuto)
            ->UseRealTime()
            ->Unit(T == 1 ? benchmark::kMicrosecond : benchmark::kMillisecond);
      }
  // Path crossover: the rows (decode) and tiles (prefill) kernels at small T.
  for (DType dt : {DType::BF16, DType::F8_E4M3})
    for (int64_t T : {int64_t(2), int64_t(4), int64_t(8), int64_t(16)})
      for (MatmulPath p : {MatmulPath::kRows, MatmulPath::kTiles}) {
        const std::string name = std::string("crossover/") + short_name(dt) + "/2048x2048/T" + std::to_string(T) +
                                 (p == MatmulPath::kRows ? "/rows" : "/tiles");
        benchmark::RegisterBenchmark(name.c_str(), bm_matmul, dt, 2048, 2048, T, p)->UseRealTime()->Unit(benchmark::kMicrosecond);
      }
  for (DType dt : {DType::BF16, DType::F8_E4M3})
    for (bool twin : {false, true})
      benchmark::RegisterBenchmark((std::string("weighted_row_sum/") + short_name(dt) + "/128x512" + (twin ? "/twin" : ""))
                                       .c_str(),
                                   bm_weighted_row_sum, dt, twin);
  benchmark::RegisterBenchmark("dot_f32", bm_dot)->Arg(2048)->Arg(65536);
  benchmark::RegisterBenchmark("axpy_f32", bm_axpy)->Arg(2048)->Arg(65536);
  return 0;
}

const int kRegistered = register_all();

}  // namespace
}  // namespace dsv3
