// dsv3::Tokenizer API beyond the fixtures: lookups on the real DeepSeek-V3 tokenizer, errors,
// tokenizer_config.json handling, StreamDecoder details, invalid UTF-8 input, threads, and
// inputs that would be quadratic in a naive implementation.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <fstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "core/error.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace dsv3 {
namespace {

namespace fs = std::filesystem;

const Tokenizer& deepseek() { return test::deepseek_tokenizer(); }

// A minimal byte-level tokenizer.json.
std::string tiny_json(const std::string& model_type = "BPE", const std::string& post_processor = "null") {
  return R"({"version": "1.0", "added_tokens": [
      {"id": 5, "content": "<s>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
      {"id": 6, "content": "<u>", "special": false, "normalized": true, "lstrip": false, "rstrip": false, "single_word": false}],
    "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
    "post_processor": )" + post_processor + R"(, "decoder": {"type": "ByteLevel"},
    "model": {"type": ")" + model_type + R"(", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3, "Ġab": 4},
              "merges": ["a b", ["Ġ", "ab"]]}})";
}

std::string expect_error(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected dsv3::Error";
  return "";
}

TEST(TokenizerApi, DeepSeekV3Lookups) {
  const Tokenizer& tok = deepseek();
  EXPECT_EQ(tok.vocab_size(), 128815);
  EXPECT_EQ(tok.bos_id(), 0);
  EXPECT_EQ(tok.eos_id(), 1);
  EXPECT_EQ(tok.bos_token(), "<｜begin▁of▁sentence｜>");
  EXPECT_EQ(tok.eos_token(), "<｜end▁of▁sentence｜>");
  EXPECT_EQ(tok.token_to_id("<｜User｜>"), 128803);
  EXPECT_EQ(tok.token_to_id("<｜Assistant｜>"), 128804);
  EXPECT_EQ(tok.token_to_id("hello"), 33310);
  EXPECT_FALSE(tok.token_to_id("definitely not a token").has_value());
  EXPECT_EQ(tok.id_to_token(128803), "<｜User｜>");
  EXPECT_EQ(tok.id_to_token(33310), "hello");
  EXPECT_EQ(tok.id_to_token(5), tok.id_to_token(5));
  EXPECT_EQ(tok.id_to_token(-1), "");
  EXPECT_EQ(tok.id_to_token(128815), "");
  EXPECT_TRUE(tok.is_special(0));
  EXPECT_TRUE(tok.is_special(1));
  EXPECT_TRUE(tok.is_special(128000));  // place holders are special
  EXPECT_FALSE(tok.is_special(128803));  // <｜User｜> is an added token but not special
  EXPECT_FALSE(tok.is_special(33310));
  EXPECT_NE(tok.chat_template().find("<｜Assistant｜>"), std::string::npos);
}

TEST(TokenizerApi, DeepSeekV3EncodeBasics) {
  const Tokenizer& tok = deepseek();
  EXPECT_EQ(tok.encode(""), std::vector<int32_t>{0});
  EXPECT_TRUE(tok.encode("", false).empty());
  EXPECT_EQ(tok.encode("hello", false), std::vector<int32_t>{33310});
  EXPECT_EQ(tok.encode("hello"), (std::vector<int32_t>{0, 33310}));
  // Special-token text is always matched, with or without add_special_tokens.
  EXPECT_EQ(tok.encode("<｜User｜>", false), std::vector<int32_t>{128803});
  EXPECT_EQ(tok.encode("<｜begin▁of▁sentence｜>", false), std::vector<int32_t>{0});
  EXPECT_EQ(tok.decode({0, 33310, 1}, true), "hello");
  EXPECT_EQ(tok.decode({0, 33310, 1}), "<｜begin▁of▁sentence｜>hello<｜end▁of▁sentence｜>");
  EXPECT_EQ(tok.decode({-5, 33310, 999999}), "hello");  // unknown ids are skipped
}

// Invalid UTF-8 is encoded as its lossy decoding (U+FFFD per maximal invalid subpart).
TEST(TokenizerApi, InvalidUtf8InputIsEncodedLossily) {
  const Tokenizer& tok = deepseek();
  const std::vector<std::string> inputs = {"\xff", "a\xffz", "\xe4\xbd", "\xed\xa0\x80", "\xc0\xaf",
                                           "\xf0\x9f\x98", std::string("nul\0byte", 8), "<｜User｜>\xfe"};
  for (const std::string& s : inputs) {
    const std::string lossy = tok::utf8_lossy(s);
    EXPECT_TRUE(tok::utf8_is_valid(lossy));
    EXPECT_EQ(tok.encode(s), tok.encode(lossy));
    EXPECT_EQ(tok.decode(tok.encode(s, false)), lossy);
  }
}

