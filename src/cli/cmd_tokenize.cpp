// dsv3 tokenize --model DIR [--raw]: JSON Lines {"text": ...} on stdin -> {"ids": [...]}.
// dsv3 detokenize --model DIR: {"ids": [...]} -> {"text": ...}.
// Without --raw, special tokens (BOS) are added exactly as Hugging Face `encode` does.
#include <iostream>
#include <memory>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace dsv3::cli {

namespace {

void tokenize(const std::string& dir, bool raw) {
  const Tokenizer tok = Tokenizer::load(dir);
  nlohmann::json in;
  int64_t line = 0;
  while (read_json_line(in, line)) {
    DSV3_CHECK(in.contains("text") && in["text"].is_string(), "stdin line ", line, ": expected {\"text\": string}");
    const std::string text = in["text"].get<std::string>();
    std::cout << nlohmann::json{{"ids", tok.encode(text, !raw)}}.dump() << "\n";
  }
}

void detokenize(const std::string& dir, bool skip_special) {
  const Tokenizer tok = Tokenizer::load(dir);
  nlohmann::json in;
  int64_t line = 0;
  while (read_json_line(in, line)) {
    DSV3_CHECK(in.contains("ids") && in["ids"].is_array(), "stdin line ", line, ": expected {\"ids\": [int, ...]}");
    std::vector<int32_t> ids;
    for (const auto& v : in["ids"]) {
      DSV3_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() < tok.vocab_size(), "stdin line ",
                 line, ": token id ", v.dump(), " is outside the vocabulary [0, ", tok.vocab_size(), ")");
      ids.push_back(int32_t(v.get<int64_t>()));
    }
    std::cout << nlohmann::json{{"text", tok.decode(ids, skip_special)}}.dump() << "\n";
  }
}

}  // namespace

void add_tokenize(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "JSON Lines {\"text\"} on stdin -> {\"ids\"} on stdout");
  auto dir = std::make_shared<std::string>();
  auto raw = std::make_shared<bool>(false);
  cmd->add_option("--model", *dir, "Model (or tokenizer) folder")->required();
  cmd->add_flag("--raw", *raw, "Do not add special tokens (BOS)");
  cmd->callback([dir, raw] { tokenize(*dir, *raw); });
}

void add_detokenize(CLI::App& app) {
  auto* cmd = app.add_subcommand("detokenize", "JSON Lines {\"ids\"} on stdin -> {\"text\"} on stdout");
  auto dir = std::make_shared<std::string>();
  auto skip = std::make_shared<bool>(false);
  cmd->add_option("--model", *dir, "Model (or tokenizer) folder")->required();
  cmd->add_flag("--skip-special-tokens", *skip, "Drop special tokens from the text");
  cmd->callback([dir, skip] { detokenize(*dir, *skip); });
}

DSV3_COMMAND(41, add_tokenize);

DSV3_COMMAND(42, add_detokenize);

}  // namespace dsv3::cli
