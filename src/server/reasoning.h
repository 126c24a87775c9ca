// DeepSeek-R1 reasoning split: the text before `</think>` is the model's reasoning
// (`reasoning_content` in the response), the text after it the answer (`content`).
// R1's chat template ends the prompt with "<think>\n", so the output usually starts inside
// the reasoning; older R1 prompts let the model open "<think>" itself, which is accepted at
// the very start of the output (after whitespace). Newlines right after either tag are
// dropped, as DeepSeek's API does. Streaming-safe: a partial tag at the end of a piece is
// held back, so any split of the output into pieces gives the same result.
#pragma once
#include <string>
#include <string_view>

namespace dsv3::server {

// True when the rendered prompt ends inside an open reasoning block ("<think>" followed by
// whitespace only) -- R1's generation prompt, or V3.1 with thinking enabled.
bool prompt_opens_reasoning(std::string_view prompt);

class ReasoningSplitter {
 public:
  explicit ReasoningSplitter(bool starts_in_reasoning);

  struct Delta {
    std::string reasoning, content;
    bool empty() const { return reasoning.empty() && content.empty(); }
  };
  Delta push(std::string_view text);
  Delta flush();  // end of output: held-back text is released where it stands
  bool saw_reasoning() const { return saw_reasoning_; }

 private:
  enum class State { kStart, kReasoning, kContent };
  void emit(std::string_view text, std::string& out);
  State state_;
  std::string buf_;           // undecided start, or a possible partial "</think>"
  bool skip_newlines_ = false;  // right after a tag
  bool saw_reasoning_ = false;
};

}  // namespace dsv3::server
