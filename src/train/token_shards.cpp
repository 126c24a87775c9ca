#include "train/token_shards.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "train/sha256.h"

namespace dsv3 {

uint32_t TokenSplit::at(int64_t i) const {
  DSV3_CHECK(i >= 0 && i < size_, "token index ", i, " is outside the split (", size_, " tokens)");
  const size_t s = size_t(std::upper_bound(starts_.begin(), starts_.end(), i) - starts_.begin()) - 1;
  uint32_t v;
  std::memcpy(&v, shards_[s].data() + 4 * (i - starts_[s]), 4);
  return v;
}

void TokenSplit::read(uint64_t pos, int64_t n, int32_t* out) const {
  DSV3_CHECK(size_ > 0, "cannot read tokens from an empty split");
  int64_t i = int64_t(pos % uint64_t(size_));
  while (n > 0) {
    const size_t s = size_t(std::upper_bound(starts_.begin(), starts_.end(), i) - starts_.begin()) - 1;
    const int64_t take = std::min(n, starts_[s + 1] - i);
    std::memcpy(out, shards_[s].data() + 4 * (i - starts_[s]), size_t(take) * 4);  // ids < 2^31
    out += take, n -= take, i += take;
    if (i == size_) i = 0;
  }
}

void TokenSplit::read_batch(uint64_t pos, int64_t rows, int64_t seq_len, int32_t* out) const {
  for (int64_t r = 0; r < rows; ++r) read(pos + uint64_t(r * seq_len), seq_len + 1, out + r * (seq_len + 1));
}

namespace {

void open_split(const std::string& dir, const nlohmann::json& m, const char* name, bool verify, int64_t vocab,
                int64_t& documents, std::vector<MappedFile>& shards, std::vector<int64_t>& starts, int64_t& size) {
  const nlohmann::json& s = m.at("splits").at(name);
  starts.push_back(0);
  for (const auto& sh : s.at("shards")) {
    const std::string path = dir + "/" + sh.at("file").get<std::string>();
    const int64_t tokens = sh.at("tokens").get<int64_t>();
    std::error_code ec;
    DSV3_CHECK(std::filesystem::exists(path, ec), path, ": shard listed in manifest.json is missing");
    const auto bytes = std::filesystem::file_size(path, ec);
    DSV3_CHECK(!ec && int64_t(bytes) == 4 * tokens, path, ": ", bytes, " bytes, manifest.json says ", tokens,
               " uint32 tokens (truncated or corrupted shard)");
    DSV3_CHECK(tokens > 0, path, ": empty shard");
    MappedFile f(path);
    if (verify) {
      DSV3_CHECK(sha256_hex(f.data(), f.size()) == sh.at("sha256").get<std::string>(), path,
                 ": sha256 does not match manifest.json (corrupted shard)");
      for (int64_t i = 0; i < tokens; ++i) {
        uint32_t v;
        std::memcpy(&v, f.data() + 4 * i, 4);
        DSV3_CHECK(int64_t(v) < vocab, path, ": token ", i, " has id ", v, " >= vocab_size ", vocab);
      }
    }
    shards.push_back(std::move(f));
    size += tokens;
    starts.push_back(size);
  }
  DSV3_CHECK(size == s.at("tokens").get<int64_t>(), dir, "/manifest.json: split ", name, " shards hold ", size,
             " tokens, its \"tokens\" says ", s.at("tokens").get<int64_t>());
  documents = s.at("documents").get<int64_t>();
}

}  // namespace

TokenShards TokenShards::open(const std::string& dir, bool verify_checksums) {
  const std::string path = dir + "/manifest.json";
  std::ifstream f(path, std::ios::binary);
  DSV3_CHECK(f, "cannot read ", path, " (not a prepare-data folder?)");
  std::ostringstream os;
  os << f.rdbuf();
  TokenShards t;
  try {
    t.manifest_ = nlohmann::json::parse(os.str());
    DSV3_CHECK(t.manifest_.at("format") == "dsv3-token-shards", path, ": not a dsv3 token-shards manifest");
    const int64_t vocab = t.vocab_size();
    open_split(dir, t.manifest_, "train", verify_checksums, vocab, t.train_.documents_, t.train_.shards_, t.train_.starts_, t.train_.size_);
    open_split(dir, t.manifest_, "val", verify_checksums, vocab, t.val_.documents_, t.val_.shards_, t.val_.starts_, t.val_.size_);
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": ", e.what());
  }
  return t;
}

}  // namespace dsv3
