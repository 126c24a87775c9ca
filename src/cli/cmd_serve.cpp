// dsv3 serve --model DIR [--host 127.0.0.1] [--port 8000] [--api-key KEY] [--threads N]
//            [--cache-mb M] [--block-size B] [--max-batch-tokens N] [--max-running N]
//            [--max-queue N] [--max-body-bytes N] [--http-threads N] [--served-model-name NAME]
// OpenAI-compatible HTTP server over the continuous-batching engine (issue 3). Prints the
// memory plan, then "listening on http://HOST:PORT" on stderr; SIGINT/SIGTERM stop it.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <memory>
#include <thread>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "runtime/engine.h"
#include "runtime/generator.h"
#include "server/http_server.h"
#include "tokenizer/tokenizer.h"

namespace dsv3::cli {

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

struct ServeArgs {
  std::string model, host = "127.0.0.1", api_key, served_name;
  int port = 8000, threads = 0, http_threads = 0;
  int64_t cache_mb = 2048, block_size = 16, max_batch_tokens = 256, max_running = 64, max_queue = 256;
  int64_t max_body_bytes = int64_t(8) << 20;
  LatentFormat kv_cache = LatentFormat::kF32;
  std::string speculative;
  int64_t draft = 2;
};

void serve(const ServeArgs& a) {
  DSV3_CHECK(a.port >= 0 && a.port <= 65535, "--port must be in [0, 65535], got ", a.port);
  DSV3_CHECK(a.threads >= 0, "--threads must be >= 1 (0: the default), got ", a.threads);
  DSV3_CHECK(a.cache_mb > 0, "--cache-mb must be positive, got ", a.cache_mb);
  DSV3_CHECK(a.max_body_bytes > 0, "--max-body-bytes must be positive, got ", a.max_body_bytes);
  DSV3_CHECK(a.max_queue >= 1, "--max-queue must be >= 1, got ", a.max_queue);
  DSV3_CHECK(std::filesystem::exists(a.model + "/tokenizer.json"), "serve needs a tokenizer: ", a.model,
             "/tokenizer.json does not exist");

  // SIGINT/SIGTERM only set a flag (any thread may receive them, and worker threads may exist
  // already); a watcher thread turns it into a clean stop.
  struct sigaction sa {};
  sa.sa_handler = [](int sig) { g_stop_signal = sig; };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a vanished client is an error return, not a process kill

  use_threads(a.threads);
  auto model = Model::load(a.model);
  const Tokenizer tok = Tokenizer::load(a.model);
  std::unique_ptr<ChatTemplate> tmpl;
  if (!tok.chat_template().empty()) tmpl = std::make_unique<ChatTemplate>(tok.chat_template());

  EngineOptions eo;
  eo.block_size = a.block_size;
  eo.cache_bytes = a.cache_mb << 20;
  eo.max_batch_tokens = a.max_batch_tokens;
  eo.max_running = a.max_running;
  eo.max_waiting = a.max_queue;
  eo.kv_cache = a.kv_cache;
  eo.speculative_draft = speculative_draft_of(a.speculative, a.draft);
  Engine engine(*model, eo);
  const MemoryPlan plan = engine.plan();
  std::cerr << plan.to_string() << std::endl;

  server::ServiceConfig cfg;
  cfg.model_name = a.served_name;
  if (cfg.model_name.empty()) cfg.model_name = std::filesystem::path(a.model).lexically_normal().filename().string();
  if (cfg.model_name.empty()) cfg.model_name = std::filesystem::path(a.model).lexically_normal().parent_path().filename().string();
  cfg.context = std::min(context_length(*model), plan.cache_blocks * plan.block_size);
  cfg.sampling_defaults = resolve_sampling(a.model, {});
  if (model->config().eos_token_id) cfg.eos_ids.push_back(int32_t(*model->config().eos_token_id));
  else if (tok.eos_id()) cfg.eos_ids.push_back(*tok.eos_id());
  // R1 and V3.1 templates use <think>; their answers get reasoning_content split off.
  cfg.reasoning_model = tok.chat_template().find("think>") != std::string::npos;
  server::CompletionService service(engine, tok, tmpl.get(), cfg);
  server::ServerMetrics metrics;

  server::ServerOptions so;
  so.host = a.host;
  so.port = a.port;
  so.api_key = a.api_key;
  so.max_body_bytes = size_t(a.max_body_bytes);
  // Every running stream holds a connection thread; keep room for queued and idle clients.
  so.http_threads = a.http_threads > 0 ? a.http_threads : int(std::clamp<int64_t>(a.max_running + 32, 16, 512));
  server::HttpServer http(service, metrics, so);
  const int port = http.bind();
  engine.start();

  std::atomic<bool> serving{true};
  std::thread waiter([&] {
    while (serving && g_stop_signal == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (g_stop_signal != 0) http.stop();
  });
  std::cerr << "serving model '" << cfg.model_name << "' (context " << cfg.context << " tokens)"
            << (a.api_key.empty() ? "" : ", API key required") << std::endl;
  std::cerr << "listening on http://" << a.host << ":" << port << std::endl;
  http.run();
  serving = false;
  waiter.join();
  std::cerr << "server stopped" << std::endl;
}

}  // namespace

void add_serve(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server with continuous batching");
  auto a = std::make_shared<ServeArgs>();
  cmd->add_option("--model", a->model, "Hugging Face model folder")->required();
  cmd->add_option("--host", a->host, "Address to bind (default 127.0.0.1)");
  cmd->add_option("--port", a->port, "Port (default 8000; 0 picks a free one)");
  cmd->add_option("--api-key", a->api_key, "Require 'Authorization: Bearer KEY' (except /health)");
  cmd->add_option("--threads", a->threads, "Compute threads (default: DSV3_THREADS or all cores)");
  cmd->add_option("--cache-mb", a->cache_mb, "Latent cache budget in MiB (default 2048)");
  cmd->add_option("--block-size", a->block_size, "Tokens per cache block (default 16)");
  add_kv_cache_option(cmd, a->kv_cache);
  add_speculative_options(cmd, a->speculative, a->draft);
  cmd->add_option("--max-batch-tokens", a->max_batch_tokens, "Tokens per engine step (default 256)");
  cmd->add_option("--max-running", a->max_running, "Sequences in the running batch (default 64)");
  cmd->add_option("--max-queue", a->max_queue, "Waiting requests before 429 (default 256)");
  cmd->add_option("--max-body-bytes", a->max_body_bytes, "Largest request body; larger gets 413 (default 8 MiB)");
  cmd->add_option("--http-threads", a->http_threads, "Connection threads (default max-running + 32)");
  cmd->add_option("--served-model-name", a->served_name, "Model id in the API (default: the folder name)");
  cmd->callback([a] { serve(*a); });
}

DSV3_COMMAND(20, add_serve);

}  // namespace dsv3::cli
