#include "runtime/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "runtime/generator.h"
#include "runtime/speculative.h"
#include "runtime/token_logprobs.h"

namespace dsv3 {

using Clock = std::chrono::steady_clock;

struct Engine::Sequence {
  uint64_t id = 0;
  EngineRequest req;
  TokenCallback cb;
  Sampler sampler;
  std::vector<int32_t> tokens;  // prompt, then generated tokens
  int64_t prompt_len = 0;
  int64_t computed = 0;         // tokens whose cache rows are written
  int64_t generated = 0;
  int64_t cached_tokens = 0;    // prompt tokens served from the prefix cache (first admission)
  bool admitted_once = false;
  std::vector<int32_t> blocks;
  int64_t published = 0;        // leading blocks already published to the prefix cache
  uint64_t last_hash = 0;       // chain hash of block published-1
  std::vector<std::vector<uint8_t*>> tables;  // per cache layer
  std::vector<LatentRows> rows;
  Clock::time_point submitted, last_token;
  uint64_t admit_order = 0;
  // Speculation (EngineOptions::speculative_draft > 0): MTP module 1's
  // output at row computed-1, the input of the next draft (empty until that row has one);
  // this step's draft count and drafts.
  std::vector<float> mtp_h;
  int64_t draft_n = 0;
  std::vector<int32_t> drafts;
  std::vector<std::vector<std::pair<int32_t, float>>> draft_q;  // sampled requests: each draft's q

