// Reader of a `dsv3 prepare-data` folder (written by train/data_prep.h):
//   manifest.json          counts, per-shard sha256, tokenizer hashes, seed, seq_len, ...
//   train-00000.bin ...    raw little-endian uint32 token ids, shard_tokens per file (last shorter)
//   val-00000.bin ...
// Each split is one token stream, the concatenation of its shards in order; each document in
// it is BOS (when the tokenizer adds one, as Hugging Face encode does) + its tokens + EOS.
//
// Data position (what a checkpoint stores to resume bit-identically): a uint64 token offset
// into a split's stream, counted without bound; the token at position p is
// stream[p mod size()] (an epoch is size() tokens). A training sequence drawn at p is the
// seq_len + 1 tokens at p .. p + seq_len (inputs are the first seq_len, targets the last
// seq_len). read_batch(p, rows, seq_len) fills row r with the sequence at p + r * seq_len, and
// the next batch starts at p + rows * seq_len (consecutive sequences share one boundary
// token, so every token is a target exactly once per epoch). Nothing else is random: the
// same position always yields the same tokens, and resuming needs only the position.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/mapped_file.h"

namespace dsv3 {

class TokenSplit {
 public:
  int64_t size() const { return size_; }  // tokens
  int64_t documents() const { return documents_; }
  uint32_t at(int64_t i) const;           // 0 <= i < size()
  // n tokens from data position `pos` (wrapping around the end of the stream) into out.
  void read(uint64_t pos, int64_t n, int32_t* out) const;
  // rows sequences of seq_len + 1 tokens: row r at position pos + r * seq_len.
  void read_batch(uint64_t pos, int64_t rows, int64_t seq_len, int32_t* out) const;
  static uint64_t next_position(uint64_t pos, int64_t rows, int64_t seq_len) {
    return pos + uint64_t(rows) * uint64_t(seq_len);
  }

 private:
  friend class TokenShards;
  std::vector<MappedFile> shards_;
  std::vector<int64_t> starts_;  // first token index of each shard, plus size_ at the end
  int64_t size_ = 0, documents_ = 0;
};

class TokenShards {
 public:
  // Opens DIR/manifest.json and maps every shard. Checks each shard's size against its token
  // count; with verify_checksums also its sha256 and that every id is < vocab_size. Any
  // mismatch throws dsv3::Error naming the shard.
  static TokenShards open(const std::string& dir, bool verify_checksums = true);

  const nlohmann::json& manifest() const { return manifest_; }
  const TokenSplit& train() const { return train_; }
  const TokenSplit& val() const { return val_; }
  int64_t seq_len() const { return manifest_.at("seq_len").get<int64_t>(); }
  int64_t vocab_size() const { return manifest_.at("tokenizer").at("vocab_size").get<int64_t>(); }
  int32_t eos_id() const { return manifest_.at("tokenizer").at("eos_id").get<int32_t>(); }

 private:
  nlohmann::json manifest_;
  TokenSplit train_, val_;
};

}  // namespace dsv3
