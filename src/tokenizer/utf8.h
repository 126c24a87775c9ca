// UTF-8 helpers shared by the tokenizer: validation, code point iteration and the lossy
// decoding that Rust's String::from_utf8_lossy performs (one U+FFFD per maximal invalid
// subpart, the Unicode "substitution of maximal subparts" practice), which is what Hugging
// Face's byte-level decoder applies to the concatenated token bytes.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace dsv3::tok {

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence starting at s[i], or 0 when the bytes there are not a
// complete, well-formed sequence (truncated, bad continuation, overlong, surrogate, > U+10FFFF).
size_t utf8_valid_len(std::string_view s, size_t i);

bool utf8_is_valid(std::string_view s);

// Decodes the valid sequence at s[i] (caller guarantees validity) and advances i past it.
char32_t utf8_decode_at(std::string_view s, size_t& i);

// Appends the UTF-8 encoding of code point cp.
void utf8_append(std::string& out, char32_t cp);

// Rust String::from_utf8_lossy.
std::string utf8_lossy(std::string_view bytes);

// Streaming form of utf8_lossy: appends the lossy decoding of the longest prefix of `bytes`
// whose decoding cannot change when more bytes arrive, and returns how many bytes it consumed.
// Only a trailing, so-far-well-formed but incomplete sequence is left unconsumed. Hence
// utf8_lossy(a + b) == decode_final_prefix(a) + utf8_lossy(rest of a + b).
size_t utf8_lossy_final_prefix(std::string_view bytes, std::string& out);

}  // namespace dsv3::tok
