// `dsv3 bench serve`: serving scenarios on the continuous-batching engine, in process.
// A scenario is a named mix of prompt/output lengths; `concurrency` clients each keep one
// request in flight (closed loop) until `requests` have completed. Prompts are random token
// ids (no prefix-cache hits), decoding is greedy with no stop token, so every request
// produces exactly its output length. Reports aggregate throughput and per-request latency
// percentiles: time to first token (submit → first token, queueing included) and
// inter-token latency (between consecutive tokens of one request).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/engine.h"

namespace dsv3 {

struct ServeScenario {
  std::string name;
  std::vector<std::pair<int64_t, int64_t>> mix;  // (prompt tokens, output tokens), drawn uniformly
  std::string description;
};

std::vector<ServeScenario> serve_scenarios();
const ServeScenario& find_serve_scenario(const std::string& name);  // throws Error naming the choices

struct ServeBenchOptions {
  std::string scenario = "chat";
  int64_t concurrency = 1;
  int64_t requests = 0;  // 0: max(4, 2 × concurrency)
  uint64_t seed = 42;
  EngineOptions engine;
};

struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0, mean = 0;
};
Percentiles percentiles(std::vector<double> v);  // nearest-rank

struct ServeBenchResult {
  std::string scenario;
  int64_t concurrency = 0, requests = 0;
  int64_t prompt_tokens = 0, output_tokens = 0;
  double seconds = 0;             // first submit → last completion
  double output_tokens_per_s = 0;  // aggregate
  double requests_per_s = 0;
  Percentiles ttft_s, itl_s, e2e_s;
  uint64_t preemptions = 0;
  uint64_t spec_drafted = 0, spec_accepted = 0;  // with EngineOptions::speculative_draft
};

ServeBenchResult run_serve_bench(const Model& m, const ServeBenchOptions& opt);

}  // namespace dsv3
