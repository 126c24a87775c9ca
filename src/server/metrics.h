// /metrics in the Prometheus text exposition format (version 0.0.4): the engine's counters,
// gauges and latency histograms plus the HTTP layer's requests and responses by status.
// All names start with dsv3_ and are listed in README.md ("Serving").
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "runtime/engine_stats.h"

namespace dsv3::server {

class ServerMetrics {
 public:
  void count_request(const std::string& endpoint);  // "completions" | "chat"
  void count_response(int status);
  void count_disconnect();  // a streaming client that went away before the end
  // The whole exposition text for one scrape.
  std::string render(const EngineStats& engine) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> requests_;
  std::map<int, uint64_t> responses_;
  uint64_t disconnects_ = 0;
};

// Pieces of the format, exposed for tests.
std::string prom_number(double v);  // shortest round-trip text; +Inf, -Inf, NaN
// HELP/TYPE header plus cumulative _bucket{le=...}, _sum and _count lines.
std::string prom_histogram(const std::string& name, const std::string& help, const Histogram& h);

}  // namespace dsv3::server
