#include "server/completion_job.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>

#include "server/openai_errors.h"
#include "server/reasoning.h"
#include "server/sse.h"

namespace dsv3::server {

namespace {

using json = nlohmann::json;

uint64_t random_u64() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

std::string random_id(const std::string& prefix) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = prefix;
  for (int i = 0; i < 24; ++i) id += kHex[random_u64() % 16];
  return id;
}

json byte_list(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(int(c));
  return b;
}

}  // namespace

// Events handed over from the engine thread.
struct CompletionJob::Queue {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<int, TokenEvent>> events;
  bool abandoned = false;
};

struct CompletionJob::Choice {
  Choice(const Tokenizer& tok, const OutputOptions& o) : dec(tok, /*skip_special_tokens=*/true), out(o) {}
  uint64_t engine_id = 0;
  bool submitted = false, done = false, engine_done = false;
  StreamDecoder dec;
  OutputPipeline out;
  int64_t tokens = 0;
  std::string finish_reason, error;
  OutputDelta text;             // non-streaming: the whole output
  json logprobs = json::array();  // chat-style entries {token, logprob, bytes, top_logprobs}
  int tool_calls_sent = 0;
};

// ------------------------------------------------------------------------------------------
// Service

CompletionService::CompletionService(Engine& engine, const Tokenizer& tok, const ChatTemplate* tmpl, ServiceConfig cfg)
    : engine_(engine), tok_(tok), tmpl_(tmpl), cfg_(std::move(cfg)) {}

std::vector<int32_t> CompletionService::prompt_ids(const OpenAIRequest& r, std::string* rendered) const {
  if (r.kind == ApiKind::kCompletion) {
    if (r.prompt_is_ids) return r.prompt_ids;
    if (rendered) *rendered = r.prompt_text;
    return tok_.encode(r.prompt_text, /*add_special_tokens=*/true);  // BOS, as HF and vLLM do
  }
  if (!tmpl_) throw ApiError(400, "messages: this model has no chat_template; use /v1/completions", "messages");
  nlohmann::ordered_json vars = r.template_kwargs;
  vars["messages"] = r.messages;
  vars["add_generation_prompt"] = true;
  if (!r.tools.is_null()) vars["tools"] = r.tools;
  std::string prompt;
  try {
    prompt = apply_chat_template(*tmpl_, vars, tok_.bos_token(), tok_.eos_token());
  } catch (const Error& e) {
    throw ApiError(400, std::string("messages: the chat template rejected the conversation: ") + e.what(), "messages");
  }
  if (rendered) *rendered = prompt;
  return tok_.encode(prompt, /*add_special_tokens=*/false);  // the template wrote bos_token itself
}

