// prepare-data (train/data_prep.h) and its reader (train/token_shards.h): determinism, seeded
// order, resume after interruption, invalid UTF-8, checksums, corrupted shards, positions.
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "train/bpe_trainer.h"
#include "train/data_prep.h"
#include "train/token_shards.h"

namespace dsv3 {
namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream os;
  os << f.rdbuf();
  return os.str();
}

std::map<std::string, std::string> folder_contents(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out[e.path().filename().string()] = slurp(e.path().string());
  return out;
}

std::string doc_text(int i) {
  return "Document number " + std::to_string(i) + " talks about topic " + std::to_string(i * 7 % 13) +
         ". It has a second sentence, and \"quotes\" too.\n\nA paragraph with ünïcödé " + std::to_string(i) + ".";
}

// A tokenizer trained on the corpus plus a folder of inputs: 40 JSON Lines documents and
// two text files.
class TrainData : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = test::make_temp_dir("data");
    WordCounter wc;
    std::ofstream jl(root_ + "/docs.jsonl");
    for (int i = 0; i < 40; ++i) {
      jl << nlohmann::json{{"text", doc_text(i)}, {"id", i}}.dump() << "\n";
      wc.add_text(doc_text(i));
    }
    jl << "\n";  // blank lines are not documents
    std::ofstream(root_ + "/a.txt") << "A plain text file is one document.\n\nEven with blank lines.\n";
    std::ofstream(root_ + "/b.txt") << doc_text(99);
    const auto specials = deepseek_special_tokens();
    const auto r = train_bpe(wc.counts(), {int64_t(specials.size()) + 256 + 100, 0, int64_t(specials.size())});
    write_trained_tokenizer(root_ + "/tok", specials, r.merges);
  }
  void TearDown() override { fs::remove_all(root_); }

  PrepareDataOptions options(const std::string& out, uint64_t seed = 1) const {
    PrepareDataOptions o;
    o.tokenizer_dir = root_ + "/tok";
    o.inputs = {root_ + "/docs.jsonl", root_ + "/a.txt", root_ + "/b.txt"};
    o.out_dir = root_ + "/" + out;
    o.val_fraction = 0.1;
    o.seq_len = 16;
    o.seed = seed;
    o.shard_tokens = 200;
    return o;
  }
  std::string root_;
};

TEST_F(TrainData, SameSeedSameBytesDifferentSeedDifferentOrder) {
  const auto r1 = prepare_data(options("o1"));
  prepare_data(options("o2"));
  EXPECT_GT(r1.shards_written, 3);
  auto a = folder_contents(root_ + "/o1"), b = folder_contents(root_ + "/o2");
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.count("progress.json"), 0u);
  prepare_data(options("o3", 2));
  auto c = folder_contents(root_ + "/o3");
  EXPECT_NE(a["train-00000.bin"], c["train-00000.bin"]);
  // Same documents and token count, different order.
  const auto s1 = TokenShards::open(root_ + "/o1"), s3 = TokenShards::open(root_ + "/o3");
  EXPECT_EQ(s1.train().size() + s1.val().size(), s3.train().size() + s3.val().size());
  EXPECT_EQ(s1.train().documents() + s1.val().documents(), 42);
  EXPECT_EQ(s1.val().documents(), 4);  // round(0.1 * 42)
}

TEST_F(TrainData, StreamHoldsEveryDocumentWithBosAndEos) {
  prepare_data(options("o"));
  const auto shards = TokenShards::open(root_ + "/o");
  const Tokenizer tok = Tokenizer::load(root_ + "/tok");
  std::multiset<std::string> got, want;
  for (const TokenSplit* s : {&shards.train(), &shards.val()}) {
    std::vector<int32_t> doc;
    for (int64_t i = 0; i < s->size(); ++i) {
      const int32_t id = int32_t(s->at(i));
      if (id == *tok.eos_id()) {
        EXPECT_EQ(doc.front(), *tok.bos_id());
        got.insert(tok.decode(std::vector<int32_t>(doc.begin() + 1, doc.end())));
        doc.clear();
      } else {
        doc.push_back(id);
      }
    }
    EXPECT_TRUE(doc.empty());  // every split ends with EOS
  }
  for (int i = 0; i < 40; ++i) want.insert(doc_text(i));
  want.insert("A plain text file is one document.\n\nEven with blank lines.\n");
  want.insert(doc_text(99));
  EXPECT_EQ(got, want);
}

TEST_F(TrainData, ResumeAfterInterruptionIsByteIdentical) {
  prepare_data(options("full"));
  auto o = options("part");
  o.stop_after_shards = 3;
  const auto stopped = prepare_data(o);
  EXPECT_TRUE(stopped.manifest.is_null());
  EXPECT_TRUE(fs::exists(root_ + "/part/progress.json"));
  EXPECT_FALSE(fs::exists(root_ + "/part/manifest.json"));
  // A killed writer can also leave a temp file and a shard it wrote but did not record.
  std::ofstream(root_ + "/part/train-00001.bin.tmp-999") << "junk";
  std::ofstream(root_ + "/part/train-00003.bin") << "partial";
  o.stop_after_shards = -1;
  const auto resumed = prepare_data(o);
  EXPECT_EQ(resumed.shards_reused, 3);
  EXPECT_EQ(folder_contents(root_ + "/full"), folder_contents(root_ + "/part"));
  // Finished folder: a rerun only verifies.
  EXPECT_TRUE(prepare_data(o).already_complete);
  EXPECT_EQ(folder_contents(root_ + "/full"), folder_contents(root_ + "/part"));
}

