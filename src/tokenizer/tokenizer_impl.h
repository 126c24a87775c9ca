// Loaded state behind dsv3::Tokenizer (private to src/tokenizer).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace dsv3 {

struct Tokenizer::Impl {
  enum class Decoder { kNone, kByteLevel };  // kNone: tokenizers joins tokens with " "

  std::string origin;
  std::unique_ptr<tok::Normalizer> normalizer;
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer;
  std::unique_ptr<tok::BpeModel> model;
  tok::AddedVocabulary added;
  tok::PostProcessor post;
  Decoder decoder = Decoder::kNone;

  std::string bos_token, eos_token, chat_template;
  std::optional<int32_t> bos_id, eos_id;
  int64_t vocab_size = 0;

  // The string tokenizers' decode uses for `id` (added token content first, then the model
  // vocab), or nullptr when the id is unknown or skipped as special.
  const std::string* token_for_decode(int32_t id, bool skip_special_tokens) const;
  // Appends what `token` contributes to the decoder's byte stream.
  void append_token_bytes(const std::string& token, std::string& out) const;
};

}  // namespace dsv3
