#include "tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <utility>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/regex.h"

namespace dsv3::tok {
namespace {

using nlohmann::json;

// tokenizers' SplitDelimiterBehavior.
enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

Behavior parse_behavior(const json& j, const std::string& origin) {
  const std::string b = j.is_string() ? j.get<std::string>() : "";
  if (b == "Removed") return Behavior::Removed;
  if (b == "Isolated") return Behavior::Isolated;
  if (b == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (b == "MergedWithNext") return Behavior::MergedWithNext;
  if (b == "Contiguous") return Behavior::Contiguous;
  fail(origin, ": unknown Split behavior \"", b, "\"");
}

struct Span {
  size_t begin, end;
  bool flag;  // is_match before the behavior is applied, "remove" after
};

// NormalizedString::split: turns pattern matches into the kept spans of `text`.
void split_by_matches(const std::string& text, const std::vector<Regex::Match>& matches,
                      Behavior behavior, bool invert, std::vector<std::string>& out) {
  // Pattern::find_matches: contiguous spans covering the text, flagged when matched.
  std::vector<Span> spans;
  spans.reserve(matches.size() * 2 + 1);
  size_t prev = 0;
  for (auto [s, e] : matches) {
    if (prev != s) spans.push_back({prev, s, invert});
    spans.push_back({s, e, !invert});
    prev = e;
  }
  if (prev != text.size()) spans.push_back({prev, text.size(), invert});

  std::vector<Span> kept;
  kept.reserve(spans.size());
  switch (behavior) {
    case Behavior::Isolated:
      for (const Span& s : spans) kept.push_back({s.begin, s.end, false});
      break;
    case Behavior::Removed:
      kept = spans;
      break;
    case Behavior::Contiguous: {
      bool previous_match = false;
      for (const Span& s : spans) {
        if (s.flag == previous_match && !kept.empty()) kept.back().end = s.end;
        else kept.push_back({s.begin, s.end, false});
        previous_match = s.flag;
      }
      break;
    }
    case Behavior::MergedWithPrevious: {
      bool previous_match = false;
      for (const Span& s : spans) {
        if (s.flag && !previous_match && !kept.empty()) kept.back().end = s.end;
        else kept.push_back({s.begin, s.end, false});
        previous_match = s.flag;
      }
      break;
    }
    case Behavior::MergedWithNext: {
      bool previous_match = false;
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->flag && !previous_match && !kept.empty()) kept.back().begin = it->begin;
        else kept.push_back({it->begin, it->end, false});
        previous_match = it->flag;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    }
  }
  for (const Span& s : kept) {
    if (!s.flag && s.end > s.begin) out.emplace_back(text, s.begin, s.end - s.begin);
  }
}

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void pre_tokenize(std::vector<std::string>& pieces) const override {
    for (const auto& p : parts_) p->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(Regex re, Behavior behavior, bool invert)
      : re_(std::move(re)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<std::string>& pieces) const override {
    std::vector<std::string> out;
    out.reserve(pieces.size() * 4);
    std::vector<Regex::Match> matches;
    for (const std::string& piece : pieces) {
      matches.clear();
      re_.find_all(piece, matches);
      split_by_matches(piece, matches, behavior_, invert_, out);
    }
    pieces = std::move(out);
  }

 private:
  Regex re_;
  Behavior behavior_;
  bool invert_;
};

// GPT-2's pattern, which ByteLevel applies when use_regex is true.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex, const std::string& origin)
      : add_prefix_space_(add_prefix_space) {
    if (use_regex) re_ = std::make_unique<Regex>(kGpt2Pattern, origin);
  }
  void pre_tokenize(std::vector<std::string>& pieces) const override {
    std::vector<std::string> split;
    split.reserve(pieces.size());
    std::vector<Regex::Match> matches;
    for (std::string& piece : pieces) {
      // tokenizers prepends the space to every split that does not start with one.
      if (add_prefix_space_ && (piece.empty() || piece[0] != ' ')) {
        std::string spaced;
        spaced.reserve(piece.size() + 1);
        spaced += ' ';
        spaced += piece;
        piece.swap(spaced);
      }
      if (re_) {
        matches.clear();
        re_->find_all(piece, matches);
        split_by_matches(piece, matches, Behavior::Isolated, false, split);
      } else if (!piece.empty()) {
        split.push_back(std::move(piece));
      }
    }
    pieces.clear();
    pieces.reserve(split.size());
    for (const std::string& s : split) {
      std::string mapped;
      byte_level_encode(s, mapped);
      pieces.push_back(std::move(mapped));
    }
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> re_;
};

}  // namespace

std::unique_ptr<PreTokenizer> PreTokenizer::from_json(const json& j, const std::string& origin) {
  if (j.is_null()) return nullptr;
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    fail(origin, ": pre_tokenizer must be null or an object with a \"type\"");
  const std::string type = j["type"].get<std::string>();
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (const auto& sub : j.value("pretokenizers", json::array())) {
      if (auto p = from_json(sub, origin)) parts.push_back(std::move(p));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(parts));
  }
  if (type == "Split") {
    const json& pat = j.at("pattern");
    std::string pattern;
    if (pat.contains("String")) pattern = regex_escape(pat["String"].get<std::string>());
    else if (pat.contains("Regex")) pattern = pat["Regex"].get<std::string>();
    else fail(origin, ": Split pattern must have \"String\" or \"Regex\"");
    return std::make_unique<SplitPreTokenizer>(Regex(pattern, origin),
                                               parse_behavior(j.at("behavior"), origin),
                                               j.value("invert", false));
  }
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelPreTokenizer>(j.value("add_prefix_space", true),
                                                   j.value("use_regex", true), origin);
  }
  if (type == "Digits") {
    // tokenizers' Digits splits on char::is_numeric (Nd, Nl, No).
    const bool individual = j.value("individual_digits", false);
    return std::make_unique<SplitPreTokenizer>(Regex("\\p{N}", origin),
                                               individual ? Behavior::Isolated : Behavior::Contiguous,
                                               false);
  }
  fail(origin, ": unsupported pre_tokenizer type \"", type,
       "\" (supported: Sequence, Split, ByteLevel, Digits)");
}

}  // namespace dsv3::tok
