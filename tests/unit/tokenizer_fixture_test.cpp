// Compares dsv3::Tokenizer with fixtures made by Hugging Face's Rust tokenizers
// (tests/reference/tokenizer_fixtures.mjs): encode with and without special tokens, encode of
// invalid UTF-8 input, decode with and without skip_special_tokens, and StreamDecoder on every
// id sequence. The real DeepSeek-V3 tokenizer comes from the npm cache that
// scripts/fetch_test_assets.sh fills; when it is missing the test fails (CI installs it).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace dsv3 {
namespace {

using nlohmann::json;

std::string fixture(const std::string& name) { return std::string(DSV3_SOURCE_DIR) + "/tests/fixtures/tokenizer/" + name; }

std::vector<json> read_jsonl(const std::string& path) {
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << "missing fixture " << path;
  std::vector<json> out;
  std::string line;
  while (std::getline(f, line)) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += char(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

std::string show(const std::vector<int32_t>& v) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
  return os.str() + "]";
}

// Streams `ids` through a StreamDecoder; every chunk must be valid UTF-8 and the whole must
// equal decode(ids). Returns false (with a message) on the first problem.
::testing::AssertionResult stream_matches(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip) {
  StreamDecoder stream(tok, skip);
  std::string all;
  for (int32_t id : ids) {
    std::string chunk = stream.push(id);
    if (!tok::utf8_is_valid(chunk)) return ::testing::AssertionFailure() << "invalid UTF-8 chunk for " << show(ids);
    all += chunk;
  }
  std::string tail = stream.flush();
  if (!tok::utf8_is_valid(tail)) return ::testing::AssertionFailure() << "invalid UTF-8 flush for " << show(ids);
  all += tail;
  const std::string expected = tok.decode(ids, skip);
  if (all != expected)
    return ::testing::AssertionFailure() << "stream " << json(all).dump() << " != decode " << json(expected).dump()
                                         << " for " << show(ids);
  return ::testing::AssertionSuccess();
}

struct Counts {
  int encode = 0, encode_bytes = 0, decode = 0;
};

// Runs every case of a fixture file; reports at most a few failures in detail.
Counts run_fixture(const Tokenizer& tok, const std::string& file) {
  Counts counts;
  int failures = 0;
  auto report = [&](const json& c, const std::string& what) {
    if (++failures <= 15) ADD_FAILURE() << file << ": " << what << " for case " << c.dump();
  };
  for (const json& c : read_jsonl(file)) {
    const std::string kind = c.at("kind");
    if (kind == "encode" || kind == "encode_bytes") {
      const std::string text = kind == "encode" ? c.at("text").get<std::string>() : from_hex(c.at("hex"));
      const auto ids = c.at("ids").get<std::vector<int32_t>>();
      const auto ids_raw = c.at("ids_raw").get<std::vector<int32_t>>();
      auto got = tok.encode(text, true);
      if (got != ids) report(c, "encode(add_special_tokens=true) gave " + show(got));
      auto got_raw = tok.encode(text, false);
      if (got_raw != ids_raw) report(c, "encode(add_special_tokens=false) gave " + show(got_raw));
      if (kind == "encode") {
        ++counts.encode;
        std::string d = tok.decode(ids, false), ds = tok.decode(ids, true);
        if (d != c.at("decoded")) report(c, "decode gave " + json(d).dump());
        if (ds != c.at("decoded_skip")) report(c, "decode(skip_special_tokens) gave " + json(ds).dump());
      } else {
        ++counts.encode_bytes;
      }
      EXPECT_TRUE(stream_matches(tok, ids, false));
      EXPECT_TRUE(stream_matches(tok, ids, true));
    } else if (kind == "decode") {
      ++counts.decode;
      const auto ids = c.at("ids").get<std::vector<int32_t>>();
      std::string d = tok.decode(ids, false), ds = tok.decode(ids, true);
      if (d != c.at("text")) report(c, "decode gave " + json(d).dump());
      if (ds != c.at("text_skip")) report(c, "decode(skip_special_tokens) gave " + json(ds).dump());
      EXPECT_TRUE(stream_matches(tok, ids, false));
      EXPECT_TRUE(stream_matches(tok, ids, true));
    } else {
      ADD_FAILURE() << file << ": unknown case kind " << kind;
    }
  }
  EXPECT_EQ(failures, 0) << file;
  return counts;
}

const Tokenizer& deepseek() { return test::deepseek_tokenizer(); }

TEST(TokenizerFixture, DeepSeekV3MatchesHuggingFace) {
  Counts n = run_fixture(deepseek(), fixture("deepseek_v3.jsonl"));
  EXPECT_GT(n.encode, 500);
  EXPECT_GT(n.encode_bytes, 20);
  EXPECT_GT(n.decode, 200);
}

TEST(TokenizerFixture, TinyByteLevelMatchesHuggingFace) {
  Tokenizer tok = Tokenizer::load(fixture("tiny_bytelevel"));
  Counts n = run_fixture(tok, fixture("tiny_bytelevel.jsonl"));
  EXPECT_GT(n.encode, 50);
}

TEST(TokenizerFixture, TinySplitMatchesHuggingFace) {
  Tokenizer tok = Tokenizer::load(fixture("tiny_split"));
  Counts n = run_fixture(tok, fixture("tiny_split.jsonl"));
  EXPECT_GT(n.encode, 50);
}

// Byte-level BPE loses nothing: decoding the ids of valid text gives the text back.
TEST(TokenizerFixture, DeepSeekV3RoundTrip) {
  const Tokenizer& tok = deepseek();
  for (const json& c : read_jsonl(fixture("deepseek_v3.jsonl"))) {
    if (c.at("kind") != "encode") continue;
    const std::string text = c.at("text");
    EXPECT_EQ(tok.decode(tok.encode(text, false)), text);
  }
}

}  // namespace
}  // namespace dsv3