TEST_F(TrainData, ResumeRedoesAShardThatNoLongerMatches) {
  prepare_data(options("full"));
  auto o = options("part");
  o.stop_after_shards = 4;
  prepare_data(o);
  std::ofstream(root_ + "/part/train-00002.bin", std::ios::binary | std::ios::in | std::ios::out) << "XXXX";
  o.stop_after_shards = -1;
  EXPECT_EQ(prepare_data(o).shards_reused, 2);
  EXPECT_EQ(folder_contents(root_ + "/full"), folder_contents(root_ + "/part"));
}

TEST_F(TrainData, DifferentArgumentsAreRefused) {
  prepare_data(options("o"));
  auto o = options("o", 7);
  test::expect_error([&] { prepare_data(o); }, {"different inputs or arguments"});
}

TEST_F(TrainData, InvalidUtf8IsCountedAndSkipped) {
  std::ofstream(root_ + "/bad.jsonl") << "{\"text\": \"fine\"}\n{\"text\": \"bad \xff byte\"}\n"
                                      << "{\"text\": \"lone \\ud800 surrogate\"}\n{\"text\": \"\"}\n";
  std::ofstream(root_ + "/bad.txt") << "truncated \xe2\x82";
  auto o = options("o");
  o.inputs.push_back(root_ + "/bad.jsonl");
  o.inputs.push_back(root_ + "/bad.txt");
  std::vector<std::string> warnings;
  o.warn = [&](const std::string& s) { warnings.push_back(s); };
  const auto r = prepare_data(o);
  EXPECT_EQ(r.manifest["documents"]["invalid_utf8_skipped"], 3);
  EXPECT_EQ(r.manifest["documents"]["empty_skipped"], 1);
  EXPECT_EQ(r.manifest["documents"]["valid"], 43);
  ASSERT_GE(warnings.size(), 3u);
  EXPECT_NE(warnings[0].find("bad.jsonl:2"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[1].find("bad.jsonl:3"), std::string::npos) << warnings[1];
  EXPECT_NE(warnings[2].find("bad.txt"), std::string::npos) << warnings[2];
}

TEST_F(TrainData, BadInputsNameTheFile) {
  auto o = options("o");
  o.inputs = {root_ + "/missing.txt"};
  test::expect_error([&] { prepare_data(o); }, {"cannot read", "missing.txt"});
  std::ofstream(root_ + "/broken.jsonl") << "{\"text\": \"ok\"}\n{\"text\": \n";
  o.inputs = {root_ + "/broken.jsonl"};
  test::expect_error([&] { prepare_data(o); }, {"broken.jsonl:2", "invalid JSON"});
  std::ofstream(root_ + "/notext.jsonl") << "{\"body\": \"ok\"}\n";
  o.inputs = {root_ + "/notext.jsonl"};
  test::expect_error([&] { prepare_data(o); }, {"notext.jsonl:1", "\"text\""});
}

TEST_F(TrainData, ReaderVerifiesChecksumsAndDetectsCorruption) {
  const auto r = prepare_data(options("o"));
  const auto shards = TokenShards::open(root_ + "/o");
  EXPECT_EQ(shards.seq_len(), 16);
  EXPECT_EQ(shards.manifest()["splits"]["train"]["shards"][0]["sha256"],
            r.manifest["splits"]["train"]["shards"][0]["sha256"]);
  const std::string shard = root_ + "/o/train-00001.bin";
  std::string bytes = slurp(shard);
  bytes[5] ^= 1;
  std::ofstream(shard, std::ios::binary) << bytes;
  test::expect_error([&] { TokenShards::open(root_ + "/o"); }, {"train-00001.bin", "sha256"});
  EXPECT_NO_THROW(TokenShards::open(root_ + "/o", false));  // sizes still match
  std::ofstream(shard, std::ios::binary) << bytes.substr(0, 12);
  test::expect_error([&] { TokenShards::open(root_ + "/o", false); }, {"train-00001.bin", "truncated"});
  fs::remove(shard);
  test::expect_error([&] { TokenShards::open(root_ + "/o"); }, {"train-00001.bin", "missing"});
}

TEST_F(TrainData, DataPositionsWrapAndBatchesAreConsecutive) {
  prepare_data(options("o"));
  const auto shards = TokenShards::open(root_ + "/o");
  const TokenSplit& t = shards.train();
  const int64_t n = t.size();
  ASSERT_GT(n, 400);  // spans several 200-token shards
  std::vector<int32_t> w(3);
  t.read(uint64_t(n - 1), 3, w.data());
  EXPECT_EQ(w, (std::vector<int32_t>{int32_t(t.at(n - 1)), int32_t(t.at(0)), int32_t(t.at(1))}));
  t.read(uint64_t(3 * n + 199), 2, w.data());  // across a shard boundary, third epoch
  EXPECT_EQ(w[0], int32_t(t.at(199)));
  EXPECT_EQ(w[1], int32_t(t.at(200)));
  const int64_t L = 16, rows = 3;
  std::vector<int32_t> batch(size_t(rows * (L + 1)));
  t.read_batch(100, rows, L, batch.data());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i <= L; ++i) EXPECT_EQ(batch[size_t(r * (L + 1) + i)], int32_t(t.at(100 + r * L + i)));
  EXPECT_EQ(TokenSplit::next_position(100, rows, L), 148u);
}

}  // namespace
}  // namespace dsv3
