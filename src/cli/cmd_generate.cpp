// dsv3 generate --model DIR (--prompt TEXT | --ids LIST) [-n N] [--temperature T] [--top-k K]
//               [--top-p P] [--min-p P] [--seed S] [--print-ids] [--ignore-eos] [--kv-cache f32|fp8]
//               [--speculative mtp [--draft N] [--relaxed-topk N --relaxed-delta D]]
// Incremental decoding through the latent cache. Text streams to stdout as it is decoded
// (never a broken UTF-8 sequence); --print-ids ends the output with the JSON list of ids.
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "core/error.h"
#include "runtime/generator.h"
#include "tokenizer/tokenizer.h"

namespace dsv3::cli {

namespace {

struct GenerateArgs {
  std::string model, prompt, ids;
  int64_t n = 16;
  SamplingOverrides sampling;
  bool print_ids = false, ignore_eos = false, stats = false;
  std::string speculative;
  int64_t draft = 2;
  int64_t relaxed_topk = 1;
  float relaxed_delta = 0.0f;
  LatentFormat kv_cache = LatentFormat::kF32;
};

void run(const GenerateArgs& a) {
  DSV3_CHECK(a.prompt.empty() != a.ids.empty(), "give exactly one of --prompt and --ids");
  DSV3_CHECK(a.n >= 0, "-n must be >= 0, got ", a.n);
  const std::string dir = model_dir_or_default(a.model);
  auto model = Model::load(dir);
  std::unique_ptr<Tokenizer> tok;
  if (std::filesystem::exists(dir + "/tokenizer.json")) tok = std::make_unique<Tokenizer>(Tokenizer::load(dir));
  GenerateRequest req;
  if (!a.prompt.empty()) {
    DSV3_CHECK(tok, "--prompt needs a tokenizer, but ", dir, "/tokenizer.json does not exist; use --ids");
    DSV3_CHECK(is_valid_utf8(a.prompt), "--prompt is not valid UTF-8");
    req.prompt = tok->encode(a.prompt, true);
  } else {
    req.prompt = parse_id_list(a.ids);
  }
  req.max_new_tokens = a.n;
  req.kv_cache = a.kv_cache;
  req.speculative_draft = speculative_draft_of(a.speculative, a.draft);
  DSV3_CHECK(a.relaxed_topk >= 1, "--relaxed-topk must be >= 1, got ", a.relaxed_topk);
  DSV3_CHECK(a.relaxed_topk > 1 || a.relaxed_delta == 0.0f, "--relaxed-delta needs --relaxed-topk N with N > 1");
  if (a.relaxed_topk > 1) {
    DSV3_CHECK(req.speculative_draft > 0, "--relaxed-topk needs --speculative mtp");
    DSV3_CHECK(tok, "--relaxed-topk needs the tokenizer's <think> and </think> tokens, but ", dir,
               "/tokenizer.json does not exist");
    const auto begin = tok->token_to_id("<think>"), end = tok->token_to_id("</think>");
    DSV3_CHECK(begin && end, "--relaxed-topk: the tokenizer has no <think> / </think> tokens (a reasoning model's)");
    req.relaxed_topk = a.relaxed_topk;
    req.relaxed_delta = a.relaxed_delta;
    req.think_begin = *begin;
    req.think_end = *end;
  }
  req.sampling = resolve_sampling(dir, a.sampling);
  if (!a.ignore_eos) {
    if (model->config().eos_token_id) req.stop_ids.push_back(int32_t(*model->config().eos_token_id));
    else if (tok && tok->eos_id()) req.stop_ids.push_back(*tok->eos_id());
  }
  std::unique_ptr<StreamDecoder> stream;
  if (tok) stream = std::make_unique<StreamDecoder>(*tok, true);
  GenerateResult res = generate(*model, req, [&](int32_t id) {
    if (stream) {
      std::cout << stream->push(id);
      std::cout.flush();
    }
    return true;
  });
  if (stream) std::cout << stream->flush() << "\n";
  if (a.print_ids || !tok) std::cout << nlohmann::json(res.tokens).dump() << "\n";
  if (a.stats) {
    const double pp = res.prefill_seconds > 0 ? double(req.prompt.size()) / res.prefill_seconds : 0;
    const double tg = res.decode_seconds > 0 && res.tokens.size() > 1 ? double(res.tokens.size() - 1) / res.decode_seconds : 0;
    std::cerr << "prompt " << req.prompt.size() << " tokens, " << pp << " tok/s; generated " << res.tokens.size()
              << " tokens, " << tg << " tok/s; finish " << res.finish_reason << "\n";
    if (res.verify_steps > 0) {
      std::cerr << "speculative: drafted " << res.drafted << ", accepted " << res.accepted << " ("
                << (res.drafted ? 100.0 * double(res.accepted) / double(res.drafted) : 0.0) << "%), "
                << double(res.tokens.size()) / double(res.verify_steps) << " tokens per verification";
      if (req.relaxed_topk > 1) std::cerr << "; " << res.accepted_relaxed << " of them by the relaxed rule";
      std::cerr << "\n";
    }
  }
}

}  // namespace

void add_generate(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Generate text from a prompt");
  auto a = std::make_shared<GenerateArgs>();
  cmd->add_option("--model", a->model, "Hugging Face model folder (default: the embedded models/default)");
  cmd->add_option("--prompt", a->prompt, "Prompt text (encoded with the model's tokenizer, BOS added)");
  cmd->add_option("--ids", a->ids, "Prompt as comma-separated token ids");
  cmd->add_option("-n,--max-new-tokens", a->n, "Tokens to generate (default 16)");
  add_sampling_options(cmd, a->sampling);
  cmd->add_flag("--print-ids", a->print_ids, "End with one line holding the JSON list of generated ids");
  cmd->add_flag("--ignore-eos", a->ignore_eos, "Do not stop at the end-of-sequence token");
  cmd->add_flag("--stats", a->stats, "Print prefill/decode speed to stderr");
  add_speculative_options(cmd, a->speculative, a->draft);
  cmd->add_option("--relaxed-topk", a->relaxed_topk,
                  "Greedy speculation inside <think>: also accept a draft among the target's top N (default 1: exact)");
  cmd->add_option("--relaxed-delta", a->relaxed_delta,
                  "With --relaxed-topk: the draft's probability must be >= p(top-1) - delta (default 0)");
  add_kv_cache_option(cmd, a->kv_cache);
  cmd->callback([a] { run(*a); });
}

DSV3_COMMAND(10, add_generate);

}  // namespace dsv3::cli
