#include "tokenizer/byte_level.h"

#include <array>
#include <cstdint>

#include "tokenizer/utf8.h"

namespace dsv3::tok {
namespace {

struct ByteLevelTables {
  std::array<std::string, 256> byte_to_utf8;  // byte -> UTF-8 of its alphabet char
  std::array<int16_t, 0x144> char_to_byte;    // alphabet code point -> byte, -1 if none

  ByteLevelTables() {
    char_to_byte.fill(-1);
    std::array<char32_t, 256> byte_to_char{};
    std::array<bool, 256> direct{};
    for (int b = '!'; b <= '~'; ++b) direct[b] = true;
    for (int b = 0xA1; b <= 0xAC; ++b) direct[b] = true;
    for (int b = 0xAE; b <= 0xFF; ++b) direct[b] = true;
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) byte_to_char[b] = direct[b] ? char32_t(b) : next++;
    for (int b = 0; b < 256; ++b) {
      utf8_append(byte_to_utf8[b], byte_to_char[b]);
      char_to_byte[byte_to_char[b]] = int16_t(b);
    }
  }
};

const ByteLevelTables& tables() {
  static const ByteLevelTables t;
  return t;
}

}  // namespace

void byte_level_encode(std::string_view bytes, std::string& out) {
  const auto& t = tables();
  out.reserve(out.size() + bytes.size() * 2);
  for (char c : bytes) out += t.byte_to_utf8[static_cast<unsigned char>(c)];
}

void byte_level_decode_token(std::string_view token, std::string& out) {
  const auto& t = tables();
  const size_t start = out.size();
  size_t i = 0;
  while (i < token.size()) {
    if (utf8_valid_len(token, i) == 0) break;  // tokens are valid UTF-8; be safe anyway
    char32_t cp = utf8_decode_at(token, i);
    int b = cp < t.char_to_byte.size() ? t.char_to_byte[cp] : -1;
    if (b < 0) {  // not a byte-level symbol: the token's raw bytes are used instead
      out.resize(start);
      out.append(token);
      return;
    }
    out += static_cast<char>(b);
  }
  if (i < token.size()) {
    out.resize(start);
    out.append(token);
  }
}

}  // namespace dsv3::tok
