#include "server/openai_request.h"

#include <cmath>
#include <limits>
#include <sstream>

#include "server/openai_errors.h"

namespace dsv3::server {

namespace {

using ojson = nlohmann::ordered_json;

// A present, non-null field (OpenAI clients send null for "unset").
const ojson* field(const ojson& body, const char* key) {
  auto it = body.find(key);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

std::string str(int64_t v) { return std::to_string(v); }
std::string str(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// An integer (JSON integer, or a float with an integral value as Python clients may send).
int64_t as_int(const ojson& v, const std::string& name, int64_t lo, int64_t hi) {
  int64_t x = 0;
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
      bad_field(name, "out of range");
    x = v.get<int64_t>();
  } else if (v.is_number_float() && std::isfinite(v.get<double>()) && std::floor(v.get<double>()) == v.get<double>() &&
             std::fabs(v.get<double>()) < 9e15) {
    x = int64_t(v.get<double>());
  } else {
    bad_field(name, "must be an integer, got " + v.dump());
  }
  if (x < lo || x > hi) {
    if (hi == std::numeric_limits<int64_t>::max()) bad_field(name, "must be >= " + str(lo) + ", got " + str(x));
    bad_field(name, "must be between " + str(lo) + " and " + str(hi) + ", got " + str(x));
  }
  return x;
}

double as_number(const ojson& v, const std::string& name, double lo, double hi, bool lo_open = false) {
  if (!v.is_number()) bad_field(name, "must be a number, got " + v.dump());
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi || (lo_open && x == lo))
    bad_field(name, std::string("must be in ") + (lo_open ? "(" : "[") + str(lo) + ", " + str(hi) + "], got " + v.dump());
  return x;
}

bool as_bool(const ojson& v, const std::string& name) {
  if (!v.is_boolean()) bad_field(name, "must be true or false, got " + v.dump());
  return v.get<bool>();
}

// A token-id list: non-empty, every entry an integer id >= 0 (the vocabulary bound is the
// engine's check).
std::vector<int32_t> as_ids(const ojson& v, const std::string& name) {
  std::vector<int32_t> ids;
  if (v.empty()) bad_field(name, "must not be empty");
  for (size_t i = 0; i < v.size(); ++i)
    ids.push_back(int32_t(as_int(v[i], name + "[" + std::to_string(i) + "]", 0, std::numeric_limits<int32_t>::max())));
  return ids;
}

void parse_prompt(const ojson& body, OpenAIRequest& r) {
  const ojson* p = field(body, "prompt");
  if (!p) bad_field("prompt", "is required");
  if (p->is_string()) {
    r.prompt_text = p->get<std::string>();
    return;
  }
  if (!p->is_array() || p->empty()) bad_field("prompt", "must be a string or a list of token ids");
  const ojson& first = (*p)[0];
  // A batch of one prompt ([text] or [[ids]]) is accepted; larger batches are not.
  if (first.is_string() || first.is_array()) {
    if (p->size() != 1) bad_field("prompt", "only one prompt per request is supported, got " + str(int64_t(p->size())));
    if (first.is_string()) {
      r.prompt_text = first.get<std::string>();
    } else {
      r.prompt_is_ids = true;
      r.prompt_ids = as_ids(first, "prompt[0]");
    }
    return;
  }
  r.prompt_is_ids = true;
  r.prompt_ids = as_ids(*p, "prompt");
}

// Content as the templates want it: a string (content parts of type "text" are joined), or
// null (an assistant message carrying tool_calls).
ojson message_content(const ojson& c, const std::string& name) {
  if (c.is_null() || c.is_string()) return c;
  if (!c.is_array()) bad_field(name, "must be a string, a list of content parts, or null");
  std::string text;
  for (size_t i = 0; i < c.size(); ++i) {
    const std::string pn = name + "[" + std::to_string(i) + "]";
    const ojson& part = c[i];
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
      bad_field(pn, "only content parts {\"type\": \"text\", \"text\": \"...\"} are supported");
    text += part["text"].get<std::string>();
  }
  return text;
}

void parse_messages(const ojson& body, OpenAIRequest& r) {
  const ojson* m = field(body, "messages");
  if (!m) bad_field("messages", "is required");
  if (!m->is_array() || m->empty()) bad_field("messages", "must be a non-empty list of messages");
  for (size_t i = 0; i < m->size(); ++i) {
    const std::string name = "messages[" + std::to_string(i) + "]";
    const ojson& msg = (*m)[i];
    if (!msg.is_object()) bad_field(name, "must be an object");
    if (!msg.contains("role") || !msg["role"].is_string()) bad_field(name + ".role", "is required and must be a string");
    std::string role = msg["role"].get<std::string>();
    if (role == "developer") role = "system";  // OpenAI's newer name for system prompts
    if (role != "system" && role != "user" && role != "assistant" && role != "tool")
      bad_field(name + ".role", "must be one of system, developer, user, assistant, tool; got \"" + role + "\"");
    ojson out = msg;
    out["role"] = role;
    out["content"] = message_content(msg.contains("content") ? msg["content"] : ojson(), name + ".content");
    const bool has_calls = msg.contains("tool_calls") && !msg["tool_calls"].is_null();
    if (out["content"].is_null() && !(role == "assistant" && has_calls))
      bad_field(name + ".content", "is required (null only for an assistant message with tool_calls)");
    if (has_calls) {
      if (role != "assistant") bad_field(name + ".tool_calls", "only assistant messages carry tool_calls");
      const ojson& calls = msg["tool_calls"];
      if (!calls.is_array()) bad_field(name + ".tool_calls", "must be a list");
      for (size_t k = 0; k < calls.size(); ++k) {
        const std::string cn = name + ".tool_calls[" + std::to_string(k) + "]";
        const ojson& c = calls[k];
        if (!c.is_object() || !c.contains("function") || !c["function"].is_object())
          bad_field(cn, "must be {\"type\": \"function\", \"function\": {\"name\", \"arguments\"}}");
        const ojson& f = c["function"];
        if (!f.contains("name") || !f["name"].is_string()) bad_field(cn + ".function.name", "must be a string");
        if (!f.contains("arguments") || !f["arguments"].is_string())
          bad_field(cn + ".function.arguments", "must be a string (JSON text)");
        if (!c.contains("type")) out["tool_calls"][k]["type"] = "function";  // the V3 template prints it
      }
    }
    r.messages.push_back(std::move(out));
  }
}

void parse_tools(const ojson& body, OpenAIRequest& r) {
  if (const ojson* t = field(body, "tools")) {
    if (!t->is_array()) bad_field("tools", "must be a list");
    for (size_t i = 0; i < t->size(); ++i) {
      const ojson& tool = (*t)[i];
      const std::string name = "tools[" + std::to_string(i) + "]";
      if (!tool.is_object() || tool.value("type", "function") != "function" || !tool.contains("function") ||
          !tool["function"].is_object() || !tool["function"].contains("name") || !tool["function"]["name"].is_string())
        bad_field(name, "must be {\"type\": \"function\", \"function\": {\"name\": ..., \"parameters\": ...}}");
    }
    r.tools = *t;
  }
  if (const ojson* c = field(body, "tool_choice")) {
    if (c->is_string()) {
      r.tool_choice = c->get<std::string>();
      if (r.tool_choice != "none" && r.tool_choice != "auto" && r.tool_choice != "required")
        bad_field("tool_choice", "must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", ...}");
    } else if (c->is_object() && c->contains("function") && (*c)["function"].is_object() &&
               (*c)["function"].contains("name") && (*c)["function"]["name"].is_string()) {
      r.tool_choice = (*c)["function"]["name"].get<std::string>();
    } else {
      bad_field("tool_choice", "must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", ...}");
    }
  }
  if (const ojson* k = field(body, "chat_template_kwargs")) {
    if (!k->is_object()) bad_field("chat_template_kwargs", "must be an object");
    r.template_kwargs = *k;
  }
}

void parse_stop(const ojson& body, OpenAIRequest& r) {
  const ojson* s = field(body, "stop");
  if (!s) return;
  if (s->is_string()) {
    if (!s->get<std::string>().empty()) r.stop.push_back(s->get<std::string>());
    return;
  }
  if (!s->is_array()) bad_field("stop", "must be a string or a list of strings");
  if (int64_t(s->size()) > kMaxStopStrings) bad_field("stop", "at most " + str(kMaxStopStrings) + " stop strings");
  for (size_t i = 0; i < s->size(); ++i) {
    if (!(*s)[i].is_string()) bad_field("stop[" + std::to_string(i) + "]", "must be a string");
    if (!(*s)[i].get<std::string>().empty()) r.stop.push_back((*s)[i].get<std::string>());
  }
}

void parse_sampling(const ojson& body, OpenAIRequest& r) {
  if (const ojson* v = field(body, "temperature")) r.sampling.temperature = float(as_number(*v, "temperature", 0, 2));
  if (const ojson* v = field(body, "top_p")) r.sampling.top_p = float(as_number(*v, "top_p", 0, 1, true));
  if (const ojson* v = field(body, "min_p")) r.sampling.min_p = float(as_number(*v, "min_p", 0, 1));
  if (const ojson* v = field(body, "top_k")) {
    const int64_t k = as_int(*v, "top_k", -1, std::numeric_limits<int32_t>::max());
    r.sampling.top_k = k < 0 ? 0 : k;  // -1 means "off" in vLLM and SGLang
  }
  if (const ojson* v = field(body, "seed"))
    r.sampling.seed = uint64_t(as_int(*v, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()));
  // Penalties and biases change the distribution; refusing them beats silently ignoring them.
  for (const char* k : {"presence_penalty", "frequency_penalty"})
    if (const ojson* v = field(body, k))
      if (as_number(*v, k, -2, 2) != 0) bad_field(k, "is not supported (only 0)");
  if (const ojson* v = field(body, "logit_bias"))
    if (!v->is_object() || !v->empty()) bad_field("logit_bias", "is not supported");
}

}  // namespace

OpenAIRequest parse_openai_request(const std::string& text, ApiKind kind) {
  ojson body;
  try {
    body = ojson::parse(text);
  } catch (const ojson::exception& e) {
    throw ApiError(400, std::string("request body is not valid JSON: ") + e.what());
  }
  if (!body.is_object()) throw ApiError(400, "request body must be a JSON object");
  OpenAIRequest r;
  r.kind = kind;
  if (const ojson* m = field(body, "model")) {
    if (!m->is_string()) bad_field("model", "must be a string");
    r.model = m->get<std::string>();
  }
  if (kind == ApiKind::kCompletion) {
    parse_prompt(body, r);
    if (const ojson* e = field(body, "echo"))
      if (as_bool(*e, "echo")) bad_field("echo", "is not supported");
    if (const ojson* s = field(body, "suffix"))
      if (!s->is_string() || !s->get<std::string>().empty()) bad_field("suffix", "is not supported");
    if (const ojson* l = field(body, "logprobs")) r.logprobs = as_int(*l, "logprobs", 0, kMaxTopLogprobs);
  } else {
    parse_messages(body, r);
    parse_tools(body, r);
    bool want = false;
    if (const ojson* l = field(body, "logprobs")) want = as_bool(*l, "logprobs");
    if (const ojson* t = field(body, "top_logprobs")) {
      const int64_t k = as_int(*t, "top_logprobs", 0, kMaxTopLogprobs);
      if (!want) bad_field("top_logprobs", "needs \"logprobs\": true");
      r.logprobs = k;
    } else if (want) {
      r.logprobs = 0;
    }
    if (const ojson* f = field(body, "response_format"))
      if (!f->is_object() || f->value("type", "") != "text") bad_field("response_format", "only {\"type\": \"text\"} is supported");
  }
  if (const ojson* s = field(body, "stream")) r.stream = as_bool(*s, "stream");
  if (const ojson* o = field(body, "stream_options")) {
    if (!o->is_object()) bad_field("stream_options", "must be an object");
    if (o->contains("include_usage") && !(*o)["include_usage"].is_null())
      r.include_usage = as_bool((*o)["include_usage"], "stream_options.include_usage");
  }
  // max_completion_tokens is the newer name; when both are given the newer one wins.
  if (const ojson* m = field(body, "max_tokens")) r.max_tokens = as_int(*m, "max_tokens", 1, std::numeric_limits<int64_t>::max());
  if (const ojson* m = field(body, "max_completion_tokens"))
    r.max_tokens = as_int(*m, "max_completion_tokens", 1, std::numeric_limits<int64_t>::max());
  if (const ojson* n = field(body, "n")) r.n = as_int(*n, "n", 1, kMaxChoices);
  if (const ojson* e = field(body, "ignore_eos")) r.ignore_eos = as_bool(*e, "ignore_eos");
  parse_sampling(body, r);
  parse_stop(body, r);
  return r;
}

}  // namespace dsv3::server
