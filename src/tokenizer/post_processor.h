// Special tokens that encode(add_special_tokens=true) puts around a single sequence.
// From tokenizer.json "post_processor": TemplateProcessing (its "single" template),
// RobertaProcessing / BertProcessing (cls ... sep), ByteLevel (offsets only: adds nothing),
// Sequence (applied in order) or null. transformers' LlamaTokenizerFast (DeepSeek-V3's
// tokenizer_class) replaces it with "[bos] $A [eos]" from tokenizer_config.json's
// add_bos_token / add_eos_token; Tokenizer::load applies that override.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsv3::tok {

struct PostProcessor {
  std::vector<int32_t> prefix;  // ids before the sequence
  std::vector<int32_t> suffix;  // ids after it

  // Throws dsv3::Error naming `origin` for unsupported types.
  static PostProcessor from_json(const nlohmann::json& j, const std::string& origin);
};

}  // namespace dsv3::tok
