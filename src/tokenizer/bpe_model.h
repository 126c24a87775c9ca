// Byte-pair-encoding model of tokenizer.json ("model": {"type": "BPE", ...}), following
// tokenizers' BPE: merges ranked by their order in the file, applied lowest rank first (then
// leftmost) with a binary heap over a linked list of symbols, so a word of n symbols costs
// O(n log n); ignore_merges, continuing_subword_prefix, end_of_word_suffix, unk_token, fuse_unk
// and byte_fallback are honoured. Results for pieces under 256 bytes are cached (thread-safe).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/string_map.h"

namespace dsv3::tok {

class BpeModel {
 public:
  // Throws dsv3::Error naming `origin` for a non-BPE model, malformed vocab / merges, merges
  // that use tokens missing from the vocab, or BPE dropout (non-deterministic).
  static std::unique_ptr<BpeModel> from_json(const nlohmann::json& model, const std::string& origin);

  // Appends the ids of one pre-tokenized piece.
  void tokenize(std::string_view piece, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(int32_t id) const;  // nullptr when unknown
  const StringMap<int32_t>& vocab() const { return vocab_; }
  int64_t vocab_entries() const { return int64_t(vocab_.size()); }  // tokenizers' get_vocab_size
  int32_t max_id() const { return max_id_; }

 private:
  struct MergeValue {
    int32_t rank;
    int32_t new_id;
  };
  static uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;

  std::string origin_;
  StringMap<int32_t> vocab_;
  std::unordered_map<int32_t, std::string> vocab_r_;
  std::unordered_map<uint64_t, MergeValue> merges_;
  std::optional<std::string> unk_token_;
  std::string continuing_subword_prefix_, end_of_word_suffix_;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  int32_t max_id_ = -1;

  static constexpr size_t kCacheMaxPieceBytes = 256;
  static constexpr size_t kCacheCapacity = 10000;
  mutable std::shared_mutex cache_mu_;
  mutable StringMap<std::vector<int32_t>> cache_;
};

}  // namespace dsv3::tok