std::unique_ptr<CompletionJob> CompletionService::start(const OpenAIRequest& r) {
  std::string rendered;
  std::vector<int32_t> ids = prompt_ids(r, &rendered);
  const bool chat = r.kind == ApiKind::kChat;
  const std::string pname = chat ? "messages" : "prompt";
  const int64_t P = int64_t(ids.size()), ctx = cfg_.context;
  if (P == 0) throw ApiError(400, pname + ": the prompt is empty", pname);
  if (P >= ctx)
    throw ApiError(400,
                   pname + ": the prompt has " + std::to_string(P) + " tokens, over the model's context length of " +
                       std::to_string(ctx) + " tokens (at least one is needed for the completion)",
                   pname, "context_length_exceeded");
  // OpenAI defaults: 16 tokens for completions, the rest of the context for chat.
  const int64_t max_new = r.max_tokens ? *r.max_tokens : (chat ? ctx - P : std::min<int64_t>(16, ctx - P));
  if (P + max_new > ctx)
    throw ApiError(400,
                   "max_tokens: " + std::to_string(max_new) + " completion tokens + " + std::to_string(P) +
                       " prompt tokens exceed the model's context length of " + std::to_string(ctx) + " tokens",
                   "max_tokens", "context_length_exceeded");

  SamplingParams base = cfg_.sampling_defaults;
  if (r.sampling.temperature) base.temperature = *r.sampling.temperature;
  if (r.sampling.top_p) base.top_p = *r.sampling.top_p;
  if (r.sampling.top_k) base.top_k = *r.sampling.top_k;
  if (r.sampling.min_p) base.min_p = *r.sampling.min_p;
  try {
    base.validate();
  } catch (const Error& e) {
    throw ApiError(400, e.what());
  }
  // A random seed per request unless given; choice i uses seed + i so n > 1 gives n samples.
  const uint64_t seed = r.sampling.seed ? *r.sampling.seed : random_u64();

  OutputOptions oo;
  oo.stop = r.stop;
  oo.split_reasoning = chat && cfg_.reasoning_model;
  oo.starts_in_reasoning = oo.split_reasoning && prompt_opens_reasoning(rendered);
  oo.parse_tool_calls = chat && r.parse_tool_calls();

  std::unique_ptr<CompletionJob> job(new CompletionJob(engine_, tok_, r, cfg_, stopping_));
  job->prompt_tokens_ = P;
  for (int64_t i = 0; i < r.n; ++i) job->choices_.push_back(std::make_unique<CompletionJob::Choice>(tok_, oo));
  for (int64_t i = 0; i < r.n; ++i) {
    EngineRequest er;
    er.prompt = ids;
    er.max_new_tokens = max_new;
    er.sampling = base;
    er.sampling.seed = seed + uint64_t(i);
    if (!r.ignore_eos) er.stop_ids = cfg_.eos_ids;
    er.top_logprobs = r.logprobs;
    auto q = job->queue_;
    const int index = int(i);
    uint64_t id = 0;
    try {
      id = engine_.submit(std::move(er), [q, index](const TokenEvent& ev) {
        std::lock_guard<std::mutex> lock(q->mu);
        if (q->abandoned) return false;
        q->events.emplace_back(index, ev);
        q->cv.notify_one();
        return true;
      });
    } catch (const EngineBusy& e) {
      throw ApiError(429, std::string(e.what()) + "; retry later", "", "queue_full");  // ~job cancels the others
    } catch (const Error& e) {
      throw ApiError(400, e.what());
    }
    job->choices_[size_t(i)]->engine_id = id;
    job->choices_[size_t(i)]->submitted = true;
  }
  return job;
}

// ------------------------------------------------------------------------------------------
// Job

