// `dsv3 prepare-data`: text documents -> uint32 token shards + manifest.json (read back with
// train/token_shards.h, which documents the folder layout and the data position).
//   1. Index: every input's documents (train/text_corpus.h: a .txt file is one document,
//      .jsonl has one {"text": ...} per line), in --input order. Documents that are not valid
//      UTF-8 are counted, reported on stderr with their file (and line) and skipped; empty
//      documents are counted and skipped.
//   2. Shuffle the valid documents with a Fisher-Yates pass driven by Rng(seed) (xoshiro256**,
//      platform independent); the first round(val_fraction * N) documents of that order are
//      the validation split (at least 1 when val_fraction > 0 and N >= 2), the rest train.
//   3. Encode each split in that order: document = tokenizer.encode(text) (BOS added as
//      Hugging Face adds it, special-token strings in the text matched as added tokens) + EOS;
//      write the stream in shards of shard_tokens tokens.
// Resumable: after each shard (written atomically) DIR/progress.json records it with its
// sha256 and the cursor (document, token offset) it ends at. A rerun with the same arguments
// keeps the shards whose checksums still match and continues from the last cursor, so the
// result is byte-identical to an uninterrupted run. manifest.json is written last; a rerun on
// a finished folder only verifies it. A folder prepared with different arguments (inputs'
// sha256, tokenizer, seed, fractions, sizes) is refused rather than mixed.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsv3 {

struct PrepareProgress {
  int64_t documents_done = 0, documents_total = 0;
  int64_t tokens = 0, bytes = 0;  // written so far in this run / text bytes encoded in this run
  bool finished = false;
};

struct PrepareDataOptions {
  std::string tokenizer_dir;
  std::vector<std::string> inputs;
  std::string out_dir;
  double val_fraction = 0.05;
  int64_t seq_len = 512;  // recorded for the trainer; splits shorter than seq_len + 1 warn
  uint64_t seed = 0;
  int64_t shard_tokens = int64_t(1) << 24;  // 64 MB per shard
  int64_t stop_after_shards = -1;           // tests: stop (as if killed) after writing this many
  std::function<void(const PrepareProgress&)> progress;  // called every few hundred documents
  std::function<void(const std::string&)> warn;          // one line per skipped document, etc.
};

struct PrepareDataResult {
  nlohmann::json manifest;      // null when stopped by stop_after_shards
  int64_t shards_reused = 0;    // shards kept from an earlier, interrupted run
  int64_t shards_written = 0;
  bool already_complete = false;
};

PrepareDataResult prepare_data(const PrepareDataOptions& opt);

}  // namespace dsv3
