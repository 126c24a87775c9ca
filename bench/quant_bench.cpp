// Microbenchmarks of the block-scaled integer weights (I8, I4, groups of 128 along K) next
// to BF16 at the bench preset's shapes: decode (T = 1, rows path, memory-bound: compare
// bytes/s with BF16's and the machine's 2-thread read bandwidth, 22-36 GB/s on the Zen 3
// VM) and prefill (T = 128, tiles path: FLOP/s), plus the quantiser itself. Decode cycles
// through enough copies of the weight to defeat the last-level cache. DSV3_ISA /
// DSV3_THREADS apply.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/quant.h"

namespace dsv3 {
namespace {

constexpr int64_t kColdBytes = int64_t(640) << 20;

float uniform(uint64_t& s) {
  s = s * 6364136223846793005ull + 1442695040888963407ull;
  return float(s >> 40) / float(1 << 24) * 2.0f - 1.0f;
}

struct QuantWeights {
  DType dt;
  int64_t N = 0, K = 0;
  std::vector<QuantizedMatrix> copies;  // BF16 kept in `data` with no scales
  int64_t bytes = 0;                    // weights + scales of one copy
};

QuantWeights& weights(DType dt, int64_t N, int64_t K, int copies) {
  static std::unique_ptr<QuantWeights> cur;
  if (cur && cur->dt == dt && cur->N == N && cur->K == K && int(cur->copies.size()) >= copies) return *cur;
  cur = std::make_unique<QuantWeights>();
  cur->dt = dt;
  cur->N = N;
  cur->K = K;
  uint64_t seed = 99;
  std::vector<float> src(size_t(N * K));
  for (auto& v : src) v = uniform(seed) * 0.05f;
  WeightMatrix w;
  w.rows = N;
  w.cols = K;
  w.data = src.data();
  QuantizedMatrix base;
  if (dt == DType::BF16) {
    base.dtype = DType::BF16;
    base.rows = N;
    base.cols = K;
    base.data.resize(size_t(N * K * 2));
    for (int64_t i = 0; i < N * K; ++i) reinterpret_cast<uint16_t*>(base.data.data())[i] = f32_to_bf16(src[size_t(i)]);
  } else {
    base = quantize_weight(w, dt, 128);
  }
  cur->bytes = int64_t(base.data.size() + base.scales.size() * sizeof(float));
  for (int c = 0; c < copies; ++c) cur->copies.push_back(base);
  return *cur;
}

const char* short_name(DType dt) { return dt == DType::BF16 ? "bf16" : dt == DType::I8 ? "int8" : "int4"; }

void bm_matmul(benchmark::State& st, DType dt, int64_t N, int64_t K, int64_t T, MatmulPath path, Int8Activations act,
               bool act16) {
  const Int8Activations saved = int8_activations();
  const bool saved16 = int16_activations();
  set_int8_activations(act);
  set_int16_activations(act16);
  const int64_t one = dt == DType::BF16 ? N * K * 2 : dt == DType::I8 ? N * K : N * K / 2;
  const int copies = T <= 4 ? int(std::clamp<int64_t>(kColdBytes / one, 1, 64)) : 1;
  QuantWeights& qw = weights(dt, N, K, copies);
  uint64_t seed = 7;
  std::vector<float> x(size_t(T * K)), y(size_t(T * N));
  for (auto& v : x) v = uniform(seed);
  size_t i = 0;
  for (auto _ : st) {
    const QuantizedMatrix& q = qw.copies[i++ % qw.copies.size()];
    WeightMatrix w = q.view("bench");
    if (dt == DType::BF16) w.scale_inv = nullptr;
    matmul_with(active_isa(), path, x.data(), T, w, y.data(), ThreadPool::global());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * qw.bytes);
  st.counters["FLOP/s"] = benchmark::Counter(2.0 * double(N) * double(K) * double(T),
                                             benchmark::Counter::kIsIterationInvariantRate);
  st.SetLabel(std::string(matmul_isa()) + " threads=" + std::to_string(ThreadPool::global().size()) +
              (int8_activations() == Int8Activations::kAll ? " int8-act" : "") +
              (act16 && int16_activations() ? " int16-act" : ""));
  set_int8_activations(saved);
  set_int16_activations(saved16);
}

void bm_quantize(benchmark::State& st, DType dt) {
  const int64_t N = 2048, K = 2048;
  uint64_t seed = 5;
  std::vector<uint16_t> src(size_t(N * K));
  for (auto& v : src) v = f32_to_bf16(uniform(seed));
  WeightMatrix w;
  w.dtype = DType::BF16;
  w.rows = N;
  w.cols = K;
  w.data = src.data();
  for (auto _ : st) benchmark::DoNotOptimize(quantize_weight(w, dt, 128).data.data());
  st.SetItemsProcessed(int64_t(st.iterations()) * N * K);
}

int register_all() {
  struct Shape {
    const char* name;
    int64_t N, K;
  };
  const Shape shapes[] = {{"2048x2048", 2048, 2048}, {"4608x2048", 4608, 2048}, {"2048x4608", 2048, 4608}};
  for (DType dt : {DType::BF16, DType::I8, DType::I4})
    for (const Shape& s : shapes)
      for (int64_t T : {int64_t(1), int64_t(128)}) {
        const std::string name = std::string(T == 1 ? "quant_matvec/" : "quant_prefill/") + short_name(dt) + "/" +
                                 s.name + "/T" + std::to_string(T);
        // f32 activations (exact); int16 and int8 ones below.
        benchmark::RegisterBenchmark(name.c_str(), bm_matmul, dt, s.N, s.K, T, MatmulPath::kAuto,
                                     Int8Activations::kOff, false)
            ->UseRealTime()
            ->Unit(T == 1 ? benchmark::kMicrosecond : benchmark::kMillisecond);
      }
  // Batched decode (a serving step of 16 sequences) on the rows path, f32 activations.
  for (DType dt : {DType::BF16, DType::I8, DType::I4})
    benchmark::RegisterBenchmark((std::string("quant_rows/") + short_name(dt) + "/4608x2048/T16").c_str(), bm_matmul,
                                 dt, 4608, 2048, 16, MatmulPath::kRows, Int8Activations::kOff, false)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  // int16 activations (AVX2 decode rows of I8, the default there; of I4 without int8
  // activations): vpmaddwd rows kernel.
  for (DType dt : {DType::I8, DType::I4})
    for (const Shape& s : shapes)
      benchmark::RegisterBenchmark((std::string("quant_matvec_act16/") + short_name(dt) + "/" + s.name + "/T1").c_str(),
                                   bm_matmul, dt, s.N, s.K, 1, MatmulPath::kAuto, Int8Activations::kOff, true)
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("quant_rows_act16/int8/4608x2048/T4", bm_matmul, DType::I8, 4608, 2048, 4,
                               MatmulPath::kRows, Int8Activations::kOff, true)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  // int8 activations (AVX-512 VNNI; the default for I4): vpdpbusd rows kernel for decode,
  // int8 GEMM for prefill.
  for (DType dt : {DType::I8, DType::I4})
    for (const Shape& s : shapes)
      for (int64_t T : {int64_t(1), int64_t(128)}) {
        const std::string name = std::string(T == 1 ? "quant_matvec_act8/" : "quant_prefill_act8/") +
                                 short_name(dt) + "/" + s.name + "/T" + std::to_string(T);
        benchmark::RegisterBenchmark(name.c_str(), bm_matmul, dt, s.N, s.K, T, MatmulPath::kAuto,
                                     Int8Activations::kAll, false)
            ->UseRealTime()
            ->Unit(T == 1 ? benchmark::kMicrosecond : benchmark::kMillisecond);
      }
  for (DType dt : {DType::I8, DType::I4, DType::F8_E4M3})
    benchmark::RegisterBenchmark((std::string("quantize/") + std::string(dtype_name(dt)) + "/2048x2048").c_str(),
                                 bm_quantize, dt)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  return 0;
}

const int kRegistered = register_all();

}  // namespace
}  // namespace dsv3
