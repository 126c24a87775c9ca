#include "tokenizer/utf8.h"

namespace dsv3::tok {
namespace {

// Result of examining the sequence at s[i]: `len` bytes form a valid character (valid=true),
// or the first `len` bytes are the maximal invalid subpart (valid=false). `truncated` marks an
// invalid subpart cut short only by the end of the input (it could still become valid).
struct SeqScan {
  size_t len;
  bool valid;
  bool truncated;
};

// Allowed range of the second byte for each lead byte (Unicode Table 3-7, well-formed UTF-8).
SeqScan scan_sequence(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return {1, true, false};
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // <= U+10FFFF
  } else {
    return {1, false, false};  // continuation byte, C0/C1 overlong lead, or F5..FF
  }
  for (size_t k = 1; k <= need; ++k) {
    if (i + k >= s.size()) return {k, false, true};
    const auto b = static_cast<unsigned char>(s[i + k]);
    const unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (b < l || b > h) return {k, false, false};
  }
  return {need + 1, true, false};
}

}  // namespace

size_t utf8_valid_len(std::string_view s, size_t i) {
  SeqScan r = scan_sequence(s, i);
  return r.valid ? r.len : 0;
}

bool utf8_is_valid(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    // ASCII fast path: most text is ASCII.
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t n = utf8_valid_len(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

char32_t utf8_decode_at(std::string_view s, size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  size_t n = b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : 2;
  char32_t cp = b0 & (0xFF >> (n + 1));
  for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += n;
  return cp;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

size_t utf8_lossy_final_prefix(std::string_view bytes, std::string& out) {
  size_t i = 0, run = 0;  // [run, i) is a pending run of valid bytes not yet appended
  while (i < bytes.size()) {
    if (static_cast<unsigned char>(bytes[i]) < 0x80) {
      ++i;
      continue;
    }
    SeqScan r = scan_sequence(bytes, i);
    if (r.valid) {
      i += r.len;
      continue;
    }
    out.append(bytes.substr(run, i - run));
    if (r.truncated) return i;  // may still complete: keep it pending
    out.append(kReplacementChar);
    i += r.len;
    run = i;
  }
  out.append(bytes.substr(run, i - run));
  return i;
}

std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t used = utf8_lossy_final_prefix(bytes, out);
  if (used < bytes.size()) out.append(kReplacementChar);  // one U+FFFD for a truncated tail
  return out;
}

}  // namespace dsv3::tok
