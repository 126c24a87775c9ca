#include "server/tool_calls.h"

#include <optional>
#include <random>

#include <nlohmann/json.hpp>

#include "server/ascii_space.h"
#include "server/stop_matcher.h"

namespace dsv3::server {

namespace {

constexpr std::string_view kCallsBegin = "<｜tool▁calls▁begin｜>", kCallsEnd = "<｜tool▁calls▁end｜>",
                           kCallBegin = "<｜tool▁call▁begin｜>", kCallEnd = "<｜tool▁call▁end｜>",
                           kSep = "<｜tool▁sep｜>";

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ascii_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ascii_space(s.back())) s.remove_suffix(1);
  return s;
}

// One call body (between call begin and end), either syntax.
std::optional<ToolCall> parse_call(std::string_view body) {
  const size_t sep = body.find(kSep);
  if (sep == std::string_view::npos) return std::nullopt;
  std::string_view left = trim(body.substr(0, sep)), right = body.substr(sep + kSep.size());
  ToolCall c;
  std::string_view args;
  if (const size_t fence = right.find("```json"); fence != std::string_view::npos) {
    // V3: TYPE<sep>NAME\n```json\nARGS\n```
    if (left != "function") return std::nullopt;
    c.name = std::string(trim(right.substr(0, fence)));
    args = trim(right.substr(fence + 7));
    if (!args.ends_with("```")) return std::nullopt;
    args = trim(args.substr(0, args.size() - 3));
  } else {
    // V3.1: NAME<sep>ARGS
    c.name = std::string(left);
    args = trim(right);
  }
  if (c.name.empty()) return std::nullopt;
  for (char ch : c.name)
    if (is_ascii_space(ch)) return std::nullopt;
  const auto parsed = nlohmann::json::parse(std::string(args), nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return std::nullopt;  // also catches parse failures (discarded)
  c.arguments = std::string(args);
  return c;
}

// The whole section after the begin marker (without the end marker): calls separated by
// whitespace, nothing else.
std::optional<std::vector<ToolCall>> parse_section(std::string_view s) {
  std::vector<ToolCall> calls;
  while (true) {
    s = trim(s);
    if (s.empty()) break;
    if (!s.starts_with(kCallBegin)) return std::nullopt;
    s.remove_prefix(kCallBegin.size());
    const size_t end = s.find(kCallEnd);
    if (end == std::string_view::npos) return std::nullopt;
    auto c = parse_call(s.substr(0, end));
    if (!c) return std::nullopt;
    calls.push_back(std::move(*c));
    s.remove_prefix(end + kCallEnd.size());
  }
  if (calls.empty()) return std::nullopt;
  return calls;
}

}  // namespace

std::string new_tool_call_id() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id += kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
  return id;
}

ToolCallParser::ToolCallParser(std::function<std::string()> make_id) : make_id_(std::move(make_id)) {}

void ToolCallParser::close_section(bool terminated, Delta& d) {
  if (auto calls = parse_section(buf_)) {
    for (auto& c : *calls) {
      c.id = make_id_();
      d.calls.push_back(std::move(c));
    }
    produced_ = true;
  } else {
    d.content.append(kCallsBegin).append(buf_);
    if (terminated) d.content.append(kCallsEnd);
  }
  buf_.clear();
  in_section_ = false;
}

ToolCallParser::Delta ToolCallParser::push(std::string_view text) {
  Delta d;
  buf_.append(text);
  while (true) {
    if (!in_section_) {
      const size_t begin = buf_.find(kCallsBegin);
      if (begin == std::string::npos) {
        const size_t hold = partial_suffix(buf_, kCallsBegin);
        d.content.append(buf_, 0, buf_.size() - hold);
        buf_.erase(0, buf_.size() - hold);
        return d;
      }
      d.content.append(buf_, 0, begin);
      buf_.erase(0, begin + kCallsBegin.size());
      in_section_ = true;
    }
    const size_t end = buf_.find(kCallsEnd);
    if (end == std::string::npos) return d;
    std::string rest = buf_.substr(end + kCallsEnd.size());
    buf_.resize(end);
    close_section(true, d);
    buf_ = std::move(rest);
  }
}

ToolCallParser::Delta ToolCallParser::flush() {
  Delta d;
  if (in_section_) {
    close_section(false, d);
  } else {
    d.content = std::move(buf_);
    buf_.clear();
  }
  return d;
}

}  // namespace dsv3::server
