// Byte-level BPE training with the semantics of Hugging Face tokenizers' BpeTrainer on a
// ByteLevel model (trainer.rs): the initial alphabet is the 256 byte-level symbols, words are
// the pre-tokenizer's pieces weighted by their counts, and each step merges the adjacent pair
// with the highest count. Ties go to the smallest (left id, right id) in Hugging Face's id
// order (byte symbols sorted by code point, then merged tokens in creation order), so the
// merges equal those of `tokenizers` trained on the same pieces. Pair counts are updated
// incrementally from the words that contain the merged pair (an index pair -> words), as
// Hugging Face does, so a merge costs time proportional to the words it touches.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>


#include "tokenizer/tokenizer_writer.h"

namespace dsv3 {

namespace tok {
class PreTokenizer;
}

// Counts pre-tokenized words (as raw bytes) with the pre-tokenizer that write_bpe_tokenizer
// writes (DeepSeek-V3's Split regexes; its normalizer is empty), so training sees exactly the
// pieces that encoding will. Special-token strings in the text are cut out first, as encode
// does, and not counted. (Hugging Face's Tokenizer.train counts each one as a single word and
// learns merges that spell it, which encode never uses; that is the one difference.)
class WordCounter {
 public:
  explicit WordCounter(const std::vector<SpecialToken>& specials = deepseek_special_tokens());
  ~WordCounter();
  // Pre-tokenizes each line of `text` (with its "\n", as tokenizers' train_from_files reads
  // files) and counts the pieces.
  void add_text(std::string_view text);
  // Raw-byte word -> count.
  std::unordered_map<std::string, int64_t> counts() const;
  int64_t pieces() const { return pieces_; }

 private:
  std::unique_ptr<tok::PreTokenizer> pre_;
  std::unordered_map<std::string, int64_t> counts_;  // keyed by byte-level form
  std::vector<std::string> specials_;
  std::array<bool, 256> first_byte_{};  // first bytes of specials_, to skip most positions
  std::vector<std::string> scratch_;
  int64_t pieces_ = 0;
};

struct BpeTrainOptions {
  int64_t vocab_size = 0;     // total ids: specials + 256 bytes + learned tokens
  int64_t min_frequency = 0;  // stop when the best pair occurs fewer times
  int64_t n_specials = 0;     // ids taken by special tokens before the byte alphabet
};

struct BpeTrainResult {
  // In rank order, as raw bytes. A merge may produce a token an earlier merge already made
  // (Hugging Face keeps it and reuses the id); `vocab_tokens` counts distinct tokens.
  std::vector<std::pair<std::string, std::string>> merges;
  int64_t vocab_tokens = 0;  // specials + 256 + distinct merge results
};

BpeTrainResult train_bpe(const std::unordered_map<std::string, int64_t>& word_counts, const BpeTrainOptions& opt);

// Writes tokenizer.json + tokenizer_config.json (DeepSeek-style chat template, BOS/EOS =
// the first two specials) for the trained merges.
void write_trained_tokenizer(const std::string& dir, const std::vector<SpecialToken>& specials,
                             const std::vector<std::pair<std::string, std::string>>& merges);

}  // namespace dsv3