  Sequence(uint64_t i, EngineRequest r, TokenCallback c)
      : id(i), req(std::move(r)), cb(std::move(c)), sampler(req.sampling) {}
  int64_t remaining() const { return int64_t(tokens.size()) - computed; }
  // Decode: one generated token to run (prompt tokens, also when recomputed after a
  // preemption, always run as prefill).
  bool decoding() const { return remaining() == 1 && computed >= prompt_len; }
};

std::string MemoryPlan::to_string() const {
  std::ostringstream os;
  const double mib = 1024.0 * 1024.0;
  os << "memory plan: weights " << int64_t(double(weight_bytes) / mib) << " MiB; latent cache "
     << latent_format_name(cache_format) << " (" << cache_bytes_per_token << " bytes/token) " << cache_blocks
     << " blocks x " << block_size << " tokens (" << int64_t(double(cache_blocks * cache_block_bytes) / mib)
     << " MiB, " << cache_blocks * block_size << " tokens); context " << context_length
     << " tokens; max concurrent sequences at full context: " << max_sequences_at_full_context;
  return os.str();
}

Engine::Engine(const Model& model, const EngineOptions& opts) : model_(model), opts_(opts) {
  DSV3_CHECK(opts_.block_size > 0 && opts_.block_size <= 4096, "engine: block size must be in [1, 4096], got ",
             opts_.block_size);
  DSV3_CHECK(opts_.max_batch_tokens > 0, "engine: max_batch_tokens must be positive");
  DSV3_CHECK(opts_.max_running > 0, "engine: max_running must be positive");
  DSV3_CHECK(opts_.max_waiting >= 0, "engine: max_waiting must be >= 0");
  const int64_t layers = model_.cache_layers();
  const LatentLayout layout = model_.cache_layout(opts_.kv_cache);
  const int64_t block_bytes = layers * opts_.block_size * layout.row_bytes();
  int64_t n = opts_.cache_blocks;
  if (n <= 0) {
    DSV3_CHECK(opts_.cache_bytes > 0, "engine: the cache budget must be positive");
    n = opts_.cache_bytes / block_bytes;
  }
  DSV3_CHECK(n > 0, "engine: a cache budget of ", opts_.cache_bytes, " bytes holds no block of ", block_bytes,
             " bytes");
  DSV3_CHECK(opts_.speculative_draft >= 0 && opts_.speculative_draft <= 16,
             "engine: speculative_draft must be in [0, 16] (0: off), got ", opts_.speculative_draft);
  DSV3_CHECK(opts_.speculative_draft == 0 || model_.num_mtp() >= 1,
             "speculative decoding needs an MTP module, but ", model_.dir(), " has none");
  blocks_ = std::make_unique<BlockManager>(layers, layout, opts_.block_size, n);
  stats_.cache_blocks_total = n;
  stats_.cache_blocks_free = n;
}

Engine::~Engine() {
  stop_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  auto end = [](Sequence& s) {
    TokenEvent ev;
    ev.finished = true;
    ev.finish_reason = "cancelled";
    ev.prompt_tokens = s.prompt_len;
    if (s.cb) s.cb(ev);
  };
  for (auto& s : running_) end(*s);
  for (auto& s : waiting_) end(*s);
  for (auto& s : incoming_) end(*s);
}

int64_t Engine::context() const {
  return std::min(context_length(model_), blocks_->num_blocks() * blocks_->block_size());
}

uint64_t Engine::submit(EngineRequest req, TokenCallback on_event) {
  const int64_t P = int64_t(req.prompt.size()), V = model_.vocab_size();
  DSV3_CHECK(P > 0, "the prompt is empty");
  for (int32_t t : req.prompt)
    DSV3_CHECK(t >= 0 && t < V, "prompt token id ", t, " is outside the vocabulary [0, ", V, ")");
  const int64_t ctx = context_length(model_), cap = blocks_->num_blocks() * blocks_->block_size();
  DSV3_CHECK(P < ctx, "the prompt has ", P, " tokens but the model's context is ", ctx,
             " tokens (one is needed for the answer)");
  DSV3_CHECK(P < cap, "the prompt has ", P, " tokens but the latent cache holds only ", cap, " tokens");
  DSV3_CHECK(req.max_new_tokens >= 1, "max_new_tokens must be >= 1, got ", req.max_new_tokens);
  DSV3_CHECK(req.top_logprobs >= -1 && req.top_logprobs <= 20, "top_logprobs must be in [0, 20], got ",
             req.top_logprobs);
  req.sampling.validate();
  auto seq = std::make_unique<Sequence>(0, std::move(req), std::move(on_event));
  seq->tokens = seq->req.prompt;
  seq->prompt_len = P;
  seq->submitted = Clock::now();
  std::lock_guard<std::mutex> lk(mu_);
  if (stats_.waiting >= opts_.max_waiting)
    throw EngineBusy("the request queue is full (" + std::to_string(opts_.max_waiting) + " waiting)");
  seq->id = next_id_++;
  const uint64_t id = seq->id;
  incoming_.push_back(std::move(seq));
  ++stats_.requests_submitted;
  ++stats_.waiting;
  cv_.notify_all();
  return id;
}

void Engine::cancel(uint64_t id) {
  std::lock_guard<std::mutex> lk(mu_);
  cancelled_.push_back(id);
  cv_.notify_all();
}

void Engine::start() {
  DSV3_CHECK(!thread_.joinable(), "engine already started");
  thread_ = std::thread([this] { loop(); });
}

void Engine::loop() {
  while (!stop_) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stop_ || !incoming_.empty() || !cancelled_.empty() || !waiting_.empty() || !running_.empty(); });
    }
    if (stop_) break;
    try {
      step();
    } catch (const std::exception& e) {
      // A failed step (out of memory, a bad weight) ends the requests in it, not the server.
      fail_all(e.what());
    }
  }
}

void Engine::run_until_idle() {
  while (step()) {
  }
}

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
}

MemoryPlan Engine::plan() const {
  MemoryPlan p;
  for (const std::string& name : model_.checkpoint().names()) p.weight_bytes += int64_t(model_.checkpoint().get(name).nbytes);
  p.cache_block_bytes = blocks_->block_bytes();
  p.cache_format = blocks_->layout().format;
  p.cache_bytes_per_token = blocks_->block_bytes() / blocks_->block_size();
  p.cache_blocks = blocks_->num_blocks();
  p.block_size = blocks_->block_size();
  p.context_length = context_length(model_);
  const int64_t per_seq = (p.context_length + p.block_size - 1) / p.block_size;
  p.max_sequences_at_full_context = p.cache_blocks / per_seq;
  return p;
}

void Engine::release_blocks(Sequence& s) {
  for (int32_t b : s.blocks) blocks_->release(b);
  s.blocks.clear();
  s.published = 0;
  s.last_hash = 0;
}

