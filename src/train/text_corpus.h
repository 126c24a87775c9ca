// Input documents for tokenizer training and data preparation. Two formats, chosen by the
// file name: `.jsonl` / `.ndjson` are JSON Lines, one document per non-blank line in its
// "text" string field; any other file is plain text and is one whole document (blank lines
// inside it are paragraph breaks, not document breaks). Files are memory-mapped so a
// document can be re-read by its byte range (prepare-data shuffles an index, not the text).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/mapped_file.h"

namespace dsv3 {

enum class CorpusFormat { Text, JsonLines };
CorpusFormat corpus_format(const std::string& path);

// Where one document's raw bytes sit in its file.
struct DocumentRange {
  uint64_t offset = 0, size = 0;
  int64_t line = 0;  // 1-based line of a JSON Lines document, 0 for a text file
};

class CorpusFile {
 public:
  // Throws dsv3::Error "cannot read PATH: reason" when the file cannot be opened or mapped.
  explicit CorpusFile(const std::string& path);
  const std::string& path() const { return path_; }
  CorpusFormat format() const { return format_; }
  std::string_view bytes() const;

  // Each document's range, in file order (blank JSON Lines are skipped).
  void for_each_document(const std::function<void(const DocumentRange&)>& fn) const;
  // The document's text, or nullopt when it is not valid UTF-8 (the caller counts and skips
  // it). Malformed JSON or a missing / non-string "text" field throws an Error naming
  // PATH:LINE. A \uD800-style lone surrogate escape counts as invalid UTF-8.
  std::optional<std::string> text(const DocumentRange& d) const;

 private:
  std::string path_;
  CorpusFormat format_;
  MappedFile map_;
};

// Calls fn(line) for each line of text including its "\n" (the last may lack one), as
// Hugging Face tokenizers' train_from_files feeds its trainer.
void for_each_line(std::string_view text, const std::function<void(std::string_view)>& fn);

}  // namespace dsv3
