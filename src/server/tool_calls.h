// DeepSeek tool calls in the model's output -> OpenAI `tool_calls`.
// The section the chat templates teach (tests/fixtures/template):
//   <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\nARGS\n```<｜tool▁call▁end｜>
//   \n<｜tool▁call▁begin｜>...<｜tool▁call▁end｜><｜tool▁calls▁end｜>          (DeepSeek-V3 / R1)
//   <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>NAME<｜tool▁sep｜>ARGS<｜tool▁call▁end｜>...<｜tool▁calls▁end｜>  (V3.1)
// Text before the section streams as content (a partial begin marker is held back). The
// section itself is buffered until it ends and then parsed as a whole: either every call is
// well formed (a name, ARGS a JSON object) and they become tool calls, or the raw section
// is released as plain content. Streamed output therefore equals non-streamed output for
// any split into pieces. A section cut off by the end of output is accepted when all its
// calls are complete (the model may end with EOS right after the last call).
#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace dsv3::server {

struct ToolCall {
  std::string id;         // "call_" + 24 random characters
  std::string name;
  std::string arguments;  // JSON text as the model wrote it (trimmed)
};

// A fresh OpenAI-style tool-call id.
std::string new_tool_call_id();

class ToolCallParser {
 public:
  explicit ToolCallParser(std::function<std::string()> make_id = new_tool_call_id);

  struct Delta {
    std::string content;
    std::vector<ToolCall> calls;
    bool empty() const { return content.empty() && calls.empty(); }
  };
  Delta push(std::string_view text);
  Delta flush();
  bool produced_calls() const { return produced_; }

 private:
  void close_section(bool terminated, Delta& d);
  std::function<std::string()> make_id_;
  bool in_section_ = false;
  std::string buf_;  // content: a possible partial begin marker; section: its text so far
  bool produced_ = false;
};

}  // namespace dsv3::server
