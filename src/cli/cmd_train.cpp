// dsv3 train --config FILE [--resume] [--threads N]
// Trains a DeepSeek-V3-architecture model from a JSON config (train/train_config.h), writing
// Hugging Face checkpoints with optimizer state (train/train_checkpoint.h), OUT/metrics.jsonl
// and a progress line (train/train_metrics.h). Resumes automatically from OUT/latest when it
// exists; --resume additionally requires it. Prints a JSON summary on stdout at the end.
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "train/train_checkpoint.h"
#include "train/trainer.h"

namespace dsv3::cli {

namespace {

struct TrainArgs {
  std::string config;
  bool resume = false;
  int threads = 0;
  int64_t stop_after = -1;
};

void run(const TrainArgs& a) {
  DSV3_CHECK(a.threads >= 0, "--threads must be >= 1 (0: the default), got ", a.threads);
  use_threads(a.threads);
  const TrainConfig cfg = load_train_config(a.config);
  TrainerOptions opt;
  opt.require_resume = a.resume;
  opt.stop_after_steps = a.stop_after;
  Trainer trainer(cfg, opt);
  if (trainer.resumed()) std::cerr << "dsv3 train: resuming " << latest_checkpoint(cfg.out_dir) << " at step " << trainer.step() << "\n";
  trainer.run();
  const auto& h = trainer.history();
  nlohmann::json out = {{"step", trainer.step()}, {"out_dir", cfg.out_dir}, {"latest", latest_checkpoint(cfg.out_dir)}};
  if (!h.empty()) out["loss"] = h.back().loss.total;
  std::cout << out.dump() << "\n";
}

}  // namespace

void add_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train a DeepSeek-V3-style model from a JSON config (checkpoints, metrics, resume)");
  auto a = std::make_shared<TrainArgs>();
  cmd->add_option("--config", a->config, "Training config (JSON; see configs/default_model.json)")->required();
  cmd->add_flag("--resume", a->resume, "Require a checkpoint in out_dir to resume from (resuming is automatic when one exists)");
  cmd->add_option("--threads", a->threads, "Threads (default: DSV3_THREADS or all cores); results do not depend on it");
  cmd->add_option("--stop-after", a->stop_after, "Stop after this many steps of this process (tests)");
  cmd->callback([a] { run(*a); });
}

DSV3_COMMAND(36, add_train);

}  // namespace dsv3::cli