TEST(TokenizerApi, LongRunsStayFast) {
  // Long whitespace runs and long words are linear-time (no O(n^2) regex or BPE behaviour):
  // these would take minutes if they were quadratic. Timing itself is left to benchmarks.
  const Tokenizer& tok = deepseek();
  const std::vector<std::string> inputs = {std::string(200000, ' '), std::string(100000, '\n'),
                                           std::string(200000, 'a'), std::string(50000, '\t') + "x",
                                           std::string(100000, '!'), std::string(30000, ' ') + std::string(30000, '\n')};
  for (const std::string& s : inputs) {
    auto ids = tok.encode(s, false);
    EXPECT_FALSE(ids.empty());
    EXPECT_EQ(tok.decode(ids), s);
  }
}

TEST(TokenizerApi, ConcurrentEncodeIsSafe) {
  const Tokenizer& tok = deepseek();
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) texts.push_back("item " + std::to_string(i * 7919) + " 你好 world" + std::string(i % 5, ' '));
  std::vector<std::vector<int32_t>> expected;
  for (const auto& t : texts) expected.push_back(tok.encode(t));
  std::vector<int> bad(4, 0);
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      Tokenizer copy = tok;  // copies share the loaded state
      for (int rep = 0; rep < 5; ++rep) {
        for (size_t i = 0; i < texts.size(); ++i) {
          if ((w % 2 ? copy : tok).encode(texts[i]) != expected[i]) ++bad[w];
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int b : bad) EXPECT_EQ(b, 0);
}

TEST(TokenizerApi, StreamDecoderHoldsSplitCharacters) {
  const Tokenizer& tok = deepseek();
  const auto ids = tok.encode("你好😀", false);
  StreamDecoder stream(tok);
  std::string all;
  for (int32_t id : ids) {
    std::string chunk = stream.push(id);
    EXPECT_TRUE(tok::utf8_is_valid(chunk));
    all += chunk;
  }
  all += stream.flush();
  EXPECT_EQ(all, "你好😀");

  // A lone lead byte waits; a following ASCII byte makes it a U+FFFD, emitted before the byte.
  const int32_t e4 = *tok.token_to_id("ä");  // byte-level symbol of byte 0xE4
  StreamDecoder s2(tok);
  EXPECT_EQ(s2.push(e4), "");
  EXPECT_EQ(s2.push(33310), "\xEF\xBF\xBDhello");
  EXPECT_EQ(s2.push(e4), "");
  EXPECT_EQ(s2.flush(), "\xEF\xBF\xBD");
  EXPECT_EQ(s2.flush(), "");

  StreamDecoder s3(tok, /*skip_special_tokens=*/true);
  EXPECT_EQ(s3.push(0), "");
  EXPECT_EQ(s3.push(128803), "<｜User｜>");
}