void Engine::retire(Sequence& s, const std::string& reason) {
  release_blocks(s);
  std::lock_guard<std::mutex> lk(mu_);
  ++stats_.requests_finished;
  if (reason == "cancelled") ++stats_.requests_cancelled;
}

void Engine::finish(Sequence& s, const std::string& reason, const std::string& error) {
  retire(s, reason);  // before the event: a client that sees it finds the blocks free
  TokenEvent ev;
  ev.finished = true;
  ev.finish_reason = reason;
  ev.error = error;
  ev.prompt_tokens = s.prompt_len;
  ev.cached_tokens = s.cached_tokens;
  if (s.cb) s.cb(ev);
}

void Engine::fail_all(const std::string& error) {
  for (auto& s : running_) finish(*s, "error", error);
  running_.clear();
}

// Ensures s has blocks for positions [0, upto). Returns false when the pool is exhausted.
bool Engine::grow(Sequence& s, int64_t upto) {
  const int64_t B = blocks_->block_size();
  while (int64_t(s.blocks.size()) * B < upto) {
    const int32_t b = blocks_->allocate();
    if (b < 0) return false;
    s.blocks.push_back(b);
  }
  return true;
}

// Preempts the most recently admitted running sequence other than `keep` (recomputed later
// from its tokens). Returns false when there is none.
bool Engine::preempt_one(const Sequence* keep) {
  int best = -1;
  for (size_t i = 0; i < running_.size(); ++i) {
    if (running_[i].get() == keep) continue;
    if (best < 0 || running_[i]->admit_order > running_[size_t(best)]->admit_order) best = int(i);
  }
  if (best < 0) return false;
  std::unique_ptr<Sequence> victim = std::move(running_[size_t(best)]);
  running_.erase(running_.begin() + best);
  release_blocks(*victim);
  victim->computed = 0;
  victim->mtp_h.clear();  // recomputed with its prefill
  victim->draft_n = 0;
  victim->drafts.clear();
  waiting_.push_front(std::move(victim));
  std::lock_guard<std::mutex> lk(mu_);
  ++stats_.preemptions;
  return true;
}

// Prefix cache: share the published blocks of the longest cached prefix of s's prompt,
// leaving at least one token to run (its logits start the answer).
void Engine::attach_prefix(Sequence& s) {
  const int64_t B = blocks_->block_size();
  const int64_t limit = std::min(s.prompt_len, int64_t(s.tokens.size()) - 1) / B;
  uint64_t parent = 0;
  for (int64_t i = 0; i < limit; ++i) {
    const int32_t b = blocks_->lookup(parent, &s.tokens[size_t(i * B)]);
    if (b < 0) break;
    s.blocks.push_back(b);
    parent = BlockManager::chain_hash(parent, &s.tokens[size_t(i * B)], B);
    s.published = i + 1;
    s.last_hash = parent;
  }
  s.computed = int64_t(s.blocks.size()) * B;
}

// Publishes the full blocks of prompt tokens whose rows are written.
void Engine::publish_prefix(Sequence& s) {
  const int64_t B = blocks_->block_size();
  const int64_t full = std::min(s.computed, s.prompt_len) / B;
  for (int64_t i = s.published; i < full; ++i) {
    s.last_hash = blocks_->publish(s.blocks[size_t(i)], s.last_hash, &s.tokens[size_t(i * B)]);
    s.published = i + 1;
  }
}

void Engine::apply_cancellations() {
  std::vector<uint64_t> ids;
  {
    std::lock_guard<std::mutex> lk(mu_);
    ids.swap(cancelled_);
    while (!incoming_.empty()) {
      waiting_.push_back(std::move(incoming_.front()));
      incoming_.pop_front();
    }
  }
  for (uint64_t id : ids) {
    for (size_t i = 0; i < running_.size(); ++i)
      if (running_[i]->id == id) {
        finish(*running_[i], "cancelled");
        running_.erase(running_.begin() + int64_t(i));
        break;
      }
    for (size_t i = 0; i < waiting_.size(); ++i)
      if (waiting_[i]->id == id) {
        finish(*waiting_[i], "cancelled");
        waiting_.erase(waiting_.begin() + int64_t(i));
        break;
      }
  }
}

