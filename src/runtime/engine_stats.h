// Counters and latency histograms of the serving engine, snapshotted for /metrics.
#pragma once
#include <cstdint>
#include <vector>

namespace dsv3 {

// Prometheus-style histogram: counts[i] observations <= bounds[i] (not cumulative), the
// last entry of counts is +Inf.
struct Histogram {
  std::vector<double> bounds;
  std::vector<uint64_t> counts;  // bounds.size() + 1
  double sum = 0;
  uint64_t count = 0;
  explicit Histogram(std::vector<double> b = {}) : bounds(std::move(b)), counts(bounds.size() + 1, 0) {}
  void observe(double v);
};

// Latency buckets in seconds, 1 ms .. 60 s.
std::vector<double> latency_buckets();

struct EngineStats {
  uint64_t requests_submitted = 0, requests_finished = 0, requests_cancelled = 0;
  uint64_t prompt_tokens = 0, generated_tokens = 0;
  uint64_t prefix_query_tokens = 0, prefix_hit_tokens = 0;  // prompt tokens looked up / served from cache
  uint64_t preemptions = 0, steps = 0;
  uint64_t spec_drafted = 0, spec_accepted = 0;  // MTP draft tokens proposed / accepted
  int64_t waiting = 0, running = 0;
  int64_t cache_blocks_total = 0, cache_blocks_used = 0, cache_blocks_free = 0;
  int64_t cache_blocks_cached = 0;  // free but holding a reusable prefix (evictable, LRU)
  Histogram time_to_first_token{latency_buckets()}, time_per_output_token{latency_buckets()};
};

}  // namespace dsv3
