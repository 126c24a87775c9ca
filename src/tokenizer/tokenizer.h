// Hugging Face-exact tokenizer for DeepSeek-V3-family models (byte-level BPE from
// tokenizer.json). encode() equals transformers' `tokenizer.encode(text)` and decode() equals
// `tokenizer.decode(ids)` (the Rust `tokenizers` library under LlamaTokenizerFast); the pieces
// are documented in their own headers:
//   added_tokens.h   special / added tokens, matched before everything else
//   normalizer.h     "normalizer"       pre_tokenizer.h  "pre_tokenizer" (Split regexes, ByteLevel)
//   bpe_model.h      "model" (BPE)      post_processor.h BOS / EOS around the ids
//   byte_level.h     byte <-> symbol alphabet and the ByteLevel decoder
//   regex.h          Oniguruma patterns on PCRE2
// Invalid UTF-8 input: Hugging Face only ever sees valid Unicode text, so encode() first
// replaces each maximal invalid subpart with U+FFFD (as String::from_utf8_lossy / Python's
// bytes.decode(errors="replace") do) and encodes the result; it never throws for bad bytes.
// Thread safety: a loaded Tokenizer is immutable apart from an internal, locked BPE cache, so
// one instance may encode/decode from many threads. Copies share the loaded state.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsv3 {

class Tokenizer {
 public:
  // Reads DIR/tokenizer.json and, if present, DIR/tokenizer_config.json. Throws dsv3::Error
  // naming the file and the problem (missing, invalid JSON, unsupported component).
  static Tokenizer load(const std::string& model_dir);
  // Same from in-memory JSON texts (config may be empty); `origin` names them in errors.
  static Tokenizer from_json(std::string_view tokenizer_json, std::string_view tokenizer_config_json = {},
                             const std::string& origin = "tokenizer.json");

  // HF tokenizer.encode(text, add_special_tokens=...). Special-token strings in the text are
  // always matched as added tokens; add_special_tokens only controls BOS/EOS.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // HF tokenizer.decode(ids, skip_special_tokens=...): byte-level decoding of the tokens'
  // bytes, invalid UTF-8 replaced like String::from_utf8_lossy. Unknown ids (negative, or in
  // no vocab) are skipped, as tokenizers does.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  int64_t vocab_size() const;  // largest id + 1 over the vocab and the added tokens
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  std::string bos_token() const;  // "" when tokenizer_config.json names none
  std::string eos_token() const;
  std::optional<int32_t> token_to_id(std::string_view token) const;  // added tokens first, then vocab
  std::string id_to_token(int32_t id) const;                         // "" for an unknown id
  bool is_special(int32_t id) const;  // an added token with "special": true
  const std::string& chat_template() const;  // tokenizer_config.json chat_template, "" if none

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
  friend class StreamDecoder;
};

// Incremental detokenization for streaming output. Each push() returns only complete UTF-8
// (bytes of a character split across tokens wait for the rest); the concatenation of all
// push() results and flush() equals tokenizer.decode(all ids, skip_special_tokens).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool skip_special_tokens = false);
  std::string push(int32_t id);
  // Emits what is still pending (an unfinished character becomes U+FFFD) and resets.
  std::string flush();

 private:
  std::shared_ptr<const Tokenizer::Impl> impl_;
  bool skip_special_;
  bool first_ = true;    // for decoders that join tokens with a space
  std::string pending_;  // bytes of an incomplete trailing character
};

}  // namespace dsv3
