#include "server/reasoning.h"

#include "server/ascii_space.h"
#include "server/stop_matcher.h"

namespace dsv3::server {

namespace {
constexpr std::string_view kOpen = "<think>", kClose = "</think>";
}  // namespace

bool prompt_opens_reasoning(std::string_view prompt) {
  size_t end = prompt.size();
  while (end > 0 && is_ascii_space(prompt[end - 1])) --end;
  return prompt.substr(0, end).ends_with(kOpen);
}

ReasoningSplitter::ReasoningSplitter(bool starts_in_reasoning)
    : state_(starts_in_reasoning ? State::kReasoning : State::kStart),
      skip_newlines_(starts_in_reasoning),
      saw_reasoning_(starts_in_reasoning) {}

void ReasoningSplitter::emit(std::string_view text, std::string& out) {
  if (skip_newlines_) {
    size_t i = 0;
    while (i < text.size() && (text[i] == '\n' || text[i] == '\r')) ++i;
    text.remove_prefix(i);
    if (!text.empty()) skip_newlines_ = false;
  }
  out.append(text);
}

ReasoningSplitter::Delta ReasoningSplitter::push(std::string_view text) {
  Delta d;
  buf_.append(text);
  if (state_ == State::kStart) {
    size_t i = 0;
    while (i < buf_.size() && is_ascii_space(buf_[i])) ++i;
    const std::string_view rest = std::string_view(buf_).substr(i);
    if (rest.size() < kOpen.size() && kOpen.starts_with(rest)) return d;  // undecided
    if (rest.starts_with(kOpen)) {
      buf_.erase(0, i + kOpen.size());
      state_ = State::kReasoning;
      skip_newlines_ = saw_reasoning_ = true;
    } else {
      state_ = State::kContent;
    }
  }
  if (state_ == State::kReasoning) {
    const size_t close = buf_.find(kClose);
    if (close == std::string::npos) {
      const size_t hold = partial_suffix(buf_, kClose);
      emit(std::string_view(buf_).substr(0, buf_.size() - hold), d.reasoning);
      buf_.erase(0, buf_.size() - hold);
      return d;
    }
    emit(std::string_view(buf_).substr(0, close), d.reasoning);
    buf_.erase(0, close + kClose.size());
    state_ = State::kContent;
    skip_newlines_ = true;
  }
  emit(buf_, d.content);
  buf_.clear();
  return d;
}

ReasoningSplitter::Delta ReasoningSplitter::flush() {
  Delta d;
  emit(buf_, state_ == State::kReasoning ? d.reasoning : d.content);
  buf_.clear();
  return d;
}

}  // namespace dsv3::server
