// The serving engine: continuous batching over a paged latent cache (issue 3).
//
// Requests are submitted from any thread; one engine thread runs scheduler steps. Every
// step is one batched forward over (a) a chunk of prompt tokens of the sequences still in
// prefill and (b) one token of every sequence in decode, so requests join and leave the
// batch at every step and long prompts never stall the others' decoding. Routed-expert
// tokens of the whole step are grouped per expert. Blocks of the latent cache are shared
// between sequences with the same prompt prefix (see block_manager.h).
//
// Batch invariance: a request's tokens are computed with the same kernels and the same
// summation order whatever else is in the batch (prefill rows always take the tiled
// matmul path, decode rows the row-streaming path, attention is per sequence), so its
// greedy output equals the output of the same request run alone (tested).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "model/transformer.h"
#include "runtime/block_manager.h"
#include "runtime/engine_stats.h"
#include "runtime/sampler.h"

namespace dsv3 {

struct EngineOptions {
  int64_t block_size = 16;            // tokens per cache block
  int64_t cache_blocks = 0;           // 0: derived from cache_bytes
  int64_t cache_bytes = int64_t(2) << 30;  // latent cache budget when cache_blocks is 0
  int64_t max_batch_tokens = 256;     // tokens per step (decode tokens + prefill chunks)
  int64_t max_running = 64;           // sequences in the running batch
  int64_t max_waiting = 256;          // queued requests; submit() beyond this throws EngineBusy
  bool prefix_cache = true;           // reuse full prompt blocks across requests
  LatentFormat kv_cache = LatentFormat::kF32;  // latent cache row format (--kv-cache)
  // MTP speculative decoding (--speculative mtp --draft N): every request drafts up to N
  // tokens per step with MTP module 1 and verifies them as N+1 decode rows of the step's
  // batch; greedy requests accept exact matches, sampled ones use the rejection rule
  // (runtime/speculative.h describes the scheme). 0: off. Needs an MTP module.
  int64_t speculative_draft = 0;
};

struct EngineRequest {
  std::vector<int32_t> prompt;
  int64_t max_new_tokens = 16;
  SamplingParams sampling;
  std::vector<int32_t> stop_ids;  // finish (reason "stop") after emitting one of these
  int64_t top_logprobs = -1;      // -1: no logprobs; 0: the chosen token's; k: also the top k
};

// One generated token, or the end of a request.
struct TokenEvent {
  int32_t token = -1;  // -1 on the final event of a request that ends without a new token
  float logprob = 0;   // log-softmax of the raw logits (temperature 1), when requested
  std::vector<std::pair<int32_t, float>> top_logprobs;  // best first, when requested
  bool finished = false;
  // On the last event: "stop" (stop id), "length" (max_new_tokens or context full),
  // "cancelled" (cancel() or the callback returned false), "error" (see error).
  std::string finish_reason;
  std::string error;
  int64_t prompt_tokens = 0;  // on every event
  int64_t cached_tokens = 0;  // prompt tokens served from the prefix cache
};

// Called on the engine thread; must be quick (hand the event to another thread). Returning
// false cancels the request (its blocks are freed before the next step).
using TokenCallback = std::function<bool(const TokenEvent&)>;

// submit() when the waiting queue is full (HTTP 429).
struct EngineBusy : Error {
  using Error::Error;
};

// The memory plan printed at startup.
struct MemoryPlan {
  int64_t weight_bytes = 0;       // mapped checkpoint tensors
  int64_t cache_block_bytes = 0;  // one block, all layers
  LatentFormat cache_format = LatentFormat::kF32;
  int64_t cache_bytes_per_token = 0;  // all cache layers
  int64_t cache_blocks = 0;
  int64_t block_size = 0;
  int64_t context_length = 0;
  int64_t max_sequences_at_full_context = 0;
  std::string to_string() const;
};

class Engine {
 public:
  Engine(const Model& model, const EngineOptions& opts);
  ~Engine();  // stops the engine thread; pending requests get a "cancelled" event

  // Validates (throws Error: empty prompt, prompt + 1 over the context or the whole cache,
  // bad sampling params, token id outside the vocabulary) and queues the request.
  // Thread-safe. Throws EngineBusy when max_waiting requests are already queued.
  uint64_t submit(EngineRequest req, TokenCallback on_event);
  // Thread-safe; the request ends with a "cancelled" event at the next step boundary.
  void cancel(uint64_t id);

  // Runs steps on a background thread until the destructor (serving).
  void start();
  // Runs one scheduler step on the calling thread (tests, benchmarks, single-user CLI).
  // Returns false when there was nothing to do. Do not mix with start().
  bool step();
  // step() until no request is left.
  void run_until_idle();

  EngineStats stats() const;  // thread-safe snapshot
  MemoryPlan plan() const;
  const Model& model() const { return model_; }
  const EngineOptions& options() const { return opts_; }

 private:
  struct Sequence;
  void loop();
  int64_t context() const;  // tokens a sequence may hold: model context capped by the cache
  void apply_cancellations();
  bool grow(Sequence& s, int64_t upto);
  bool preempt_one(const Sequence* keep);
  void attach_prefix(Sequence& s);
  void publish_prefix(Sequence& s);
  void release_blocks(Sequence& s);
  // Frees s's blocks and counts it finished. finish() also sends the final event.
  void retire(Sequence& s, const std::string& reason);
  void finish(Sequence& s, const std::string& reason, const std::string& error = "");
  void fail_all(const std::string& error);
  void update_gauges();
  void draft_all(const std::vector<Sequence*>& seqs);

  const Model& model_;
  EngineOptions opts_;
  std::unique_ptr<BlockManager> blocks_;

  mutable std::mutex mu_;  // guards incoming_, cancelled_, stats_
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Sequence>> incoming_;
  std::vector<uint64_t> cancelled_;
  uint64_t next_id_ = 1;
  EngineStats stats_;

  // Engine-thread state.
  std::deque<std::unique_ptr<Sequence>> waiting_;
  std::vector<std::unique_ptr<Sequence>> running_;
  uint64_t admit_counter_ = 0;
  std::vector<float> hidden_, logits_, mtp_out_, draft_logits_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
};

}  // namespace dsv3
