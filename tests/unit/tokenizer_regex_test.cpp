// The Oniguruma -> PCRE2 pattern translation (src/tokenizer/onig_translate.h) against splits
// made by Hugging Face tokenizers' own Oniguruma (tests/fixtures/tokenizer/onig_regex.jsonl),
// focused on code points whose Unicode data differs between the two engines' tables.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/onig_translate.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/regex.h"
#include "tokenizer/utf8.h"

namespace dsv3::tok {
namespace {

using nlohmann::json;

size_t code_points(const std::string& s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size();) {
    utf8_decode_at(s, i);
    ++n;
  }
  return n;
}

TEST(TokenizerRegex, SplitsMatchOniguruma) {
  std::ifstream f(std::string(DSV3_SOURCE_DIR) + "/tests/fixtures/tokenizer/onig_regex.jsonl");
  ASSERT_TRUE(f.good());
  std::string line;
  ASSERT_TRUE(std::getline(f, line));
  const auto patterns = json::parse(line).at("patterns").get<std::vector<std::string>>();
  std::vector<std::unique_ptr<PreTokenizer>> splitters;
  for (const std::string& p : patterns) {
    json j = {{"type", "Split"}, {"pattern", {{"Regex", p}}}, {"behavior", "Isolated"}, {"invert", false}};
    splitters.push_back(PreTokenizer::from_json(j, "onig_regex.jsonl"));
  }
  int cases = 0, failures = 0;
  while (std::getline(f, line)) {
    const json c = json::parse(line);
    const std::string text = c.at("text");
    const auto lens = c.at("lens").get<std::vector<std::vector<size_t>>>();
    ASSERT_EQ(lens.size(), patterns.size());
    for (size_t k = 0; k < patterns.size(); ++k) {
      std::vector<std::string> pieces;
      if (!text.empty()) pieces.push_back(text);
      splitters[k]->pre_tokenize(pieces);
      std::vector<size_t> got;
      for (const std::string& p : pieces) got.push_back(code_points(p));
      ++cases;
      if (got != lens[k] && ++failures <= 10) {
        ADD_FAILURE() << "pattern " << json(patterns[k]).dump() << " -> "
                      << json(translate_onig_pattern(patterns[k])).dump().substr(0, 300) << "\ntext "
                      << json(text).dump() << "\nexpected " << json(lens[k]).dump() << "\ngot      " << json(got).dump();
      }
    }
  }
  EXPECT_EQ(failures, 0);
  EXPECT_GT(cases, 1000);
}

TEST(TokenizerRegex, TranslatesOnigurumaSpecifics) {
  // Oniguruma's \s lacks U+180E (PCRE2 has it); its \p{S} has Unicode 15+ emoji.
  EXPECT_EQ(translate_onig_pattern("\\s+"), "[^\\S\\x{180E}]+");
  EXPECT_EQ(translate_onig_pattern("a\\u4e00b"), "a\\x{4e00}b");
  EXPECT_EQ(translate_onig_pattern("\\h"), "[0-9a-fA-F]");
  EXPECT_EQ(translate_onig_pattern("[\\r\\n]"), "[\\r\\n]");
  Regex symbols("\\p{S}+", "test");
  std::vector<Regex::Match> m;
  symbols.find_all("x\U0001FAE8\U0001FAE9y", m);  // Unicode 15 and 16 emoji
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0], Regex::Match(1, 9));
}

TEST(TokenizerRegex, EmptyMatchesFollowOnigFindIter) {
  Regex re("a*", "test");
  std::vector<Regex::Match> m;
  re.find_all("baab", m);
  // (0,0); (1,3); the empty match at 3 touches the previous match and is skipped; (4,4).
  std::vector<Regex::Match> expected = {{0, 0}, {1, 3}, {4, 4}};
  EXPECT_EQ(m, expected);
}

TEST(TokenizerRegex, InvalidPatternThrowsNamingOrigin) {
  try {
    Regex re("(unclosed", "my/tokenizer.json");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("my/tokenizer.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(unclosed"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dsv3::tok
