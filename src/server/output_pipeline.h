// What one choice's decoded text goes through before it reaches the client:
//   stop strings (StopMatcher) -> reasoning split (chat, when the model reasons) ->
//   tool-call parsing (chat, when the request offers tools).
// Each stage holds back only what it must, so streamed deltas concatenate to the
// non-streamed result for any split of the text.
#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "server/reasoning.h"
#include "server/stop_matcher.h"
#include "server/tool_calls.h"

namespace dsv3::server {

struct OutputOptions {
  std::vector<std::string> stop;
  bool split_reasoning = false;      // R1-style <think> ... </think>
  bool starts_in_reasoning = false;  // the prompt already opened <think>
  bool parse_tool_calls = false;
};

struct OutputDelta {
  std::string content, reasoning;
  std::vector<ToolCall> tool_calls;
  bool empty() const { return content.empty() && reasoning.empty() && tool_calls.empty(); }
  void append(OutputDelta&& o);
};

class OutputPipeline {
 public:
  explicit OutputPipeline(const OutputOptions& o, std::function<std::string()> make_id = new_tool_call_id);
  // Decoded text in; after a stop string matched (stopped()), the pipeline is flushed and
  // further text is ignored.
  OutputDelta push(std::string_view text);
  // End of generation (EOS, length): releases everything held back. Idempotent.
  OutputDelta finish();
  bool stopped() const { return stop_.stopped(); }
  bool produced_tool_calls() const { return tools_.produced_calls(); }
  bool splits_reasoning() const { return split_reasoning_; }

 private:
  OutputDelta after_stop(std::string_view text, bool last);
  bool split_reasoning_, parse_tools_;
  StopMatcher stop_;
  ReasoningSplitter reasoning_;
  ToolCallParser tools_;
  bool finished_ = false;
};

}  // namespace dsv3::server
