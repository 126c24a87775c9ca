#include "train/bpe_trainer.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <queue>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_text.h"
#include "format/safetensors.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/utf8.h"
#include "train/text_corpus.h"

namespace dsv3 {
namespace {

// The pre_tokenizer that write_bpe_tokenizer emits, taken from its own output so training and
// the written tokenizer.json can never disagree.
nlohmann::json writer_pre_tokenizer() {
  static const nlohmann::json j = [] {
    namespace fs = std::filesystem;
    std::string tmpl = (fs::temp_directory_path() / "dsv3-pretok-XXXXXX").string();
    DSV3_CHECK(mkdtemp(tmpl.data()), "cannot create a temporary directory under ", fs::temp_directory_path().string());
    nlohmann::json pre;
    try {
      write_bpe_tokenizer(tmpl, BpeTokenizerSpec{deepseek_special_tokens(), {}, ""});
      const auto tj = nlohmann::json::parse(read_file_text(tmpl + "/tokenizer.json"));
      DSV3_CHECK(tj["normalizer"].is_null() || tj["normalizer"].value("normalizers", nlohmann::json::array()).empty(),
                 "tokenizer training assumes the written tokenizer has no normalizer");
      pre = tj.at("pre_tokenizer");
    } catch (...) {
      std::error_code ec;
      fs::remove_all(tmpl, ec);
      throw;
    }
    std::error_code ec;
    fs::remove_all(tmpl, ec);
    return pre;
  }();
  return j;
}

std::string byte_level(const std::string& bytes) {
  std::string out;
  tok::byte_level_encode(bytes, out);
  return out;
}

// Hugging Face's id order of the byte alphabet: compute_alphabet sorts the byte-level chars by
// code point. Only the relative order matters (it decides ties), so ids 0..255 suffice.
std::array<int32_t, 256> byte_ids() {
  std::vector<std::pair<char32_t, int>> cps;
  for (int b = 0; b < 256; ++b) {
    const std::string s = byte_level(std::string(1, char(b)));
    size_t i = 0;
    cps.push_back({tok::utf8_decode_at(s, i), b});
  }
  std::sort(cps.begin(), cps.end());
  std::array<int32_t, 256> ids{};
  for (int r = 0; r < 256; ++r) ids[cps[r].second] = r;
  return ids;
}

inline uint64_t pair_key(int32_t a, int32_t b) { return uint64_t(uint32_t(a)) << 32 | uint32_t(b); }

struct QueueEntry {
  int64_t count;
  uint64_t pair;
  // priority_queue pops the largest: higher count first, then the smaller pair (HF Merge::cmp).
  bool operator<(const QueueEntry& o) const { return count != o.count ? count < o.count : pair > o.pair; }
};

}  // namespace

WordCounter::WordCounter(const std::vector<SpecialToken>& specials)
    : pre_(tok::PreTokenizer::from_json(writer_pre_tokenizer(), "tokenizer_writer")) {
  for (const SpecialToken& s : specials)
    if (!s.content.empty()) specials_.push_back(s.content), first_byte_[uint8_t(s.content[0])] = true;
}
WordCounter::~WordCounter() = default;

void WordCounter::add_text(std::string_view text) {
  auto count = [&](std::string_view segment) {
    if (segment.empty()) return;
    scratch_.assign(1, std::string(segment));
    pre_->pre_tokenize(scratch_);
    for (const std::string& piece : scratch_) ++counts_[piece];
    pieces_ += int64_t(scratch_.size());
  };
  for_each_line(text, [&](std::string_view line) {
    // Leftmost, then longest special-token match, as the added-token split of encode.
    size_t start = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      if (!first_byte_[uint8_t(line[i])]) continue;
      size_t len = 0;
      for (const std::string& s : specials_)
        if (s.size() > len && line.compare(i, s.size(), s) == 0) len = s.size();
      if (len == 0) continue;
      count(line.substr(start, i - start));
      start = i + len;
      i = start - 1;
    }
    count(line.substr(start));
  });
}

std::unordered_map<std::string, int64_t> WordCounter::counts() const {
  std::unordered_map<std::string, int64_t> out;
  out.reserve(counts_.size());
  for (const auto& [piece, n] : counts_) {
    std::string bytes;
    tok::byte_level_decode_token(piece, bytes);
    out[bytes] += n;
  }
  return out;
}