TEST(TokenizerApi, ErrorsNameTheFile) {
  const fs::path dir = fs::temp_directory_path() / ("dsv3_tok_err_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
  };
  const std::string tokenizer_path = (dir / "tokenizer.json").string();

  std::string msg = expect_error([&] { Tokenizer::load((dir / "missing").string()); });
  EXPECT_NE(msg.find("missing/tokenizer.json"), std::string::npos) << msg;

  write("tokenizer.json", "{ not json");
  msg = expect_error([&] { Tokenizer::load(dir.string()); });
  EXPECT_NE(msg.find(tokenizer_path), std::string::npos) << msg;
  EXPECT_NE(msg.find("invalid JSON"), std::string::npos) << msg;

  write("tokenizer.json", tiny_json("WordPiece"));
  msg = expect_error([&] { Tokenizer::load(dir.string()); });
  EXPECT_NE(msg.find(tokenizer_path), std::string::npos) << msg;
  EXPECT_NE(msg.find("unsupported model type \"WordPiece\""), std::string::npos) << msg;

  write("tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})");
  msg = expect_error([&] { Tokenizer::load(dir.string()); });
  EXPECT_NE(msg.find("\"b\" missing from the vocab"), std::string::npos) << msg;

  write("tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b c"]}})");
  msg = expect_error([&] { Tokenizer::load(dir.string()); });
  EXPECT_NE(msg.find("merge 1"), std::string::npos) << msg;

  write("tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                              "normalizer": {"type": "NFKC"}})");
  msg = expect_error([&] { Tokenizer::load(dir.string()); });
  EXPECT_NE(msg.find("unsupported normalizer type \"NFKC\""), std::string::npos) << msg;

  write("tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                              "pre_tokenizer": {"type": "Metaspace"}})");
  msg = expect_error([&] { Tokenizer::load(dir.string()); });
  EXPECT_NE(msg.find("unsupported pre_tokenizer type \"Metaspace\""), std::string::npos) << msg;

  write("tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                              "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(["}, "behavior": "Isolated"}})");
  msg = expect_error([&] { Tokenizer::load(dir.string()); });
  EXPECT_NE(msg.find("invalid regex"), std::string::npos) << msg;

  write("tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}})");
  msg = expect_error([&] { Tokenizer::load(dir.string()); });
  EXPECT_NE(msg.find(tokenizer_path), std::string::npos) << msg;

  write("tokenizer.json", R"({"version": "1.0"})");
  msg = expect_error([&] { Tokenizer::load(dir.string()); });
  EXPECT_NE(msg.find("missing \"model\""), std::string::npos) << msg;

  write("tokenizer.json", tiny_json());
  write("tokenizer_config.json", "[1, 2");
  msg = expect_error([&] { Tokenizer::load(dir.string()); });
  EXPECT_NE(msg.find((dir / "tokenizer_config.json").string()), std::string::npos) << msg;

  write("tokenizer_config.json", R"({"tokenizer_class": "LlamaTokenizerFast", "bos_token": "<nope>"})");
  msg = expect_error([&] { Tokenizer::load(dir.string()); });
  EXPECT_NE(msg.find("add_bos_token"), std::string::npos) << msg;

  fs::remove_all(dir);
}

TEST(TokenizerApi, ConfigControlsSpecialTokens) {
  // No tokenizer_config: tokenizer.json's post_processor (null) adds nothing; no bos/eos.
  Tokenizer plain = Tokenizer::from_json(tiny_json());
  EXPECT_EQ(plain.encode("ab ab"), (std::vector<int32_t>{2, 4}));
  EXPECT_FALSE(plain.bos_id().has_value());
  EXPECT_EQ(plain.chat_template(), "");
  EXPECT_EQ(plain.vocab_size(), 7);  // vocab 0..4, added <s>=5 and <u>=6 (assigned in order)
  EXPECT_EQ(plain.token_to_id("<u>"), 6);

  // LlamaTokenizerFast defaults: BOS on, EOS off; explicit flags override.
  Tokenizer llama = Tokenizer::from_json(tiny_json(), R"({"tokenizer_class": "LlamaTokenizerFast",
      "bos_token": {"content": "<s>"}, "eos_token": "<u>", "chat_template": "{{ x }}"})");
  EXPECT_EQ(llama.encode("ab"), (std::vector<int32_t>{5, 2}));
  EXPECT_EQ(llama.encode("ab", false), (std::vector<int32_t>{2}));
  EXPECT_EQ(llama.bos_id(), 5);
  EXPECT_EQ(llama.eos_id(), 6);
  EXPECT_EQ(llama.chat_template(), "{{ x }}");

  Tokenizer both = Tokenizer::from_json(tiny_json(), R"({"tokenizer_class": "PreTrainedTokenizerFast",
      "bos_token": "<s>", "eos_token": "<u>", "add_bos_token": true, "add_eos_token": true})");
  EXPECT_EQ(both.encode("ab"), (std::vector<int32_t>{5, 2, 6}));

  // Other classes keep tokenizer.json's post_processor, here a TemplateProcessing.
  Tokenizer templ = Tokenizer::from_json(
      tiny_json("BPE", R"({"type": "TemplateProcessing",
          "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<u>", "type_id": 0}}],
          "special_tokens": {"<s>": {"id": "<s>", "ids": [5], "tokens": ["<s>"]},
                             "<u>": {"id": "<u>", "ids": [6], "tokens": ["<u>"]}}})"),
      R"({"tokenizer_class": "Qwen2TokenizerFast", "chat_template": [{"name": "tool_use", "template": "T"},
                                                                    {"name": "default", "template": "D"}]})");
  EXPECT_EQ(templ.encode("ab"), (std::vector<int32_t>{5, 2, 6}));
  EXPECT_EQ(templ.chat_template(), "D");
}

}  // namespace
}  // namespace dsv3
