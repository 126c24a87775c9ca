// Added tokens (tokenizer.json "added_tokens"), matched before the model sees the text, with
// the rules of tokenizers' AddedVocabulary:
//  - ids are assigned like AddedVocabulary::add_tokens: a token already in the model vocab
//    keeps that id, others get consecutive ids after the vocab (the "id" fields are only hints);
//  - two passes: tokens with normalized=false are split out of the raw text first, then the
//    remaining pieces are normalized and tokens with normalized=true are split out of those;
//  - each pass is a leftmost-longest scan (Aho-Corasick LeftmostLongest);
//  - single_word: rejected when a word char (\w) touches either end; lstrip / rstrip: the match
//    grows over White_Space to its left (not past the previous match) / right.
// Whether special=true only matters for decode(skip_special_tokens) and is_special().
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tokenizer/string_map.h"

namespace dsv3::tok {

class Normalizer;

struct AddedToken {
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

// A piece of text [begin, end): an added token when token >= 0, else text to tokenize.
struct Segment {
  size_t begin, end;
  int32_t token;
};

class AddedVocabulary {
 public:
  // Adds tokens in order exactly as AddedVocabulary::add_tokens does. `vocab_lookup` gives the
  // model's id for a string, `model_vocab_size` is the number of model vocab entries.
  void add_tokens(const std::vector<AddedToken>& tokens, const StringMap<int32_t>& model_vocab,
                  int64_t model_vocab_size, const Normalizer* normalizer);

  // One matching pass over valid UTF-8 `text`: normalized=false for the raw-text pass.
  void split(std::string_view text, bool normalized, std::vector<Segment>& out) const;

  std::optional<int32_t> token_to_id(std::string_view content) const;
  // Content used for decoding (the normalized form for normalized tokens), nullptr if `id`
  // is not an added token.
  const std::string* decode_content(int32_t id) const;
  const AddedToken* token(int32_t id) const;
  bool is_special_content(std::string_view content) const { return special_.count(std::string(content)) > 0; }
  int32_t max_id() const { return max_id_; }
  bool empty() const { return by_id_.empty(); }

 private:
  // Byte trie of one pass's token strings for leftmost-longest search.
  struct Trie {
    std::unordered_map<uint64_t, int32_t> edges;  // (node << 8 | byte) -> child node
    std::vector<int32_t> terminal;                // node -> token id, -1 if none
    bool first_byte[256] = {};
    void clear();
    void insert(std::string_view s, int32_t id);
    // Longest token starting at text[pos], as (id, length); length 0 if none.
    std::pair<int32_t, size_t> longest_at(std::string_view text, size_t pos) const;
  };
  void rebuild_tries();

  StringMap<int32_t> by_content_;
  std::unordered_map<int32_t, AddedToken> by_id_;
  std::unordered_map<int32_t, std::string> normalized_content_;
  std::unordered_set<std::string> special_;
  Trie raw_trie_, normalized_trie_;
  int32_t max_id_ = -1;
};

}  // namespace dsv3::tok
