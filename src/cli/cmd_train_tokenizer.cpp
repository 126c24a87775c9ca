// dsv3 train-tokenizer --input FILES... --vocab-size N --out DIR [--min-frequency F]:
// byte-level BPE with DeepSeek-V3's pre-tokenizer and special tokens (train/bpe_trainer.h),
// written as a Hugging Face tokenizer.json + tokenizer_config.json.
#include <chrono>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "train/bpe_trainer.h"
#include "train/text_corpus.h"

namespace dsv3::cli {

namespace {

struct TrainTokenizerArgs {
  std::vector<std::string> inputs;
  std::string out;
  int64_t vocab_size = 0, min_frequency = 0;
};

void run(const TrainTokenizerArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<SpecialToken> specials = deepseek_special_tokens();
  const int64_t base = int64_t(specials.size()) + 256;
  DSV3_CHECK(a.vocab_size >= base, "--vocab-size ", a.vocab_size, " is smaller than the ", specials.size(),
             " special tokens plus the 256 byte tokens (", base, ")");
  DSV3_CHECK(a.min_frequency >= 0, "--min-frequency must be >= 0");

  WordCounter counter;
  int64_t documents = 0, invalid = 0, bytes = 0;
  for (const std::string& path : a.inputs) {
    const CorpusFile file(path);
    file.for_each_document([&](const DocumentRange& d) {
      const auto text = file.text(d);
      if (!text) {
        ++invalid;
        std::cerr << "dsv3: warning: " << path << (d.line ? ":" + std::to_string(d.line) : "")
                  << ": invalid UTF-8, document skipped\n";
        return;
      }
      ++documents;
      bytes += int64_t(text->size());
      counter.add_text(*text);
    });
  }
  const auto words = counter.counts();
  const auto t1 = std::chrono::steady_clock::now();
  const BpeTrainResult res = train_bpe(words, {a.vocab_size, a.min_frequency, int64_t(specials.size())});
  const auto t2 = std::chrono::steady_clock::now();
  write_trained_tokenizer(a.out, specials, res.merges);
  auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
  std::cout << nlohmann::json{{"out", a.out},
                              {"vocab_size", res.vocab_tokens},
                              {"merges", res.merges.size()},
                              {"documents", documents},
                              {"invalid_utf8_documents", invalid},
                              {"bytes", bytes},
                              {"pieces", counter.pieces()},
                              {"distinct_words", words.size()},
                              {"count_seconds", secs(t1 - t0)},
                              {"merge_seconds", secs(t2 - t1)}}
                   .dump()
            << "\n";
}

}  // namespace

void add_train_tokenizer(CLI::App& app) {
  auto* cmd = app.add_subcommand("train-tokenizer", "Train a byte-level BPE tokenizer (DeepSeek-V3 pre-tokenizer and special tokens)");
  auto a = std::make_shared<TrainTokenizerArgs>();
  cmd->add_option("--input", a->inputs, "Text files (one document each) or .jsonl files ({\"text\": ...} per line)")
      ->required()
      ->expected(1, -1);
  cmd->add_option("--vocab-size", a->vocab_size, "Total vocabulary: special tokens + 256 bytes + merges")->required();
  cmd->add_option("--out", a->out, "Output folder for tokenizer.json and tokenizer_config.json")->required();
  cmd->add_option("--min-frequency", a->min_frequency, "Stop merging when the best pair occurs fewer times");
  cmd->callback([a] { run(*a); });
}

DSV3_COMMAND(30, add_train_tokenizer);

}  // namespace dsv3::cli
