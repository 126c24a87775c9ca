#include "server/metrics.h"

#include <charconv>
#include <cmath>
#include <sstream>

namespace dsv3::server {

namespace {

void header(std::ostringstream& os, const std::string& name, const char* type, const std::string& help) {
  os << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

template <class T>
void single(std::ostringstream& os, const std::string& name, const char* type, const std::string& help, T v) {
  header(os, name, type, help);
  os << name << ' ' << prom_number(double(v)) << '\n';
}

}  // namespace

std::string prom_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

std::string prom_histogram(const std::string& name, const std::string& help, const Histogram& h) {
  std::ostringstream os;
  header(os, name, "histogram", help);
  uint64_t cum = 0;
  for (size_t i = 0; i < h.counts.size(); ++i) {
    cum += h.counts[i];
    const std::string le = i < h.bounds.size() ? prom_number(h.bounds[i]) : "+Inf";
    os << name << "_bucket{le=\"" << le << "\"} " << cum << '\n';
  }
  os << name << "_sum " << prom_number(h.sum) << '\n' << name << "_count " << h.count << '\n';
  return os.str();
}

void ServerMetrics::count_request(const std::string& endpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[endpoint];
}

void ServerMetrics::count_response(int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++responses_[status];
}

void ServerMetrics::count_disconnect() {
  std::lock_guard<std::mutex> lock(mu_);
  ++disconnects_;
}

std::string ServerMetrics::render(const EngineStats& s) const {
  std::ostringstream os;
  {
    std::lock_guard<std::mutex> lock(mu_);
    header(os, "dsv3_http_requests_total", "counter", "Generation requests received, by endpoint.");
    for (const char* e : {"completions", "chat"}) {
      auto it = requests_.find(e);
      os << "dsv3_http_requests_total{endpoint=\"" << e << "\"} " << (it == requests_.end() ? 0 : it->second) << '\n';
    }
    header(os, "dsv3_http_responses_total", "counter", "HTTP responses, by status code.");
    for (const auto& [code, n] : responses_) os << "dsv3_http_responses_total{code=\"" << code << "\"} " << n << '\n';
    single(os, "dsv3_client_disconnects_total", "counter", "Streaming clients that disconnected before the end.",
           disconnects_);
  }
  single(os, "dsv3_requests_submitted_total", "counter", "Engine requests submitted (one per choice).",
         s.requests_submitted);
  single(os, "dsv3_requests_finished_total", "counter", "Engine requests finished (stop or length).",
         s.requests_finished);
  single(os, "dsv3_requests_cancelled_total", "counter", "Engine requests cancelled (disconnect, stop string).",
         s.requests_cancelled);
  single(os, "dsv3_prompt_tokens_total", "counter", "Prompt tokens of submitted requests.", s.prompt_tokens);
  single(os, "dsv3_generation_tokens_total", "counter", "Generated tokens.", s.generated_tokens);
  single(os, "dsv3_queue_depth", "gauge", "Requests waiting to join the running batch.", s.waiting);
  single(os, "dsv3_running_sequences", "gauge", "Sequences in the running batch.", s.running);
  single(os, "dsv3_cache_blocks_total", "gauge", "Latent-cache blocks.", s.cache_blocks_total);
  single(os, "dsv3_cache_blocks_used", "gauge", "Latent-cache blocks held by sequences.", s.cache_blocks_used);
  single(os, "dsv3_cache_blocks_free", "gauge", "Latent-cache blocks free (including cached prefixes).",
         s.cache_blocks_free);
  single(os, "dsv3_cache_blocks_cached", "gauge", "Free blocks holding a reusable prompt prefix.",
         s.cache_blocks_cached);
  single(os, "dsv3_prefix_cache_query_tokens_total", "counter", "Prompt tokens looked up in the prefix cache.",
         s.prefix_query_tokens);
  single(os, "dsv3_prefix_cache_hit_tokens_total", "counter", "Prompt tokens served from the prefix cache.",
         s.prefix_hit_tokens);
  single(os, "dsv3_prefix_cache_hit_rate", "gauge", "prefix_cache_hit_tokens / prefix_cache_query_tokens.",
         s.prefix_query_tokens ? double(s.prefix_hit_tokens) / double(s.prefix_query_tokens) : 0.0);
  single(os, "dsv3_preemptions_total", "counter", "Sequences preempted when cache blocks ran out.", s.preemptions);
  single(os, "dsv3_spec_draft_tokens_total", "counter", "Tokens drafted by MTP speculative decoding.", s.spec_drafted);
  single(os, "dsv3_spec_accepted_tokens_total", "counter", "Drafted tokens accepted by verification.",
         s.spec_accepted);
  single(os, "dsv3_engine_steps_total", "counter", "Scheduler steps (one batched forward each).", s.steps);
  os << prom_histogram("dsv3_time_to_first_token_seconds", "Time from submission to the first generated token.",
                       s.time_to_first_token);
  os << prom_histogram("dsv3_time_per_output_token_seconds", "Time between consecutive generated tokens.",
                       s.time_per_output_token);
  return os.str();
}

}  // namespace dsv3::server
