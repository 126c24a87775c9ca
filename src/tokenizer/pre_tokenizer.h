// Pre-tokenizers of tokenizer.json ("pre_tokenizer" field): they cut normalized text into the
// pieces that the model encodes one at a time. Implemented: Sequence, Split (String or Regex
// pattern, every SplitDelimiterBehavior, invert), ByteLevel (add_prefix_space, use_regex with
// the GPT-2 pattern) and Digits. Other types are rejected at load with an error naming them.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsv3::tok {

class PreTokenizer {
 public:
  // nullptr for a JSON null; throws dsv3::Error naming `origin` for unsupported types.
  static std::unique_ptr<PreTokenizer> from_json(const nlohmann::json& j, const std::string& origin);
  virtual ~PreTokenizer() = default;
  // Replaces every piece by the pieces it splits into (empty pieces are dropped, as in
  // tokenizers' PreTokenizedString::split).
  virtual void pre_tokenize(std::vector<std::string>& pieces) const = 0;
};

}  // namespace dsv3::tok
