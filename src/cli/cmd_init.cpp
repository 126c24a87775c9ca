// dsv3 init --out DIR --preset NAME [--seed S] [--fp8] [--mtp N] [--tokenizer DIR]:
// a random-weight checkpoint in Hugging Face layout, for tests and benchmarks.
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "model/presets.h"
#include "model/random_checkpoint.h"
#include "tokenizer/tokenizer_writer.h"

namespace dsv3::cli {

namespace {

struct InitArgs {
  std::string out, preset, tokenizer;
  uint64_t seed = 0;
  bool fp8 = false, force = false;
  int64_t mtp = 1;
};

void run(const InitArgs& a) {
  namespace fs = std::filesystem;
  std::error_code ec;
  DSV3_CHECK(a.force || !fs::exists(a.out + "/config.json", ec), a.out,
             " already holds a model (config.json); pass --force to overwrite");
  ModelConfig cfg = preset_config(a.preset, a.mtp, a.fp8);
  RandomInitOptions opt;
  opt.seed = a.seed;
  write_random_checkpoint(a.out, cfg, opt);
  if (a.tokenizer.empty()) {
    // A byte-level tokenizer with DeepSeek-V3's special tokens (BOS 0, EOS 1) so that --prompt
    // and chat work on any init'd model; ids past it are simply never produced by encode.
    BpeTokenizerSpec spec{deepseek_special_tokens(), {}, deepseek_style_chat_template()};
    DSV3_CHECK(bpe_tokenizer_size(spec) <= cfg.vocab_size, "preset vocabulary too small for the byte-level tokenizer");
    write_bpe_tokenizer(a.out, spec);
  } else {
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
      const fs::path src = fs::path(a.tokenizer) / f;
      DSV3_CHECK(fs::exists(src, ec), "--tokenizer: ", src.string(), " does not exist");
      fs::copy_file(src, fs::path(a.out) / f, fs::copy_options::overwrite_existing, ec);
      DSV3_CHECK(!ec, "cannot copy ", src.string(), ": ", ec.message());
    }
  }
  std::cout << nlohmann::json{{"out", a.out}, {"preset", a.preset}, {"fp8", a.fp8}, {"mtp", a.mtp}, {"seed", a.seed}}.dump()
            << "\n";
}

}  // namespace

void add_init(CLI::App& app) {
  auto* cmd = app.add_subcommand("init", "Write a random-weight checkpoint in Hugging Face layout");
  auto a = std::make_shared<InitArgs>();
  cmd->add_option("--out", a->out, "Output folder")->required();
  cmd->add_option("--preset", a->preset, "tiny | bench")->required();
  cmd->add_option("--seed", a->seed, "Random seed");
  cmd->add_flag("--fp8", a->fp8, "Store linear weights as FP8 e4m3 with 128x128 block scales");
  cmd->add_option("--mtp", a->mtp, "Number of MTP modules (num_nextn_predict_layers)");
  cmd->add_option("--tokenizer", a->tokenizer, "Copy tokenizer.json and tokenizer_config.json from this folder (default: write a byte-level tokenizer)");
  cmd->add_flag("--force", a->force, "Overwrite an existing model in --out");
  cmd->callback([a] { run(*a); });
}

DSV3_COMMAND(44, add_init);

}  // namespace dsv3::cli
