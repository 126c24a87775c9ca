#include "tokenizer/unicode_props.h"

#include <string>

#include "tokenizer/regex.h"
#include "tokenizer/utf8.h"

namespace dsv3::tok {

bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

bool is_word_char(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
  }
  static const Regex word(
      "[\\p{L}\\p{Nl}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}\\x{24B6}-\\x{24E9}"
      "\\x{1F130}-\\x{1F149}\\x{1F150}-\\x{1F169}\\x{1F170}-\\x{1F189}]",
      "word-character class");
  std::string s;
  utf8_append(s, cp);
  return word.matches_at_start(s, nullptr);
}

size_t whitespace_prefix_end(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    if (!is_white_space(utf8_decode_at(s, j))) break;
    i = j;
  }
  return i;
}

size_t whitespace_suffix_start(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    size_t j = start;
    if (!is_white_space(utf8_decode_at(s, j))) break;
    end = start;
  }
  return end;
}

char32_t first_code_point(std::string_view s) {
  size_t i = 0;
  return utf8_decode_at(s, i);
}

char32_t last_code_point(std::string_view s) {
  size_t start = s.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  return utf8_decode_at(s, start);
}

}  // namespace dsv3::tok
