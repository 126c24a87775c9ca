// Writes Hugging Face tokenizer files (tokenizer.json + tokenizer_config.json) for a
// byte-level BPE with DeepSeek-V3's pre-tokenizer rules and special tokens. Used by
// `dsv3 init` (a 256-byte vocabulary, no merges) and by tokenizer training.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace dsv3 {

struct SpecialToken {
  std::string content;
  bool special = true;  // false for tokens such as <think> that decode as text
};

// DeepSeek-V3's added tokens, in id order from 0: BOS, EOS, pad, chat roles, tool-call markers,
// <think>/</think>.
std::vector<SpecialToken> deepseek_special_tokens();
// A DeepSeek-style chat template (BOS, system text, <｜User｜>/<｜Assistant｜> turns, EOS after
// each assistant turn) in the Jinja subset Hugging Face renders.
std::string deepseek_style_chat_template();

struct BpeTokenizerSpec {
  std::vector<SpecialToken> specials;  // ids 0 .. specials.size()-1
  // Learned merges as byte strings (raw bytes, not the byte-level alphabet), in rank order.
  // Vocabulary = specials, then the 256 single bytes, then one token per merge.
  std::vector<std::pair<std::string, std::string>> merges;
  std::string chat_template;
};

// Writes DIR/tokenizer.json and DIR/tokenizer_config.json atomically. BOS = specials[0],
// EOS = specials[1]; add_bos_token true (LlamaTokenizerFast, as DeepSeek-V3 ships).
void write_bpe_tokenizer(const std::string& dir, const BpeTokenizerSpec& spec);

// Number of ids write_bpe_tokenizer uses for `spec`.
int64_t bpe_tokenizer_size(const BpeTokenizerSpec& spec);

}  // namespace dsv3
