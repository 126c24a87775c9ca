// dsv3 chat --model DIR [--system TEXT] [-n N] [--temperature T] [--top-k K] [--top-p P]
//           [--min-p P] [--seed S]
// Interactive multi-turn chat in the terminal. Each turn renders the whole conversation with
// the model's chat template and runs it through the serving engine, whose prefix cache
// reuses the latent rows of the earlier turns (only the new message is prefilled).
// Output streams as it is decoded; R1-style reasoning (<think> ... </think>) is shown apart
// from the answer and, as DeepSeek's templates expect, left out of the history.
// Commands: /reset (new conversation), /exit (or end of input), /help.
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "core/error.h"
#include "runtime/engine.h"
#include "server/output_pipeline.h"
#include "template/template.h"
#include "tokenizer/tokenizer.h"

namespace dsv3::cli {

namespace {

struct ChatArgs {
  std::string model, system;
  int64_t n = 1024, cache_mb = 1024;
  SamplingOverrides sampling;
  LatentFormat kv_cache = LatentFormat::kF32;
};

// Terminal styling only when stdout is a terminal; piped output stays plain text.
struct Style {
  bool tty = isatty(STDOUT_FILENO) != 0;
  const char* dim() const { return tty ? "\033[2m" : ""; }
  const char* reset() const { return tty ? "\033[0m" : ""; }
};

// Prints reasoning and answer deltas, with one header line for each part.
class TurnPrinter {
 public:
  explicit TurnPrinter(const Style& s) : style_(s) {}
  void print(const server::OutputDelta& d) {
    if (!d.reasoning.empty()) {
      if (!in_reasoning_) {
        std::cout << style_.dim() << "[reasoning]\n";
        in_reasoning_ = true;
        saw_reasoning_ = true;
      }
      std::cout << d.reasoning;
    }
    if (!d.content.empty()) {
      if (in_reasoning_) {
        std::cout << style_.reset() << "\n[answer]\n";
        in_reasoning_ = false;
      }
      std::cout << d.content;
    }
    std::cout.flush();
  }
  void end() {
    if (in_reasoning_) std::cout << style_.reset();
    std::cout << "\n";
    std::cout.flush();
  }

 private:
  const Style& style_;
  bool in_reasoning_ = false, saw_reasoning_ = false;
};

void run(const ChatArgs& a) {
  DSV3_CHECK(a.n >= 1, "-n must be >= 1, got ", a.n);
  const std::string dir = model_dir_or_default(a.model);
  auto model = Model::load(dir);
  DSV3_CHECK(std::filesystem::exists(dir + "/tokenizer.json"), "chat needs a tokenizer, but ", dir,
             "/tokenizer.json does not exist");
  const Tokenizer tok = Tokenizer::load(dir);
  DSV3_CHECK(!tok.chat_template().empty(), dir, "/tokenizer_config.json has no chat_template");
  const ChatTemplate tmpl(tok.chat_template());
  const SamplingParams sampling = resolve_sampling(dir, a.sampling);
  std::vector<int32_t> stop_ids;
  if (model->config().eos_token_id) stop_ids.push_back(int32_t(*model->config().eos_token_id));
  else if (tok.eos_id()) stop_ids.push_back(*tok.eos_id());

  EngineOptions eo;
  eo.cache_bytes = a.cache_mb << 20;
  eo.kv_cache = a.kv_cache;
  Engine engine(*model, eo);
  const Style style;
  const bool interactive = isatty(STDIN_FILENO) != 0;
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  auto reset = [&] {
    messages = nlohmann::ordered_json::array();
    if (!a.system.empty()) messages.push_back({{"role", "system"}, {"content", a.system}});
  };
  reset();
  if (interactive) std::cerr << "dsv3 chat: /reset starts over, /exit quits\n";
  std::string line;
  uint64_t turn = 0;
  while (true) {
    if (interactive) std::cerr << "> " << std::flush;
    if (!std::getline(std::cin, line)) break;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      reset();
      std::cout << "[conversation reset]\n" << std::flush;
      continue;
    }
    if (line == "/help") {
      std::cout << "/reset starts a new conversation, /exit quits\n" << std::flush;
      continue;
    }
    if (line.empty()) continue;
    if (!is_valid_utf8(line)) {
      std::cerr << "dsv3: error: the message is not valid UTF-8; ignored\n";
      continue;
    }
    messages.push_back({{"role", "user"}, {"content", line}});
    nlohmann::ordered_json request{{"messages", messages}, {"add_generation_prompt", true}};
    const std::string prompt = apply_chat_template(tmpl, request, tok.bos_token(), tok.eos_token());
    EngineRequest req;
    req.prompt = tok.encode(prompt, false);  // the template already holds BOS
    req.max_new_tokens = a.n;
    req.sampling = sampling;
    req.sampling.seed = sampling.seed + turn++;
    req.stop_ids = stop_ids;

    server::OutputOptions oo;
    oo.split_reasoning = true;
    oo.starts_in_reasoning = server::prompt_opens_reasoning(prompt);
    server::OutputPipeline pipe(oo);
    StreamDecoder decoder(tok, true);
    TurnPrinter printer(style);
    std::string answer, error;
    auto consume = [&](const server::OutputDelta& d) {
      answer += d.content;
      printer.print(d);
    };
    try {
      engine.submit(std::move(req), [&](const TokenEvent& ev) {
        if (ev.token >= 0) consume(pipe.push(decoder.push(ev.token)));
        if (ev.finished && ev.finish_reason == "error") error = ev.error;
        return true;
      });
      engine.run_until_idle();
    } catch (const Error& e) {
      error = e.what();
    }
    consume(pipe.push(decoder.flush()));
    consume(pipe.finish());
    printer.end();
    if (!error.empty()) {
      std::cerr << "dsv3: error: " << error << "\n";
      messages.erase(messages.size() - 1);  // the turn did not happen
      continue;
    }
    messages.push_back({{"role", "assistant"}, {"content", answer}});
  }
}

}  // namespace

void add_chat(CLI::App& app) {
  auto* cmd = app.add_subcommand("chat", "Interactive multi-turn chat (reads messages from stdin)");
  auto a = std::make_shared<ChatArgs>();
  cmd->add_option("--model", a->model, "Hugging Face model folder (default: the embedded models/default)");
  cmd->add_option("--system", a->system, "System prompt");
  cmd->add_option("-n,--max-tokens", a->n, "Maximum tokens per answer (default 1024)");
  add_sampling_options(cmd, a->sampling);
  cmd->add_option("--cache-mb", a->cache_mb, "Latent cache size in MiB (default 1024)");
  add_kv_cache_option(cmd, a->kv_cache);
  cmd->callback([a] { run(*a); });
}

DSV3_COMMAND(11, add_chat);

}  // namespace dsv3::cli
