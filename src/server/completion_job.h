// One /v1/completions or /v1/chat/completions request against the engine: builds the prompt
// (chat template for chat), checks it against the context, submits one engine request per
// choice (n), and turns the engine's token events into OpenAI responses -- SSE chunks when
// streaming, one JSON object otherwise.
//
// Threads: engine events arrive on the engine thread and are only queued there; decoding,
// stop strings, reasoning and tool-call parsing run on the HTTP thread that owns the job.
// Destroying a job (request done, client gone, error) cancels its unfinished engine
// requests, so nothing outlives the client.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/engine.h"
#include "runtime/sampler.h"
#include "server/openai_request.h"
#include "server/output_pipeline.h"
#include "template/template.h"
#include "tokenizer/tokenizer.h"

namespace dsv3::server {

struct ServiceConfig {
  std::string model_name;
  int64_t context = 0;               // usable tokens per sequence: min(model context, cache)
  SamplingParams sampling_defaults;  // generation_config.json, else SamplingParams{}
  std::vector<int32_t> eos_ids;      // generation stops after one of these (unless ignore_eos)
  bool reasoning_model = false;      // the chat template uses <think>: split reasoning_content
};

class CompletionJob;

class CompletionService {
 public:
  // tmpl may be null (no chat_template): chat requests then fail with 400.
  CompletionService(Engine& engine, const Tokenizer& tok, const ChatTemplate* tmpl, ServiceConfig cfg);
  // Validates against the model and submits; throws ApiError (400 bad prompt / limits, 429
  // queue full).
  std::unique_ptr<CompletionJob> start(const OpenAIRequest& r);
  const ServiceConfig& config() const { return cfg_; }
  Engine& engine() { return engine_; }
  // Server shutdown: requests still waiting for their whole response end with a 503.
  void shut_down() { stopping_ = true; }

  // The prompt ids a request would be run with (exposed for tests).
  std::vector<int32_t> prompt_ids(const OpenAIRequest& r, std::string* rendered = nullptr) const;

 private:
  Engine& engine_;
  const Tokenizer& tok_;
  const ChatTemplate* tmpl_;
  ServiceConfig cfg_;
  std::atomic<bool> stopping_{false};
};

class CompletionJob {
 public:
  ~CompletionJob();
  bool stream() const { return req_.stream; }
  bool finished() const { return finished_; }

  // Streaming: waits up to `wait` for engine events and appends SSE text (chunks, then the
  // usage chunk and "data: [DONE]" at the end) to out. Returns false when the stream is done.
  bool next_sse(std::string& out, std::chrono::milliseconds wait);
  // Non-streaming: waits for every choice and returns the response object. Throws ApiError
  // 500 when the engine failed.
  nlohmann::json wait_response();
  // The client went away: cancel now rather than at destruction.
  void cancel();

  struct Queue;
  struct Choice;

 private:
  friend class CompletionService;
  CompletionJob(Engine& engine, const Tokenizer& tok, OpenAIRequest req, const ServiceConfig& cfg,
                const std::atomic<bool>& stopping);
  // Drains queued events (waiting up to `wait` for the first); returns false on timeout.
  bool drain(std::chrono::milliseconds wait, std::vector<nlohmann::json>* chunks);
  void handle(int index, const TokenEvent& ev, std::vector<nlohmann::json>* chunks);
  nlohmann::json chunk_base() const;
  nlohmann::json usage() const;
  bool all_done() const;

  Engine& engine_;
  const Tokenizer& tok_;
  const std::atomic<bool>& stopping_;
  OpenAIRequest req_;
  std::string id_, model_;
  int64_t created_ = 0, prompt_tokens_ = 0, cached_tokens_ = 0;
  std::shared_ptr<Queue> queue_;
  std::vector<std::unique_ptr<Choice>> choices_;
  bool started_ = false, finished_ = false;
};

}  // namespace dsv3::server
