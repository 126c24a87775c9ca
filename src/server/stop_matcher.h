// Stop strings matched on the decoded text, across token boundaries. Text that could be the
// start of a stop string is held back until it is known not to be one, so a stop string (or
// any part of it) is never emitted; the text after a match is dropped (OpenAI semantics).
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace dsv3::server {

// Length of the longest proper suffix of `text` that is a prefix of `needle` (the part of
// `text` that might grow into `needle` with more text). Shared by the streaming parsers.
size_t partial_suffix(std::string_view text, std::string_view needle);

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  struct Result {
    std::string text;      // safe to emit now
    bool stopped = false;  // a stop string matched; text ends right before it
  };
  // Appends decoded text. After a stop, further pushes return nothing.
  Result push(std::string_view text);
  // End of generation: the held-back text can no longer become a stop string.
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;  // held back: a suffix that is a prefix of some stop string
  bool stopped_ = false;
};

}  // namespace dsv3::server