// Drafts of the verifying sequences from MTP module 1 (greedy requests: the argmax; sampled
// ones: a draw from the request's own filtered distribution q, kept for the acceptance rule),
// all sequences at once per
// draft depth: the first from each s.mtp_h, the next ones reusing the module one position
// further on its own output and the previous draft (as generate_speculative does). The
// module's cache rows written past `computed` are overwritten once the verified tokens are known.
void Engine::draft_all(const std::vector<Sequence*>& seqs) {
  const int64_t D = model_.hidden_size(), V = model_.vocab_size();
  std::vector<Sequence*> act;
  std::vector<float> h, h_next;
  for (Sequence* s : seqs) {
    s->drafts.clear();
    s->draft_q.clear();
    act.push_back(s);
    h.insert(h.end(), s->mtp_h.begin(), s->mtp_h.end());
  }
  for (int64_t depth = 0; !act.empty(); ++depth) {
    const int64_t n = int64_t(act.size());
    if (depth > 0) {
      std::vector<int32_t> prev;
      std::vector<BatchSlice> slices;
      for (int64_t i = 0; i < n; ++i) {
        prev.push_back(act[size_t(i)]->drafts.back());
        slices.push_back({i, 1, act[size_t(i)]->computed + depth - 1, &act[size_t(i)]->rows});
      }
      h_next.resize(size_t(n * D));
      model_.mtp_forward_batch(1, h.data(), prev.data(), n, 0, slices, h_next.data());
      h.swap(h_next);
    }
    draft_logits_.resize(size_t(n * V));
    model_.mtp_logits(1, h.data(), n, draft_logits_.data());
    std::vector<Sequence*> keep;
    std::vector<float> hk;
    for (int64_t i = 0; i < n; ++i) {
      Sequence* s = act[size_t(i)];
      const float* lg = &draft_logits_[size_t(i * V)];
      s->drafts.push_back(draw_draft(s->sampler, lg, V, s->draft_q));
      if (int64_t(s->drafts.size()) < s->draft_n) {
        keep.push_back(s);
        hk.insert(hk.end(), h.begin() + i * D, h.begin() + (i + 1) * D);
      }
    }
    act.swap(keep);
    h.swap(hk);
  }
}

