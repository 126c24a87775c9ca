#include "tokenizer/bpe_model.h"

#include <mutex>
#include <queue>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace dsv3::tok {
namespace {

using nlohmann::json;

std::optional<std::string> optional_string(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  return j[key].get<std::string>();
}

}  // namespace

std::unique_ptr<BpeModel> BpeModel::from_json(const json& model, const std::string& origin) {
  if (!model.is_object()) fail(origin, ": \"model\" must be an object");
  const std::string type = model.value("type", std::string("BPE"));
  if (type != "BPE") fail(origin, ": unsupported model type \"", type, "\" (only BPE is supported)");
  auto m = std::make_unique<BpeModel>();
  m->origin_ = origin;
  if (auto dropout = model.find("dropout"); dropout != model.end() && !dropout->is_null() &&
                                            dropout->get<double>() != 0.0)
    fail(origin, ": BPE dropout is not supported (it makes encoding random)");
  m->unk_token_ = optional_string(model, "unk_token");
  m->continuing_subword_prefix_ = optional_string(model, "continuing_subword_prefix").value_or("");
  m->end_of_word_suffix_ = optional_string(model, "end_of_word_suffix").value_or("");
  auto flag = [&](const char* key) {
    return model.contains(key) && model[key].is_boolean() && model[key].get<bool>();
  };
  m->fuse_unk_ = flag("fuse_unk");
  m->byte_fallback_ = flag("byte_fallback");
  m->ignore_merges_ = flag("ignore_merges");

  const json* vocab = model.contains("vocab") ? &model["vocab"] : nullptr;
  if (!vocab || !vocab->is_object()) fail(origin, ": model.vocab must be an object of token -> id");
  m->vocab_.reserve(vocab->size());
  m->vocab_r_.reserve(vocab->size());
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    if (!it.value().is_number_integer()) fail(origin, ": model.vocab[\"", it.key(), "\"] is not an integer id");
    const int64_t id = it.value().get<int64_t>();
    if (id < 0 || id > INT32_MAX) fail(origin, ": model.vocab[\"", it.key(), "\"] has out-of-range id ", id);
    m->vocab_.emplace(it.key(), int32_t(id));
    m->vocab_r_.emplace(int32_t(id), it.key());
    m->max_id_ = std::max(m->max_id_, int32_t(id));
  }

  const json* merges = model.contains("merges") ? &model["merges"] : nullptr;
  if (!merges || !merges->is_array()) fail(origin, ": model.merges must be an array");
  m->merges_.reserve(merges->size());
  const size_t prefix_len = m->continuing_subword_prefix_.size();
  int32_t rank = 0;
  std::string a, b;
  for (const json& entry : *merges) {
    if (entry.is_string()) {  // legacy "a b" form; "#version" lines are skipped
      const std::string& line = entry.get_ref<const std::string&>();
      if (line.rfind("#version", 0) == 0) continue;
      size_t sp = line.find(' ');
      if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos)
        fail(origin, ": merge ", rank + 1, " (\"", line, "\") is not two tokens separated by one space");
      a = line.substr(0, sp);
      b = line.substr(sp + 1);
    } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string()) {
      a = entry[0].get<std::string>();
      b = entry[1].get<std::string>();
    } else {
      fail(origin, ": merge ", rank + 1, " must be a string \"a b\" or an array [a, b]");
    }
    auto ia = m->vocab_.find(a), ib = m->vocab_.find(b);
    if (ia == m->vocab_.end()) fail(origin, ": merge ", rank + 1, " uses token \"", a, "\" missing from the vocab");
    if (ib == m->vocab_.end()) fail(origin, ": merge ", rank + 1, " uses token \"", b, "\" missing from the vocab");
    std::string merged = a + (b.size() >= prefix_len ? b.substr(prefix_len) : std::string());
    auto in = m->vocab_.find(merged);
    if (in == m->vocab_.end())
      fail(origin, ": merge ", rank + 1, " produces \"", merged, "\" which is missing from the vocab");
    // Like collecting into a HashMap: a repeated pair keeps its last rank.
    m->merges_[pair_key(ia->second, ib->second)] = MergeValue{rank, in->second};
    ++rank;
  }
  return m;
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  auto it = vocab_r_.find(id);
  return it == vocab_r_.end() ? nullptr : &it->second;
}

