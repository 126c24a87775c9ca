// dsv3 bench --model DIR [-p 512[,128...]] [-n 128[,...]] [-t THREADS] [-r REPETITIONS] [--json] [--kv-cache f32|fp8]
// Prefill (pp) and decode (tg) speed like llama-bench, plus the weight bytes one decoded token
// reads and the bandwidth that implies. Text output is a Markdown table; --json prints a JSON
// array with one object per test. Measurement logic: runtime/bench_runner.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/matmul.h"
#include "runtime/bench_runner.h"

#include <nlohmann/json.hpp>

namespace dsv3::cli {

namespace {

// The activation settings of integer-weight products (matmul.h), as bench reports them.
const char* int8_activations_name() {
  switch (int8_activations()) {
    case Int8Activations::kOff: return "off";
    case Int8Activations::kInt4: return "int4";
    default: return "all";
  }
}

struct BenchArgs {
  std::string model;
  std::vector<int64_t> prompts{512}, gens{128};
  int threads = 0, repetitions = 5;
  int64_t tg_prompt = 8;
  uint64_t seed = 42;
  bool json = false;
  LatentFormat kv_cache = LatentFormat::kF32;
};

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string human_params(int64_t n) {
  if (n >= 1000000000) return fmt("%.2f B", double(n) / 1e9);
  if (n >= 1000000) return fmt("%.2f M", double(n) / 1e6);
  return fmt("%.2f K", double(n) / 1e3);
}

std::string model_label(const Model& m) {
  std::string dir = m.dir();
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const std::string base = std::filesystem::path(dir).filename().string();
  // The dtype of the linear weights (FP8 or bf16 release), as llama-bench names the type.
  const DType dt = m.weights().layers.empty() ? m.weights().lm_head.dtype : m.weights().layers[0].attn.kv_a.dtype;
  return (base.empty() ? dir : base) + " " + std::string(dtype_name(dt));
}

void run(const BenchArgs& a) {
  DSV3_CHECK(a.threads >= 0, "-t must be >= 1 (0: the default), got ", a.threads);
  DSV3_CHECK(a.repetitions >= 1, "-r must be >= 1, got ", a.repetitions);
  use_threads(a.threads);
  auto model = Model::load(a.model);
  const int threads = ThreadPool::global().size();
  BenchOptions opt;
  opt.prompt_lengths = a.prompts;
  opt.gen_lengths = a.gens;
  opt.repetitions = a.repetitions;
  opt.tg_prompt_tokens = a.tg_prompt;
  opt.seed = a.seed;
  opt.kv_cache = a.kv_cache;
  const std::vector<BenchResult> results = run_bench(*model, opt);
  const int64_t bytes_per_token = decode_weight_bytes_per_token(*model);
  const ModelSize size = model_size(*model);
  const std::string label = model_label(*model), isa = matmul_isa();

  if (a.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const BenchResult& r : results) {
      nlohmann::json j = {
          {"model", label},
          {"model_dir", model->dir()},
          {"model_size_bytes", size.bytes},
          {"model_params", size.params},
          {"isa", isa},
          {"threads", threads},
          {"test", r.test},
          {"n_prompt", r.n_prompt},
          {"n_gen", r.n_gen},
          {r.is_prompt ? "pp_tokens_per_s" : "tg_tokens_per_s", r.mean_tokens_per_s},
          {"stddev", r.stddev_tokens_per_s},
          {"repetitions", int64_t(r.seconds.size())},
          {"samples_tokens_per_s", r.tokens_per_s},
          {"samples_seconds", r.seconds},
          {"bytes_per_token", bytes_per_token},
          {"kv_cache", latent_format_name(a.kv_cache)},
          {"int8_activations", int8_activations_name()},
          {"int16_activations", int16_activations()},
          {"weights_memory", residency_name(model->checkpoint().residency())},
      };
      if (!r.is_prompt) j["gb_per_s"] = double(bytes_per_token) * r.mean_tokens_per_s / 1e9;
      arr.push_back(j);
    }
    std::cout << arr.dump(2) << "\n";
    return;
  }
  std::cout << "| model | size | params | isa | threads | test | t/s | GB/s |\n"
            << "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n";
  for (const BenchResult& r : results) {
    std::cout << "| " << label << " | " << fmt("%.2f GiB", double(size.bytes) / (1024.0 * 1024 * 1024)) << " | "
              << human_params(size.params) << " | " << isa << " | " << threads << " | " << r.test << " | "
              << fmt("%.2f", r.mean_tokens_per_s) << " ± " << fmt("%.2f", r.stddev_tokens_per_s) << " | "
              << (r.is_prompt ? std::string() : fmt("%.2f", double(bytes_per_token) * r.mean_tokens_per_s / 1e9))
              << " |\n";
  }
  std::cout << "\nweights read per decoded token: " << fmt("%.1f MB", double(bytes_per_token) / 1e6)
            << " (stored dtype, no embedding, no MTP); tg decodes after a prompt of " << a.tg_prompt
            << " tokens; timed runs per test: " << a.repetitions << " (after 1 warm-up)\n"
            << "int8/int4 weights: int8 activations " << int8_activations_name() << " (DSV3_INT8_ACT), int16 activations "
            << (int16_activations() ? "on" : "off") << " for the other decode rows (DSV3_INT16_ACT)\n"
            << "weights in memory: " << residency_name(model->checkpoint().residency())
            << " (DSV3_WEIGHTS_MEMORY=auto|mmap|copy; copied = private transparent huge pages)\n";
}

}  // namespace

void add_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Prefill and decode speed (llama-bench style)");
  auto a = std::make_shared<BenchArgs>();
  cmd->add_option("--model", a->model, "Hugging Face model folder (required)");
  cmd->add_option("-p,--n-prompt", a->prompts, "Prompt lengths to prefill, comma-separated; 0: no prefill test (default 512)")
      ->delimiter(',');
  cmd->add_option("-n,--n-gen", a->gens, "Token counts to decode, comma-separated; 0: no decode test (default 128)")->delimiter(',');
  cmd->add_option("-t,--threads", a->threads, "Threads (overrides DSV3_THREADS; default: DSV3_THREADS or all cores)");
  cmd->add_option("-r,--repetitions", a->repetitions, "Timed runs per test (default 5)");
  cmd->add_option("--tg-prompt", a->tg_prompt, "Prompt tokens prefilled before each tg run (default 8)");
  cmd->add_option("--seed", a->seed, "Seed of the random token ids (default 42)");
  cmd->add_flag("--json", a->json, "Print a JSON array, one object per test");
  add_kv_cache_option(cmd, a->kv_cache);
  cmd->require_subcommand(0, 1);
  add_bench_serve(*cmd);
  cmd->callback([a, cmd] {
    if (cmd->got_subcommand("serve")) return;  // `dsv3 bench serve` ran its own callback
    DSV3_CHECK(!a->model.empty(), "bench: --model is required");
    run(*a);
  });
}

DSV3_COMMAND(46, add_bench);

}  // namespace dsv3::cli