bool Engine::step() {
  apply_cancellations();
  if (running_.empty() && waiting_.empty()) {
    update_gauges();
    return false;
  }
  const int64_t B = blocks_->block_size();
  struct Work {
    Sequence* s;
    int64_t len;
    bool verify = false;  // a speculating decode entry: [last token, drafts], all rows' logits
  };
  std::vector<Work> prefill, decode;
  int64_t budget = opts_.max_batch_tokens;

  // 1. One token for every decoding sequence; a new block when it crosses a boundary,
  //    preempting the newest other sequence when the pool is exhausted.
  std::vector<Sequence*> no_room;
  for (bool changed = true; changed;) {
    changed = false;
    for (auto& sp : running_) {
      Sequence* s = sp.get();
      s->draft_n = 0;
      if (!s->decoding() || grow(*s, s->computed + 1)) continue;
      if (preempt_one(s)) {
        changed = true;
        break;
      }
      no_room.push_back(s);  // alone and still no block: the cache cannot hold it any longer
    }
  }
  for (Sequence* s : no_room) {
    finish(*s, "length");
    running_.erase(std::find_if(running_.begin(), running_.end(), [&](const auto& p) { return p.get() == s; }));
  }
  int64_t decoders = 0;
  for (auto& sp : running_) decoders += sp->decoding();
  // 1b. Drafts of speculating sequences: at most N each, within the context and the tokens
  //     still wanted (a step emits up to drafts + 1), half of the step budget the decode
  //     tokens leave (prompt chunks keep the rest), and blocks that are free without
  //     evicting a cached prefix or preempting anyone.
  const int64_t ctx_now = context();
  int64_t draft_budget = std::max<int64_t>(0, (budget - decoders) / 2);
  for (auto& sp : running_) {
    Sequence* s = sp.get();
    if (!s->decoding() || opts_.speculative_draft == 0 || s->mtp_h.empty()) continue;
    int64_t n = std::min({opts_.speculative_draft, ctx_now - s->computed - 1, s->req.max_new_tokens - s->generated - 1,
                          draft_budget});
    const int64_t spare = blocks_->free_blocks() - blocks_->cached_blocks();
    n = std::min(n, (int64_t(s->blocks.size()) + spare) * B - s->computed - 1);
    if (n <= 0 || !grow(*s, s->computed + 1 + n)) continue;
    s->draft_n = n;
    draft_budget -= n;
  }
  for (auto& sp : running_)
    if (sp->decoding()) {
      decode.push_back({sp.get(), 1 + sp->draft_n, sp->draft_n > 0});
      budget -= 1 + sp->draft_n;
    }

  // 2. Prompt chunks: sequences already prefilling (admission order), then new admissions.
  auto schedule_chunk = [&](Sequence& s) -> int64_t {
    int64_t len = std::min(budget, s.remaining());
    if (len <= 0) return 0;
    const int64_t have = int64_t(s.blocks.size()) * B;
    if (have < s.computed + len && !grow(s, s.computed + len))
      len = std::max<int64_t>(0, int64_t(s.blocks.size()) * B - s.computed);
    return len;
  };
  for (auto& sp : running_) {
    Sequence* s = sp.get();
    if (s->decoding() || budget <= 0) continue;
    const int64_t len = schedule_chunk(*s);
    if (len > 0) {
      prefill.push_back({s, len});
      budget -= len;
    }
  }
  while (budget > 0 && !waiting_.empty() && int64_t(running_.size()) < opts_.max_running) {
    Sequence& s = *waiting_.front();
    if (opts_.prefix_cache) attach_prefix(s);
    // Admit only when the whole remaining prompt fits in free blocks (no thrashing).
    const int64_t need = (int64_t(s.tokens.size()) + B - 1) / B - int64_t(s.blocks.size());
    if (need > blocks_->free_blocks()) {
      release_blocks(s);
      s.computed = 0;
      if (running_.empty()) {  // even an empty cache cannot hold it (grown by preemption)
        finish(s, "length");
        waiting_.pop_front();
        continue;
      }
      break;
    }
    const int64_t len = schedule_chunk(s);
    if (len <= 0) {
      release_blocks(s);
      s.computed = 0;
      break;
    }
    const int64_t hit = s.computed;
    if (!s.admitted_once) {
      s.admitted_once = true;
      s.cached_tokens = hit;
      std::lock_guard<std::mutex> lk(mu_);
      stats_.prefix_query_tokens += uint64_t(s.prompt_len);
      stats_.prefix_hit_tokens += uint64_t(hit);
      stats_.prompt_tokens += uint64_t(s.prompt_len);
    }
    s.admit_order = ++admit_counter_;
    prefill.push_back({&s, len});
    budget -= len;
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  if (prefill.empty() && decode.empty()) {
    update_gauges();
    return !running_.empty() || !waiting_.empty();
  }

  // 3. One batched forward: prefill rows first, then decode rows.
  const int64_t L = model_.cache_layers();
  std::vector<int32_t> ids;
  std::vector<BatchSlice> slices;
  std::vector<Work> order = prefill;
  order.insert(order.end(), decode.begin(), decode.end());
  int64_t n_prefill = 0;
  for (const Work& w : prefill) n_prefill += w.len;
  const int64_t D = model_.hidden_size(), V = model_.vocab_size();
  std::vector<Sequence*> verifiers;
  for (const Work& w : order) {
    Sequence& s = *w.s;
    s.tables.resize(size_t(L));
    s.rows.resize(size_t(L));
    for (int64_t l = 0; l < L; ++l) s.rows[size_t(l)] = blocks_->layer_view(s.blocks, l, s.tables[size_t(l)]);
    if (w.verify) verifiers.push_back(&s);
  }
  if (!verifiers.empty()) draft_all(verifiers);
  for (const Work& w : order) {
    Sequence& s = *w.s;
    slices.push_back({int64_t(ids.size()), w.len, s.computed, &s.rows});
    if (w.verify) {
      ids.push_back(s.tokens[size_t(s.computed)]);
      ids.insert(ids.end(), s.drafts.begin(), s.drafts.end());
    } else {
      ids.insert(ids.end(), s.tokens.begin() + s.computed, s.tokens.begin() + s.computed + w.len);
    }
  }
  const int64_t T = int64_t(ids.size());
  hidden_.resize(size_t(T * D));
  model_.forward_batch(ids.data(), T, n_prefill, slices, hidden_.data());

  // 4. Logits for the sequences whose last token ran.
  // A speculating sequence needs the logits of all its rows (each verifies the draft after
  // it); its `computed` advances by the accepted rows only, in step 5.
  std::vector<size_t> sampled;       // indices into order
  std::vector<int64_t> first_logit;  // per sampled entry: its first row of logits_
  std::vector<float> last;
  int64_t logit_rows = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    Sequence& s = *order[i].s;
    const bool verifying = order[i].verify;
    if (!verifying) s.computed += order[i].len;
    if (verifying || s.computed == int64_t(s.tokens.size())) {
      sampled.push_back(i);
      first_logit.push_back(logit_rows);
      const int64_t n = verifying ? order[i].len : 1;
      const float* h = &hidden_[size_t((slices[i].row0 + order[i].len - n) * D)];
      last.insert(last.end(), h, h + n * D);
      logit_rows += n;
    }
  }
  if (opts_.prefix_cache)
    for (const Work& w : order) publish_prefix(*w.s);
  logits_.resize(size_t(logit_rows * V));
  if (logit_rows > 0) model_.logits(last.data(), logit_rows, logits_.data());

  // 5. Sample, stream, finish.
  const auto now = Clock::now();
  const int64_t ctx = context();
  std::vector<Sequence*> done;
  // 5a. The tokens each sampled entry yields: one sample, or for a verifying sequence the
  // sample of each row while the draft before it matched (greedy: the argmax, as plain
  // decoding would choose), then the first mismatch (or the bonus token after all drafts).
  std::vector<std::vector<int32_t>> out(sampled.size());
  for (size_t j = 0; j < sampled.size(); ++j) {
    Sequence& s = *order[sampled[j]].s;
    const bool verifying = order[sampled[j]].verify;
    const int64_t rows = verifying ? order[sampled[j]].len : 1;
    for (int64_t r = 0; r < rows; ++r) {
      const float* lg = &logits_[size_t((first_logit[j] + r) * V)];
      if (!verifying || r == s.draft_n) {  // a plain step, or the bonus token after all drafts
        out[j].push_back(s.sampler.sample(lg, V));
        break;
      }
      if (s.sampler.greedy()) {  // the argmax, as plain decoding would choose; go on while it matches
        out[j].push_back(s.sampler.sample(lg, V));
        if (out[j].back() != s.drafts[size_t(r)]) break;
      } else {  // the rejection rule: the output keeps the distribution of plain sampling
        bool accepted = false;
        out[j].push_back(accept_or_resample(s.sampler, lg, V, s.drafts[size_t(r)], s.draft_q[size_t(r)], &accepted));
        if (!accepted) break;
      }
    }
    if (verifying) {
      std::lock_guard<std::mutex> lk(mu_);
      stats_.spec_drafted += uint64_t(s.draft_n);
      stats_.spec_accepted += uint64_t(out[j].size() - 1);
    }
  }
  // 5b. MTP module 1 over every row run this step whose next token is now known, all
  // sequences in one pass (prompt rows first, as in the step's forward): it writes their MTP
  // cache rows (also in blocks published to the prefix cache) and gives the next draft's
  // input. Verification rows past the accepted ones are overwritten in later steps.
  if (opts_.speculative_draft > 0) {
    std::vector<float> hm;
    std::vector<int32_t> next;
    std::vector<BatchSlice> mslices;
    std::vector<Sequence*> owners;
    int64_t m_prefill = 0;
    for (size_t i = 0, j = 0; i < order.size(); ++i) {
      Sequence& s = *order[i].s;
      const bool is_sampled = j < sampled.size() && sampled[j] == i;
      const size_t jj = j;
      if (is_sampled) ++j;
      const int64_t c0 = order[i].verify ? s.computed : s.computed - order[i].len;
      const int64_t row0 = int64_t(next.size());
      if (order[i].verify) {
        next.insert(next.end(), out[jj].begin(), out[jj].end());
      } else if (is_sampled) {  // the chunk reached the end: its last row's next token was just sampled
        next.insert(next.end(), s.tokens.begin() + c0 + 1, s.tokens.begin() + s.computed);
        next.push_back(out[jj][0]);
      } else {  // a prompt chunk with more prompt after it
        next.insert(next.end(), s.tokens.begin() + c0 + 1, s.tokens.begin() + s.computed + 1);
      }
      const int64_t m = int64_t(next.size()) - row0;
      const float* h = &hidden_[size_t(slices[i].row0 * D)];
      hm.insert(hm.end(), h, h + m * D);
      mslices.push_back({row0, m, c0, &s.rows});
      owners.push_back(&s);
      if (i < prefill.size()) m_prefill += m;
    }
    if (!next.empty()) {
      mtp_out_.resize(next.size() * size_t(D));
      model_.mtp_forward_batch(1, hm.data(), next.data(), int64_t(next.size()), m_prefill, mslices, mtp_out_.data());
      for (size_t k = 0; k < owners.size(); ++k) {
        const float* last_row = &mtp_out_[size_t((mslices[k].row0 + mslices[k].len - 1) * D)];
        owners[k]->mtp_h.assign(last_row, last_row + D);
      }
    }
  }
  // 5c. Stream the tokens; a token that ends the request drops the ones after it.
  for (size_t j = 0; j < sampled.size(); ++j) {
    const size_t oi = sampled[j];
    Sequence& s = *order[oi].s;
    if (order[oi].verify) s.computed += int64_t(out[j].size());  // `last` and the accepted drafts
    for (size_t r = 0; r < out[j].size(); ++r) {
      const float* lg = &logits_[size_t((first_logit[j] + int64_t(r)) * V)];
      TokenEvent ev;
      ev.token = out[j][r];
      if (s.req.top_logprobs >= 0) token_logprobs(lg, V, ev.token, s.req.top_logprobs, &ev.logprob, &ev.top_logprobs);
      ev.prompt_tokens = s.prompt_len;
      ev.cached_tokens = s.cached_tokens;
      s.tokens.push_back(ev.token);
      ++s.generated;
      std::string reason;
      if (std::find(s.req.stop_ids.begin(), s.req.stop_ids.end(), ev.token) != s.req.stop_ids.end()) reason = "stop";
      else if (s.generated >= s.req.max_new_tokens || int64_t(s.tokens.size()) >= ctx) reason = "length";
      if (!reason.empty()) {
        ev.finished = true;
        ev.finish_reason = reason;
      }
      {
        std::lock_guard<std::mutex> lk(mu_);
        ++stats_.generated_tokens;
        const double dt = std::chrono::duration<double>(now - (s.generated == 1 ? s.submitted : s.last_token)).count();
        if (s.generated == 1) stats_.time_to_first_token.observe(dt);
        else stats_.time_per_output_token.observe(dt);
      }
      s.last_token = now;
      if (!reason.empty()) retire(s, reason);  // as finish(): before the event that carries it
      const bool keep = s.cb ? s.cb(ev) : true;
      if (!reason.empty()) {
        done.push_back(&s);
        break;
      }
      if (!keep) {
        done.push_back(&s);
        finish(s, "cancelled");
        break;
      }
    }
  }
  if (!done.empty())
    running_.erase(std::remove_if(running_.begin(), running_.end(),
                                  [&](const std::unique_ptr<Sequence>& p) {
                                    return std::find(done.begin(), done.end(), p.get()) != done.end();
                                  }),
                   running_.end());
  {
    std::lock_guard<std::mutex> lk(mu_);
    ++stats_.steps;
  }
  update_gauges();
  return true;
}

void Engine::update_gauges() {
  std::lock_guard<std::mutex> lk(mu_);
  stats_.waiting = int64_t(waiting_.size() + incoming_.size());
  stats_.running = int64_t(running_.size());
  stats_.cache_blocks_used = blocks_->used_blocks();
  stats_.cache_blocks_free = blocks_->free_blocks();
  stats_.cache_blocks_cached = blocks_->cached_blocks();
}

}  // namespace dsv3