CompletionJob::CompletionJob(Engine& engine, const Tokenizer& tok, OpenAIRequest req, const ServiceConfig& cfg,
                             const std::atomic<bool>& stopping)
    : engine_(engine), tok_(tok), stopping_(stopping), req_(std::move(req)), queue_(std::make_shared<Queue>()) {
  id_ = random_id(req_.kind == ApiKind::kChat ? "chatcmpl-" : "cmpl-");
  model_ = cfg.model_name;
  created_ = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

CompletionJob::~CompletionJob() { cancel(); }

void CompletionJob::cancel() {
  {
    std::lock_guard<std::mutex> lock(queue_->mu);
    queue_->abandoned = true;
  }
  for (auto& c : choices_)
    if (c->submitted && !c->engine_done) {
      engine_.cancel(c->engine_id);
      c->engine_done = true;  // cancel once
    }
}

bool CompletionJob::all_done() const {
  for (const auto& c : choices_)
    if (!c->done) return false;
  return true;
}

json CompletionJob::chunk_base() const {
  json j = {{"id", id_},
            {"object", req_.kind == ApiKind::kChat ? "chat.completion.chunk" : "text_completion"},
            {"created", created_},
            {"model", model_}};
  if (req_.include_usage) j["usage"] = nullptr;
  return j;
}

json CompletionJob::usage() const {
  int64_t completion = 0;
  for (const auto& c : choices_) completion += c->tokens;
  return {{"prompt_tokens", prompt_tokens_},
          {"completion_tokens", completion},
          {"total_tokens", prompt_tokens_ + completion},
          {"prompt_tokens_details", {{"cached_tokens", cached_tokens_}}}};
}

namespace {

// Chat-style logprob entries -> the legacy completions format.
json legacy_logprobs(const json& entries, int64_t& text_offset) {
  json out = {{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()},
              {"text_offset", json::array()}};
  for (const auto& e : entries) {
    out["tokens"].push_back(e["token"]);
    out["token_logprobs"].push_back(e["logprob"]);
    json top = json::object();
    for (const auto& t : e["top_logprobs"]) top[t["token"].get<std::string>()] = t["logprob"];
    out["top_logprobs"].push_back(top);
    out["text_offset"].push_back(text_offset);
    text_offset += int64_t(e["token"].get<std::string>().size());
  }
  return out;
}

json tool_calls_json(const std::vector<ToolCall>& calls, int* next_index) {
  json a = json::array();
  for (const auto& c : calls) {
    json t = {{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}};
    if (next_index) t["index"] = (*next_index)++;
    a.push_back(std::move(t));
  }
  return a;
}

}  // namespace

void CompletionJob::handle(int index, const TokenEvent& ev, std::vector<json>* chunks) {
  Choice& c = *choices_[size_t(index)];
  if (ev.finished) c.engine_done = true;
  if (index == 0) cached_tokens_ = ev.cached_tokens;
  if (c.done) return;  // a stop string ended it; events until the cancel lands are dropped
  OutputDelta d;
  json lp = json::array();
  if (ev.token >= 0) {
    ++c.tokens;
    if (req_.logprobs >= 0) {
      const std::string s = tok_.decode({ev.token});
      json top = json::array();
      for (const auto& [id, l] : ev.top_logprobs) {
        const std::string ts = tok_.decode({id});
        top.push_back({{"token", ts}, {"logprob", l}, {"bytes", byte_list(ts)}});
      }
      lp.push_back({{"token", s}, {"logprob", ev.logprob}, {"bytes", byte_list(s)}, {"top_logprobs", top}});
    }
    d.append(c.out.push(c.dec.push(ev.token)));
    if (c.out.stopped()) {
      c.done = true;
      c.finish_reason = "stop";
      if (!ev.finished) engine_.cancel(c.engine_id);
    }
  }
  if (ev.finished && !c.done) {
    c.done = true;
    if (ev.finish_reason == "error") {
      c.finish_reason = "error";
      c.error = ev.error.empty() ? "the engine failed" : ev.error;
    } else {
      d.append(c.out.push(c.dec.flush()));
      d.append(c.out.finish());
      c.finish_reason = ev.finish_reason == "length" ? "length" : "stop";
    }
  }
  if (c.done && c.finish_reason != "error" && c.out.produced_tool_calls()) c.finish_reason = "tool_calls";

  const bool is_chat = req_.kind == ApiKind::kChat;
  if (!chunks) {  // non-streaming: accumulate
    c.text.append(std::move(d));
    for (auto& e : lp) c.logprobs.push_back(std::move(e));
    return;
  }
  auto choice_chunk = [&](json body) {
    json ch = chunk_base();
    body["index"] = index;
    ch["choices"] = json::array({std::move(body)});
    chunks->push_back(std::move(ch));
  };
  if (!d.empty() || !lp.empty()) {
    json body;
    if (is_chat) {
      json delta = json::object();
      if (!d.reasoning.empty()) delta["reasoning_content"] = d.reasoning;
      if (!d.content.empty()) delta["content"] = d.content;
      if (!d.tool_calls.empty()) delta["tool_calls"] = tool_calls_json(d.tool_calls, &c.tool_calls_sent);
      body = {{"delta", delta}, {"logprobs", lp.empty() ? json() : json{{"content", lp}}}, {"finish_reason", nullptr}};
    } else {
      int64_t offset = 0;  // text offsets of a streamed chunk are relative to the chunk
      body = {{"text", d.content}, {"logprobs", req_.logprobs >= 0 ? legacy_logprobs(lp, offset) : json()},
              {"finish_reason", nullptr}};
    }
    choice_chunk(std::move(body));
  }
  if (c.done) {
    if (c.finish_reason == "error") {
      chunks->push_back(error_body(500, c.error));
    } else if (is_chat) {
      choice_chunk({{"delta", json::object()}, {"logprobs", nullptr}, {"finish_reason", c.finish_reason}});
    } else {
      choice_chunk({{"text", ""}, {"logprobs", nullptr}, {"finish_reason", c.finish_reason}});
    }
  }
}

bool CompletionJob::drain(std::chrono::milliseconds wait, std::vector<json>* chunks) {
  std::deque<std::pair<int, TokenEvent>> events;
  {
    std::unique_lock<std::mutex> lock(queue_->mu);
    if (!queue_->cv.wait_for(lock, wait, [&] { return !queue_->events.empty(); })) return false;
    events.swap(queue_->events);
  }
  for (const auto& [i, ev] : events) handle(i, ev, chunks);
  return true;
}

bool CompletionJob::next_sse(std::string& out, std::chrono::milliseconds wait) {
  if (finished_) return false;
  std::vector<json> chunks;
  if (!started_) {
    started_ = true;
    if (req_.kind == ApiKind::kChat)  // the first chunk of each choice carries the role
      for (size_t i = 0; i < choices_.size(); ++i) {
        json ch = chunk_base();
        ch["choices"] = json::array({{{"index", i},
                                      {"delta", {{"role", "assistant"}, {"content", ""}}},
                                      {"logprobs", nullptr},
                                      {"finish_reason", nullptr}}});
        chunks.push_back(std::move(ch));
      }
  } else {
    drain(wait, &chunks);
  }
  for (const auto& c : chunks) out += sse_event(c);
  if (all_done()) {
    if (req_.include_usage) {
      json u = chunk_base();
      u["choices"] = json::array();
      u["usage"] = usage();
      out += sse_event(u);
    }
    out += sse_done();
    finished_ = true;
  }
  return true;
}

json CompletionJob::wait_response() {
  while (!all_done()) {
    if (stopping_) throw ApiError(503, "the server is shutting down");
    drain(std::chrono::milliseconds(200), nullptr);
  }
  for (const auto& c : choices_)
    if (c->finish_reason == "error") throw ApiError(500, c->error);
  json r = {{"id", id_},
            {"object", req_.kind == ApiKind::kChat ? "chat.completion" : "text_completion"},
            {"created", created_},
            {"model", model_},
            {"choices", json::array()}};
  for (size_t i = 0; i < choices_.size(); ++i) {
    Choice& c = *choices_[i];
    json ch = {{"index", i}};
    if (req_.kind == ApiKind::kChat) {
      json msg = {{"role", "assistant"}};
      msg["content"] = c.text.content.empty() && !c.text.tool_calls.empty() ? json() : json(c.text.content);
      if (c.out.splits_reasoning()) msg["reasoning_content"] = c.text.reasoning.empty() ? json() : json(c.text.reasoning);
      if (!c.text.tool_calls.empty()) msg["tool_calls"] = tool_calls_json(c.text.tool_calls, nullptr);
      ch["message"] = msg;
      ch["logprobs"] = req_.logprobs >= 0 ? json{{"content", c.logprobs}} : json();
    } else {
      int64_t offset = 0;
      ch["text"] = c.text.content;
      ch["logprobs"] = req_.logprobs >= 0 ? legacy_logprobs(c.logprobs, offset) : json();
    }
    ch["finish_reason"] = c.finish_reason;
    r["choices"].push_back(std::move(ch));
  }
  r["usage"] = usage();
  finished_ = true;
  return r;
}

}  // namespace dsv3::server