BpeTrainResult train_bpe(const std::unordered_map<std::string, int64_t>& word_counts, const BpeTrainOptions& opt) {
  const std::array<int32_t, 256> bid = byte_ids();
  std::vector<std::string> token_bytes(256);  // by id
  std::unordered_map<std::string, int32_t> token_id;
  for (int b = 0; b < 256; ++b) {
    token_bytes[bid[b]] = std::string(1, char(b));
    token_id[token_bytes[bid[b]]] = bid[b];
  }

  // Words in a canonical order (sorted bytes), so every container below is reproducible.
  std::vector<const std::pair<const std::string, int64_t>*> sorted;
  for (const auto& wc : word_counts)
    if (wc.second > 0 && wc.first.size() >= 2) sorted.push_back(&wc);
  std::sort(sorted.begin(), sorted.end(), [](auto* x, auto* y) { return x->first < y->first; });
  std::vector<std::vector<int32_t>> words(sorted.size());
  std::vector<int64_t> counts(sorted.size());
  std::unordered_map<uint64_t, int64_t> pair_counts;
  std::unordered_map<uint64_t, std::vector<int32_t>> where;  // pair -> words that had it (may be stale)
  for (size_t i = 0; i < sorted.size(); ++i) {
    counts[i] = sorted[i]->second;
    for (unsigned char c : sorted[i]->first) words[i].push_back(bid[c]);
    for (size_t k = 0; k + 1 < words[i].size(); ++k) {
      const uint64_t p = pair_key(words[i][k], words[i][k + 1]);
      pair_counts[p] += counts[i];
      auto& w = where[p];
      if (w.empty() || w.back() != int32_t(i)) w.push_back(int32_t(i));
    }
  }
  std::priority_queue<QueueEntry> queue;
  for (const auto& [p, n] : pair_counts) queue.push({n, p});

  BpeTrainResult res;
  res.vocab_tokens = opt.n_specials + 256;
  std::vector<uint64_t> touched;
  while (res.vocab_tokens < opt.vocab_size && !queue.empty()) {
    QueueEntry top = queue.top();
    queue.pop();
    const auto pc = pair_counts.find(top.pair);
    const int64_t current = pc == pair_counts.end() ? 0 : pc->second;
    if (top.count != current) {  // counts only fall after a push: refresh lazily
      if (current > 0) queue.push({current, top.pair});
      continue;
    }
    if (top.count < 1 || opt.min_frequency > top.count) break;

    const int32_t a = int32_t(top.pair >> 32), b = int32_t(top.pair & 0xffffffffu);
    const std::string merged = token_bytes[a] + token_bytes[b];
    res.merges.push_back({token_bytes[a], token_bytes[b]});
    int32_t id;
    if (auto it = token_id.find(merged); it != token_id.end()) {
      id = it->second;  // same string reached by another split: reuse the id, as HF does
    } else {
      id = int32_t(token_bytes.size());
      token_bytes.push_back(merged);
      token_id.emplace(merged, id);
      ++res.vocab_tokens;
    }

    std::vector<int32_t> positions = std::move(where[top.pair]);
    where.erase(top.pair);
    pair_counts.erase(top.pair);
    std::sort(positions.begin(), positions.end());
    positions.erase(std::unique(positions.begin(), positions.end()), positions.end());
    touched.clear();
    for (int32_t i : positions) {
      std::vector<int32_t>& s = words[i];
      const int64_t n = counts[i];
      auto change = [&](int32_t x, int32_t y, int64_t delta) {
        const uint64_t p = pair_key(x, y);
        pair_counts[p] += delta * n;
        if (delta > 0) {
          auto& w = where[p];
          if (w.empty() || w.back() != i) w.push_back(i);
          touched.push_back(p);
        }
      };
      // Word::merge: left to right, non-overlapping; neighbours' pairs move to the new token.
      size_t w = 0;
      for (size_t r = 0; r < s.size();) {
        if (r + 1 < s.size() && s[r] == a && s[r + 1] == b) {
          if (w > 0) change(s[w - 1], a, -1), change(s[w - 1], id, +1);
          if (r + 2 < s.size()) change(b, s[r + 2], -1), change(id, s[r + 2], +1);
          s[w++] = id;
          r += 2;
        } else {
          s[w++] = s[r++];
        }
      }
      s.resize(w);
    }
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (uint64_t p : touched)
      if (const int64_t n = pair_counts[p]; n > 0) queue.push({n, p});
  }
  return res;
}

void write_trained_tokenizer(const std::string& dir, const std::vector<SpecialToken>& specials,
                             const std::vector<std::pair<std::string, std::string>>& merges) {
  // write_bpe_tokenizer gives each merge a new id, so merges whose result already exists are
  // left out there and put back into model.merges (in rank order) afterwards.
  BpeTokenizerSpec spec{specials, {}, deepseek_style_chat_template()};
  std::unordered_set<std::string> seen;
  for (int b = 0; b < 256; ++b) seen.insert(std::string(1, char(b)));
  bool duplicates = false;
  for (const auto& m : merges) {
    if (seen.insert(m.first + m.second).second) spec.merges.push_back(m);
    else duplicates = true;
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  DSV3_CHECK(!ec, "cannot create ", dir, ": ", ec.message());
  write_bpe_tokenizer(dir, spec);
  if (!duplicates) return;
  const std::string path = dir + "/tokenizer.json";
  nlohmann::json tj = nlohmann::json::parse(read_file_text(path));
  nlohmann::json all = nlohmann::json::array();
  for (const auto& [x, y] : merges) all.push_back(byte_level(x) + " " + byte_level(y));
  tj["model"]["merges"] = all;
  write_file_atomic(path, tj.dump(1) + "\n");
}

}  // namespace dsv3
