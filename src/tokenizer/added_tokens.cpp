#include "tokenizer/added_tokens.h"

#include <algorithm>

#include "tokenizer/normalizer.h"
#include "tokenizer/unicode_props.h"

namespace dsv3::tok {
namespace {

bool same_token(const AddedToken& a, const AddedToken& b) {
  return a.content == b.content && a.single_word == b.single_word && a.lstrip == b.lstrip &&
         a.rstrip == b.rstrip && a.normalized == b.normalized && a.special == b.special;
}

}  // namespace

void AddedVocabulary::Trie::clear() {
  edges.clear();
  terminal.assign(1, -1);
  std::fill(std::begin(first_byte), std::end(first_byte), false);
}

void AddedVocabulary::Trie::insert(std::string_view s, int32_t id) {
  if (terminal.empty()) terminal.assign(1, -1);
  if (s.empty()) return;
  first_byte[static_cast<unsigned char>(s[0])] = true;
  int32_t node = 0;
  for (char c : s) {
    uint64_t key = (uint64_t(node) << 8) | static_cast<unsigned char>(c);
    auto it = edges.find(key);
    if (it == edges.end()) {
      int32_t child = int32_t(terminal.size());
      terminal.push_back(-1);
      edges.emplace(key, child);
      node = child;
    } else {
      node = it->second;
    }
  }
  terminal[node] = id;
}

std::pair<int32_t, size_t> AddedVocabulary::Trie::longest_at(std::string_view text, size_t pos) const {
  int32_t node = 0, best_id = -1;
  size_t best_len = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    auto it = edges.find((uint64_t(node) << 8) | static_cast<unsigned char>(text[i]));
    if (it == edges.end()) break;
    node = it->second;
    if (terminal[node] >= 0) {
      best_id = terminal[node];
      best_len = i + 1 - pos;
    }
  }
  return {best_id, best_len};
}

void AddedVocabulary::add_tokens(const std::vector<AddedToken>& tokens,
                                 const StringMap<int32_t>& model_vocab, int64_t model_vocab_size,
                                 const Normalizer* normalizer) {
  int64_t next_id = model_vocab_size;
  if (!by_id_.empty()) {
    int64_t max_key = -1;
    for (const auto& [id, tok] : by_id_) max_key = std::max<int64_t>(max_key, id);
    next_id = (max_key >= model_vocab_size || model_vocab_size == 0) ? max_key + 1 : model_vocab_size;
  }
  for (const AddedToken& t : tokens) {
    if (t.content.empty()) continue;
    auto existing = by_content_.find(t.content);
    if (existing != by_content_.end()) {
      auto it = by_id_.find(existing->second);
      if (it != by_id_.end() && same_token(it->second, t)) continue;
    }
    int32_t new_id;
    if (existing != by_content_.end()) {
      new_id = existing->second;
    } else if (auto m = model_vocab.find(t.content); m != model_vocab.end()) {
      new_id = m->second;
    } else {
      new_id = int32_t(next_id++);
    }
    if (t.normalized && normalizer) {
      std::string normed = t.content;
      normalizer->normalize(normed);
      if (normed != t.content) normalized_content_[new_id] = normed;
    }
    by_content_[t.content] = new_id;
    if (t.special) special_.insert(t.content);
    by_id_[new_id] = t;
    max_id_ = std::max(max_id_, new_id);
  }
  rebuild_tries();
}

void AddedVocabulary::rebuild_tries() {
  raw_trie_.clear();
  normalized_trie_.clear();
  for (const auto& [id, t] : by_id_) {
    if (t.normalized) {
      auto n = normalized_content_.find(id);
      normalized_trie_.insert(n != normalized_content_.end() ? n->second : t.content, id);
    } else {
      raw_trie_.insert(t.content, id);
    }
  }
}

void AddedVocabulary::split(std::string_view text, bool normalized, std::vector<Segment>& out) const {
  const Trie& trie = normalized ? normalized_trie_ : raw_trie_;
  size_t start_offset = 0, pos = 0;
  if (trie.edges.empty()) {
    if (!text.empty()) out.push_back({0, text.size(), -1});
    return;
  }
  while (pos < text.size()) {
    if (!trie.first_byte[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    auto [id, len] = trie.longest_at(text, pos);
    if (len == 0) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + len;
    pos = stop;  // the match iterator resumes after the raw match, whatever happens below
    const AddedToken& t = by_id_.at(id);
    if (t.single_word) {
      bool start_space = start == 0 || !is_word_char(last_code_point(text.substr(0, start)));
      bool stop_space = stop == text.size() || !is_word_char(first_code_point(text.substr(stop)));
      if (!start_space || !stop_space) continue;
    }
    if (t.lstrip) start = std::max(whitespace_suffix_start(text.substr(0, start)), start_offset);
    if (t.rstrip) stop += whitespace_prefix_end(text.substr(stop));
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, id});
    start_offset = stop;
  }
  if (start_offset != text.size() && start_offset < text.size()) out.push_back({start_offset, text.size(), -1});
}

std::optional<int32_t> AddedVocabulary::token_to_id(std::string_view content) const {
  auto it = by_content_.find(content);
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

const std::string* AddedVocabulary::decode_content(int32_t id) const {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return nullptr;
  auto n = normalized_content_.find(id);
  return n != normalized_content_.end() ? &n->second : &it->second.content;
}

const AddedToken* AddedVocabulary::token(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

}  // namespace dsv3::tok
