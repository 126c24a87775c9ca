// Normalizers of tokenizer.json ("normalizer" field). DeepSeek-V3 ships an empty Sequence;
// Sequence, Prepend, Replace and Strip are implemented, and any other type (NFC, Lowercase,
// ...) is rejected at load time with an error naming it rather than silently ignored.
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace dsv3::tok {

class Normalizer {
 public:
  // nullptr for a JSON null; throws dsv3::Error naming `origin` for unsupported types.
  static std::unique_ptr<Normalizer> from_json(const nlohmann::json& j, const std::string& origin);
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

}  // namespace dsv3::tok
