// Character properties that tokenizers evaluates with the Rust `regex` crate or Rust's char
// methods (not Oniguruma): White_Space for added-token lstrip/rstrip and the Strip normalizer,
// and the \w word class for added tokens with single_word.
#pragma once
#include <cstddef>
#include <string_view>

namespace dsv3::tok {

// Unicode White_Space property (Rust's char::is_whitespace and regex \s).
bool is_white_space(char32_t cp);

// Rust regex's Unicode \w: Alphabetic, M, Nd, Pc, Join_Control. Alphabetic is approximated as
// L + Nl + the Other_Alphabetic symbols (circled / squared letters); the remaining
// Other_Alphabetic code points are marks and so already in M.
bool is_word_char(char32_t cp);

// End of the leading White_Space run of valid UTF-8 `s` (regex ^\s*).
size_t whitespace_prefix_end(std::string_view s);
// Start of the trailing White_Space run of valid UTF-8 `s` (regex \s*$).
size_t whitespace_suffix_start(std::string_view s);

// First / last code point of non-empty valid UTF-8 text.
char32_t first_code_point(std::string_view s);
char32_t last_code_point(std::string_view s);

}  // namespace dsv3::tok
