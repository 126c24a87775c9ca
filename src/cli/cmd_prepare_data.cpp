// dsv3 prepare-data --tokenizer DIR --input FILES... --out DIR [--val-fraction F] [--seq-len L]
// [--seed S] [--shard-tokens N]: text / JSON Lines -> shuffled, split uint32 token shards +
// manifest.json (train/data_prep.h), resumable; read back with train/token_shards.h.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "train/data_prep.h"
#include "train/token_shards.h"

namespace dsv3::cli {

namespace {

// A live bar when stderr is a terminal; otherwise (logs, CI) a plain line every 5 s.
class ProgressReporter {
 public:
  ProgressReporter() : tty_(isatty(STDERR_FILENO) != 0), start_(Clock::now()), last_(start_) {}
  void operator()(const PrepareProgress& p) {
    const auto now = Clock::now();
    const double since = std::chrono::duration<double>(now - last_).count();
    if (!p.finished && since < (tty_ ? 0.1 : 5.0)) return;
    last_ = now;
    const double secs = std::max(1e-9, std::chrono::duration<double>(now - start_).count());
    const double frac = p.documents_total ? double(p.documents_done) / double(p.documents_total) : 1.0;
    char line[256];
    if (tty_) {
      std::string bar(30, ' ');
      for (int i = 0; i < int(frac * 30); ++i) bar[size_t(i)] = '#';
      std::snprintf(line, sizeof line, "\r[%s] %5.1f%% %lld/%lld docs, %.2f M tokens, %.1f MB/s", bar.c_str(),
                    100 * frac, (long long)p.documents_done, (long long)p.documents_total, double(p.tokens) / 1e6,
                    double(p.bytes) / 1e6 / secs);
      std::cerr << line << (p.finished ? "\n" : "") << std::flush;
    } else {
      std::snprintf(line, sizeof line, "prepare-data: %.1f%% %lld/%lld docs, %.2f M tokens, %.1f MB/s\n", 100 * frac,
                    (long long)p.documents_done, (long long)p.documents_total, double(p.tokens) / 1e6,
                    double(p.bytes) / 1e6 / secs);
      std::cerr << line << std::flush;
    }
  }

 private:
  using Clock = std::chrono::steady_clock;
  bool tty_;
  Clock::time_point start_, last_;
};

void run(PrepareDataOptions opt) {
  const auto t0 = std::chrono::steady_clock::now();
  auto reporter = std::make_shared<ProgressReporter>();
  opt.progress = [reporter](const PrepareProgress& p) { (*reporter)(p); };
  opt.warn = [](const std::string& s) { std::cerr << "dsv3: warning: " << s << "\n"; };
  const PrepareDataResult res = prepare_data(opt);
  // Re-open what was written (or found): sizes, sha256 and id ranges, as the trainer will.
  const TokenShards shards = TokenShards::open(opt.out_dir, true);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto& m = shards.manifest();
  std::cout << nlohmann::json{{"out", opt.out_dir},
                              {"train_documents", shards.train().documents()},
                              {"train_tokens", shards.train().size()},
                              {"val_documents", shards.val().documents()},
                              {"val_tokens", shards.val().size()},
                              {"invalid_utf8_skipped", m["documents"]["invalid_utf8_skipped"]},
                              {"empty_skipped", m["documents"]["empty_skipped"]},
                              {"already_complete", res.already_complete},
                              {"shards_reused", res.shards_reused},
                              {"shards_written", res.shards_written},
                              {"seconds", secs}}
                   .dump()
            << "\n";
}

}  // namespace

void add_prepare_data(CLI::App& app) {
  auto* cmd = app.add_subcommand("prepare-data", "Tokenize text / JSON Lines into shuffled train/val uint32 token shards");
  auto o = std::make_shared<PrepareDataOptions>();
  cmd->add_option("--tokenizer", o->tokenizer_dir, "Folder with tokenizer.json (+ tokenizer_config.json)")->required();
  cmd->add_option("--input", o->inputs, "Text files (one document each) or .jsonl files ({\"text\": ...} per line)")
      ->required()
      ->expected(1, -1);
  cmd->add_option("--out", o->out_dir, "Output folder (shards + manifest.json); rerun to resume")->required();
  cmd->add_option("--val-fraction", o->val_fraction, "Fraction of documents for validation (default 0.05)");
  cmd->add_option("--seq-len", o->seq_len, "Training sequence length recorded in the manifest (default 512)");
  cmd->add_option("--seed", o->seed, "Shuffle seed (default 0)");
  cmd->add_option("--shard-tokens", o->shard_tokens, "Tokens per shard file (default 16777216)");
  cmd->callback([o] { run(*o); });
}

DSV3_COMMAND(32, add_prepare_data);

}  // namespace dsv3::cli
