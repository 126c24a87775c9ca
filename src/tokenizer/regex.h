// Regular expressions of tokenizer.json, run with PCRE2 (UTF + UCP, JIT-compiled).
// Hugging Face tokenizers compiles these patterns with Oniguruma (Ruby syntax), so patterns are
// first translated (onig_translate.h) and iteration follows the onig crate's find_iter: an
// empty match right where the previous match ended is skipped.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dsv3::tok {

// Escapes a literal string into a pattern (for Regex) that matches it verbatim.
std::string regex_escape(std::string_view literal);

class Regex {
 public:
  using Match = std::pair<size_t, size_t>;  // [start, end) byte offsets

  // `pattern` is in Oniguruma syntax; throws dsv3::Error naming `origin` when invalid.
  Regex(std::string_view pattern, const std::string& origin);
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends all successive non-overlapping matches in `text` (which must be valid UTF-8).
  void find_all(std::string_view text, std::vector<Match>& out) const;
  // True if the pattern matches at the start of `text` (anchored); the length goes to match_len.
  bool matches_at_start(std::string_view text, size_t* match_len) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Code;
  std::unique_ptr<Code> code_;
  std::string pattern_;
};

}  // namespace dsv3::tok
