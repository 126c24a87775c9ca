// Byte-level BPE training (train/bpe_trainer.h): hand-computed merges, Hugging Face's tie
// order, limits, determinism, and the written tokenizer (specials, round trip).
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "train/bpe_trainer.h"

namespace dsv3 {
namespace {

using Merges = std::vector<std::pair<std::string, std::string>>;

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream os;
  os << f.rdbuf();
  return os.str();
}

const char* kText =
    "The jury said it did find that many of Georgia's registration and election laws are outmoded.\n"
    "It recommended that Fulton legislators act to have these laws studied and revised.\n"
    "Numbers 1234567 and 3.14159, emoji 🙂 and 日本語のテキスト, tabs\tand   spaces!!\n"
    "The grand jury commented on a number of other topics, among them the purchasing departments.\n";

TEST(TrainTokenizer, HandComputedMerges) {
  // Pairs: ug 20, pu 17, un 16, hu 15 ... -> ug; then un 16, hug 15, pun 12; then the tie
  // (p,ug) = (hug,s) = 5 goes to the smaller ids: byte 'p' < merged "hug"; last bun 4.
  const std::unordered_map<std::string, int64_t> words = {{"hug", 10}, {"pug", 5}, {"pun", 12}, {"bun", 4}, {"hugs", 5}};
  const BpeTrainResult r = train_bpe(words, {256 + 100, 0, 0});
  const Merges want = {{"u", "g"}, {"u", "n"}, {"h", "ug"}, {"p", "un"}, {"p", "ug"}, {"hug", "s"}, {"b", "un"}};
  EXPECT_EQ(r.merges, want);
  EXPECT_EQ(r.vocab_tokens, 256 + 7);  // every word is one token: nothing left to merge
}

TEST(TrainTokenizer, TiesFollowHuggingFaceIdOrder) {
  // Byte ' ' is symbol U+0120 'Ġ' in the byte-level alphabet, sorted after 'a' although
  // 0x20 < 0x61 as bytes: Hugging Face merges "a b" first.
  const BpeTrainResult r = train_bpe({{"ab", 3}, {" x", 3}}, {256 + 2, 0, 0});
  const Merges want = {{"a", "b"}, {" ", "x"}};
  EXPECT_EQ(r.merges, want);
}

TEST(TrainTokenizer, VocabSizeAndMinFrequency) {
  WordCounter wc;
  for (int i = 0; i < 20; ++i) wc.add_text(kText);
  const auto words = wc.counts();
  const BpeTrainResult r = train_bpe(words, {16 + 256 + 50, 0, 16});
  EXPECT_EQ(r.vocab_tokens, 16 + 256 + 50);
  EXPECT_EQ(r.merges.size(), 50u);
  // "a b" occurs 5 times, "c d" 3 times.
  const Merges ab = {{"a", "b"}}, both = {{"a", "b"}, {"c", "d"}};
  EXPECT_EQ(train_bpe({{"ab", 5}, {"cd", 3}}, {1000, 4, 0}).merges, ab);
  EXPECT_EQ(train_bpe({{"ab", 5}, {"cd", 3}}, {1000, 3, 0}).merges, both);
  EXPECT_TRUE(train_bpe({{"ab", 5}, {"cd", 3}}, {1000, 6, 0}).merges.empty());
}

TEST(TrainTokenizer, Deterministic) {
  WordCounter a, b;
  a.add_text(kText);
  a.add_text("second document\n");
  b.add_text("second document\n");
  b.add_text(kText);
  const auto ra = train_bpe(a.counts(), {16 + 256 + 120, 0, 16});
  const auto rb = train_bpe(b.counts(), {16 + 256 + 120, 0, 16});
  EXPECT_EQ(ra.merges, rb.merges);
  EXPECT_EQ(ra.merges, train_bpe(a.counts(), {16 + 256 + 120, 0, 16}).merges);
}

TEST(TrainTokenizer, PiecesFollowThePreTokenizer) {
  WordCounter wc;
  wc.add_text("Hello world 12345\n");
  const auto c = wc.counts();
  // DeepSeek-V3 pre-tokenizer: digits in runs of up to 3, " world" keeps its space.
  EXPECT_EQ(c.count("Hello"), 1u);
  EXPECT_EQ(c.count(" world"), 1u);
  EXPECT_EQ(c.count("123"), 1u);
  EXPECT_EQ(c.count("45"), 1u);
}

TEST(TrainTokenizer, SpecialTokenStringsAreCutOutAndNotCounted) {
  WordCounter wc;
  wc.add_text("a `<think>` b<｜User｜><｜User｜>c\n");
  const auto c = wc.counts();
  // Pieces as encode sees them: the text between the specials, pre-tokenized.
  EXPECT_EQ(c.count("a"), 1u);
  EXPECT_EQ(c.count(" `"), 1u);
  EXPECT_EQ(c.count("`"), 1u);
  EXPECT_EQ(c.count(" b"), 1u);
  EXPECT_EQ(c.count("c"), 1u);
  for (const auto& [w, n] : c) EXPECT_EQ(w.find("think"), std::string::npos) << w;
}

TEST(TrainTokenizer, WrittenTokenizerHasSpecialsAndRoundTrips) {
  const std::string dir = test::make_temp_dir("bpe");
  WordCounter wc;
  for (int i = 0; i < 5; ++i) wc.add_text(kText);
  const auto specials = deepseek_special_tokens();
  const BpeTrainResult r = train_bpe(wc.counts(), {int64_t(specials.size()) + 256 + 200, 0, int64_t(specials.size())});
  write_trained_tokenizer(dir, specials, r.merges);
  const Tokenizer tok = Tokenizer::load(dir);
  EXPECT_LE(r.vocab_tokens, int64_t(specials.size()) + 256 + 200);  // the small text runs out of pairs
  EXPECT_EQ(tok.vocab_size(), r.vocab_tokens);
  EXPECT_EQ(tok.bos_id(), 0);
  EXPECT_EQ(tok.eos_id(), 1);
  EXPECT_EQ(tok.token_to_id("<｜User｜>"), 3);
  EXPECT_FALSE(tok.chat_template().empty());
  for (const std::string& text : {std::string(kText), std::string("unseen wörds ∑ 🫨  \r\n x"), std::string("")}) {
    const auto ids = tok.encode(text, false);
    EXPECT_EQ(tok.decode(ids), text);
  }
  // Learned merges are used: the training text encodes in far fewer tokens than bytes.
  EXPECT_LT(tok.encode(kText, false).size() * 3, std::string(kText).size());
  const auto ids = tok.encode("<｜User｜>hi<｜Assistant｜>", true);
  EXPECT_EQ(ids.front(), 0);
  EXPECT_EQ(ids[1], 3);
  std::filesystem::remove_all(dir);
}

TEST(TrainTokenizer, MergeReachingAnExistingTokenIsKept) {
  // Hugging Face keeps a merge whose result an earlier merge already produced (same id).
  const std::string dir = test::make_temp_dir("bpe-dup");
  const Merges merges = {{"a", "b"}, {"b", "c"}, {"ab", "c"}, {"a", "bc"}};
  write_trained_tokenizer(dir, deepseek_special_tokens(), merges);
  const auto tj = nlohmann::json::parse(slurp(dir + "/tokenizer.json"));
  EXPECT_EQ(tj["model"]["merges"].size(), 4u);
  EXPECT_EQ(tj["model"]["merges"][3], "a bc");
  const Tokenizer tok = Tokenizer::load(dir);
  EXPECT_EQ(tok.vocab_size(), 16 + 256 + 3);
  EXPECT_EQ(tok.encode("abc", false).size(), 1u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dsv3
