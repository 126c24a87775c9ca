// dsv3 bench serve --model DIR [--scenario chat] [-c 1,16] [--requests N] [-t THREADS] [--json]
// Serving throughput and latency percentiles on the continuous-batching engine (issue 3/5).
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/matmul.h"
#include "runtime/serve_bench.h"

namespace dsv3::cli {

namespace {

struct Args {
  std::string model, scenario = "chat";
  std::vector<int64_t> concurrency{1, 16};
  int64_t requests = 0, cache_mb = 2048, block_size = 16, max_batch_tokens = 256;
  int threads = 0;
  uint64_t seed = 42;
  bool json = false;
  LatentFormat kv_cache = LatentFormat::kF32;
  std::string speculative;
  int64_t draft = 2;
};

std::string ms(double s) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", s * 1e3);
  return b;
}

void run(const Args& a) {
  DSV3_CHECK(a.threads >= 0, "-t must be >= 1 (0: the default), got ", a.threads);
  DSV3_CHECK(a.cache_mb > 0, "--cache-mb must be positive");
  use_threads(a.threads);
  find_serve_scenario(a.scenario);  // fail before loading the model
  auto model = Model::load(a.model);
  nlohmann::json out = nlohmann::json::array();
  if (!a.json)
    std::cout << "| scenario | conc | reqs | out tok/s | req/s | TTFT p50/p90/p99 ms | ITL p50/p90/p99 ms | preempt |\n"
              << "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (int64_t c : a.concurrency) {
    ServeBenchOptions o;
    o.scenario = a.scenario;
    o.concurrency = c;
    o.requests = a.requests;
    o.seed = a.seed;
    o.engine.cache_bytes = a.cache_mb << 20;
    o.engine.block_size = a.block_size;
    o.engine.max_batch_tokens = a.max_batch_tokens;
    o.engine.kv_cache = a.kv_cache;
    o.engine.speculative_draft = speculative_draft_of(a.speculative, a.draft);
    const ServeBenchResult r = run_serve_bench(*model, o);
    if (a.json) {
      auto pct = [](const Percentiles& p) {
        return nlohmann::json{{"p50_ms", p.p50 * 1e3}, {"p90_ms", p.p90 * 1e3}, {"p99_ms", p.p99 * 1e3},
                              {"mean_ms", p.mean * 1e3}};
      };
      out.push_back({{"scenario", r.scenario},
                     {"concurrency", r.concurrency},
                     {"requests", r.requests},
                     {"prompt_tokens", r.prompt_tokens},
                     {"output_tokens", r.output_tokens},
                     {"seconds", r.seconds},
                     {"output_tokens_per_s", r.output_tokens_per_s},
                     {"requests_per_s", r.requests_per_s},
                     {"ttft", pct(r.ttft_s)},
                     {"itl", pct(r.itl_s)},
                     {"e2e", pct(r.e2e_s)},
                     {"preemptions", r.preemptions},
                     {"speculative_draft", o.engine.speculative_draft},
                     {"draft_tokens", r.spec_drafted},
                     {"accepted_draft_tokens", r.spec_accepted},
                     {"kv_cache", latent_format_name(a.kv_cache)},
                     {"threads", ThreadPool::global().size()},
                     {"isa", matmul_isa()}});
    } else {
      char tps[32], rps[32];
      std::snprintf(tps, sizeof tps, "%.2f", r.output_tokens_per_s);
      std::snprintf(rps, sizeof rps, "%.3f", r.requests_per_s);
      std::cout << "| " << r.scenario << " | " << r.concurrency << " | " << r.requests << " | " << tps << " | " << rps
                << " | " << ms(r.ttft_s.p50) << " / " << ms(r.ttft_s.p90) << " / " << ms(r.ttft_s.p99) << " | "
                << ms(r.itl_s.p50) << " / " << ms(r.itl_s.p90) << " / " << ms(r.itl_s.p99) << " | " << r.preemptions
                << " |" << std::endl;
      if (r.spec_drafted > 0)
        std::cerr << "speculative: " << r.spec_accepted << " of " << r.spec_drafted << " drafts accepted ("
                  << 100.0 * double(r.spec_accepted) / double(r.spec_drafted) << " %)" << std::endl;
    }
  }
  if (a.json) std::cout << out.dump(2) << "\n";
}

}  // namespace

void add_bench_serve(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("serve", "Serving scenarios: throughput, time to first token, inter-token latency");
  auto a = std::make_shared<Args>();
  std::string names;
  for (const ServeScenario& s : serve_scenarios()) names += "\n  " + s.name + ": " + s.description;
  cmd->add_option("--model", a->model, "Hugging Face model folder")->required();
  cmd->add_option("--scenario", a->scenario, "Input/output length mix (default chat):" + names);
  cmd->add_option("-c,--concurrency", a->concurrency, "Concurrent clients, comma-separated (default 1,16)")
      ->delimiter(',');
  cmd->add_option("--requests", a->requests, "Requests per concurrency level (default max(4, 2 x concurrency))");
  cmd->add_option("-t,--threads", a->threads, "Threads (default: DSV3_THREADS or all cores)");
  cmd->add_option("--cache-mb", a->cache_mb, "Latent cache size in MiB (default 2048)");
  cmd->add_option("--block-size", a->block_size, "Tokens per cache block (default 16)");
  add_kv_cache_option(cmd, a->kv_cache);
  add_speculative_options(cmd, a->speculative, a->draft);
  cmd->add_option("--max-batch-tokens", a->max_batch_tokens, "Tokens per engine step (default 256)");
  cmd->add_option("--seed", a->seed, "Seed of the random prompts (default 42)");
  cmd->add_flag("--json", a->json, "Print a JSON array, one object per concurrency level");
  cmd->callback([a] { run(*a); });
}

}  // namespace dsv3::cli
