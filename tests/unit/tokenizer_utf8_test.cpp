// UTF-8 helpers of the tokenizer: lossy decoding must equal Rust's String::from_utf8_lossy
// (one U+FFFD per maximal invalid subpart), and its streaming form must never change output
// already emitted, whatever the chunking.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace dsv3::tok {
namespace {

const std::string R = "\xEF\xBF\xBD";  // U+FFFD

TEST(TokenizerUtf8, LossyMatchesRustFromUtf8Lossy) {
  // Cases from the Rust documentation and the Unicode "maximal subpart" examples.
  EXPECT_EQ(utf8_lossy("Hello \xF0\x90\x80World"), "Hello " + R + "World");
  EXPECT_EQ(utf8_lossy("plain ascii"), "plain ascii");
  EXPECT_EQ(utf8_lossy(""), "");
  EXPECT_EQ(utf8_lossy("\xC2"), R);
  EXPECT_EQ(utf8_lossy("\xC2\x41"), R + "A");
  EXPECT_EQ(utf8_lossy("\x80\xBF"), R + R);
  EXPECT_EQ(utf8_lossy("\xC0\xAF"), R + R);              // overlong lead bytes are never valid
  EXPECT_EQ(utf8_lossy("\xE0\x80\x80"), R + R + R);      // E0 needs A0..BF next
  EXPECT_EQ(utf8_lossy("\xED\xA0\x80"), R + R + R);      // surrogates
  EXPECT_EQ(utf8_lossy("\xF4\x90\x80\x80"), R + R + R + R);  // > U+10FFFF
  EXPECT_EQ(utf8_lossy("\xF1\x80\x80"), R);              // truncated: one replacement
  EXPECT_EQ(utf8_lossy("\xF1\x80\x80\x41"), R + "A");
  EXPECT_EQ(utf8_lossy("\xE4\xBD\xA0\xE5\xA5"), "你" + R);
  EXPECT_EQ(utf8_lossy("\xF5\x80"), R + R);
  EXPECT_EQ(utf8_lossy("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
            "a" + R + R + R + "b" + R + "c" + R + R + "d");  // Unicode 15 Table 3-8
}

TEST(TokenizerUtf8, Validation) {
  EXPECT_TRUE(utf8_is_valid("abc 你好 😀"));
  EXPECT_TRUE(utf8_is_valid(std::string("\0", 1)));
  EXPECT_FALSE(utf8_is_valid("\xFF"));
  EXPECT_FALSE(utf8_is_valid("\xED\xA0\x80"));
  EXPECT_FALSE(utf8_is_valid("\xE4\xBD"));
  EXPECT_TRUE(utf8_is_valid("\xF4\x8F\xBF\xBF"));
}

TEST(TokenizerUtf8, StreamingLossyIsPrefixStable) {
  std::mt19937 rng(7);
  const std::string alphabet[] = {"a", "\xE4", "\xBD", "\xA0", "\xF0", "\x9F", "\x98", "\x80", "\xC3",
                                  "\xA9", "\xFF", "\xED", "\xA0", "\xF4", "\x90", "\xE0", " "};
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bytes;
    for (int n = rng() % 12; n > 0; --n) bytes += alphabet[rng() % std::size(alphabet)];
    // Feed in random chunks like StreamDecoder does.
    std::string pending, out;
    size_t pos = 0;
    while (pos < bytes.size()) {
      size_t take = 1 + rng() % 3;
      pending += bytes.substr(pos, take);
      pos += take;
      std::string chunk;
      pending.erase(0, utf8_lossy_final_prefix(pending, chunk));
      ASSERT_TRUE(utf8_is_valid(chunk));
      out += chunk;
    }
    out += utf8_lossy(pending);
    ASSERT_EQ(out, utf8_lossy(bytes)) << "trial " << trial;
  }
}

TEST(TokenizerUtf8, ByteLevelAlphabet) {
  std::string all;
  for (int b = 0; b < 256; ++b) all += char(b);
  std::string mapped;
  byte_level_encode(all, mapped);
  EXPECT_TRUE(utf8_is_valid(mapped));
  std::string back;
  byte_level_decode_token(mapped, back);
  EXPECT_EQ(back, all);
  std::string space;
  byte_level_encode(" \n", space);
  EXPECT_EQ(space, "Ġ\xC4\x8A");  // U+0120 U+010A
  std::string raw;
  byte_level_decode_token("<｜User｜>", raw);  // not all byte-level symbols: kept verbatim
  EXPECT_EQ(raw, "<｜User｜>");
}

}  // namespace
}  // namespace dsv3::tok