void BpeModel::tokenize(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (ignore_merges_) {
    if (auto it = vocab_.find(piece); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const bool cacheable = piece.size() < kCacheMaxPieceBytes;
  if (cacheable) {
    std::shared_lock lock(cache_mu_);
    if (auto it = cache_.find(piece); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t before = out.size();
  merge_word(piece, out);
  if (cacheable) {
    std::unique_lock lock(cache_mu_);
    if (cache_.size() < kCacheCapacity)
      cache_.emplace(std::string(piece), std::vector<int32_t>(out.begin() + before, out.end()));
  }
}

void BpeModel::merge_word(std::string_view w, std::vector<int32_t>& out) const {
  struct Symbol {
    int32_t id;
    int32_t prev, next;  // -1 when none
    uint32_t len;        // 0 once merged into its left neighbour
  };
  std::vector<Symbol> symbols;
  symbols.reserve(w.size());
  auto add = [&](int32_t id, size_t byte_len) {
    const int32_t n = int32_t(symbols.size());
    if (n > 0) symbols.back().next = n;
    symbols.push_back({id, n - 1, -1, uint32_t(byte_len)});
  };

  // Word::add per char; unknown chars go through byte_fallback / unk_token like merge_word.
  bool has_unk = false;  // a pending unk symbol (unk_id, unk_len) not yet added
  int32_t unk_id = -1;
  size_t unk_len = 0;
  std::string s;
  size_t i = 0;
  while (i < w.size()) {
    const size_t start = i;
    size_t n = utf8_valid_len(w, i);
    i += n ? n : 1;
    const bool is_first = start == 0, is_last = i >= w.size();
    std::string_view ch = w.substr(start, i - start);
    s.clear();
    if (!is_first) s += continuing_subword_prefix_;
    s += ch;
    if (is_last) s += end_of_word_suffix_;
    if (auto it = vocab_.find(s); it != vocab_.end()) {
      if (has_unk) {
        add(unk_id, unk_len);
        has_unk = false;
      }
      add(it->second, ch.size());
      continue;
    }
    if (byte_fallback_) {
      std::vector<int32_t> ids;
      static const char* hex = "0123456789ABCDEF";
      for (char c : s) {  // "<0x41>" (Rust's {:#04X})
        const auto u = static_cast<unsigned char>(c);
        const char code[7] = {'<', '0', 'x', hex[u >> 4], hex[u & 15], '>', 0};
        auto it = vocab_.find(std::string_view(code, 6));
        if (it == vocab_.end()) break;
        ids.push_back(it->second);
      }
      if (ids.size() == s.size()) {
        for (int32_t id : ids) add(id, 1);
        continue;
      }
    }
    if (unk_token_) {
      auto it = vocab_.find(*unk_token_);
      if (it == vocab_.end()) fail(origin_, ": unk_token \"", *unk_token_, "\" is not in the vocab");
      if (has_unk && fuse_unk_) {
        unk_len += ch.size();
      } else {
        if (has_unk) add(unk_id, unk_len);
        has_unk = true;
        unk_id = it->second;
        unk_len = ch.size();
      }
    }
  }
  if (has_unk) add(unk_id, unk_len);

  struct Merge {
    int32_t rank, pos, new_id;
    bool operator<(const Merge& o) const {  // top() = lowest rank, then leftmost
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::vector<Merge> storage;
  storage.reserve(symbols.size());
  std::priority_queue<Merge> queue(std::less<Merge>(), std::move(storage));
  for (size_t k = 0; k + 1 < symbols.size(); ++k) {
    auto it = merges_.find(pair_key(symbols[k].id, symbols[k + 1].id));
    if (it != merges_.end()) queue.push({it->second.rank, int32_t(k), it->second.new_id});
  }
  while (!queue.empty()) {
    const Merge top = queue.top();
    queue.pop();
    Symbol& cur = symbols[top.pos];
    if (cur.len == 0 || cur.next == -1) continue;
    const int32_t next_pos = cur.next;
    const Symbol right = symbols[next_pos];
    auto it = merges_.find(pair_key(cur.id, right.id));
    if (it == merges_.end() || it->second.new_id != top.new_id) continue;  // stale entry
    cur.id = top.new_id;
    cur.len += right.len;
    cur.next = right.next;
    symbols[next_pos].len = 0;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (cur.prev >= 0) {
      auto p = merges_.find(pair_key(symbols[cur.prev].id, cur.id));
      if (p != merges_.end()) queue.push({p->second.rank, cur.prev, p->second.new_id});
    }
    if (cur.next >= 0) {
      auto p = merges_.find(pair_key(cur.id, symbols[cur.next].id));
      if (p != merges_.end()) queue.push({p->second.rank, top.pos, p->second.new_id});
    }
  }
  for (const Symbol& sym : symbols) {
    if (sym.len != 0) out.push_back(sym.id);
  }
}

}  // namespace dsv3::tok
