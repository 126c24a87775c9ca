// dsv3 eval ppl --model DIR --file TEXT [--ctx N] [--stride S] [--max-tokens N] [--tokenizer DIR] [--decode]
//               [--kv-cache f32|fp8]
// dsv3 eval kl  --model DIR --ref DIR --file TEXT [same options]   (--kv-cache: --model's cache;
//               --ref always runs with an f32 cache, so --ref = --model measures the cache format)
// Perplexity of a model on a text file, and mean KL(ref ‖ model) of next-token
// distributions with top-1 agreement (eval/perplexity.h); one JSON object on stdout.
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "core/error.h"
#include "eval/perplexity.h"
#include "tokenizer/tokenizer.h"

namespace dsv3::cli {

namespace {

struct EvalArgs {
  std::string model, ref, file, tokenizer;
  int64_t ctx = 512, stride = 0, max_tokens = 0;
  bool decode = false;
  LatentFormat kv_cache = LatentFormat::kF32;
  EvalMode mode() const { return decode ? EvalMode::kDecode : EvalMode::kPrefill; }
};

std::vector<int32_t> read_ids(const EvalArgs& a) {
  std::ifstream in(a.file, std::ios::binary);
  DSV3_CHECK(in, "cannot read --file ", a.file);
  std::stringstream ss;
  ss << in.rdbuf();
  const Tokenizer tok = Tokenizer::load(a.tokenizer.empty() ? a.model : a.tokenizer);
  std::vector<int32_t> ids = tok.encode(ss.str());
  DSV3_CHECK(a.max_tokens >= 0, "--max-tokens must not be negative");
  if (a.max_tokens > 0 && int64_t(ids.size()) > a.max_tokens) ids.resize(size_t(a.max_tokens));
  return ids;
}

int64_t stride_of(const EvalArgs& a) { return a.stride > 0 ? a.stride : std::max<int64_t>(1, a.ctx / 2); }

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

nlohmann::json common(const EvalArgs& a, int64_t text_tokens) {
  return {{"model", a.model}, {"file", a.file},           {"ctx", a.ctx},
          {"stride", stride_of(a)}, {"text_tokens", text_tokens}, {"mode", a.decode ? "decode" : "prefill"},
          {"kv_cache", latent_format_name(a.kv_cache)}};
}

void run_ppl(const EvalArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<int32_t> ids = read_ids(a);
  auto model = Model::load(a.model);
  const PerplexityResult r = perplexity(*model, ids, a.ctx, stride_of(a), a.mode(), a.kv_cache);
  nlohmann::json j = common(a, int64_t(ids.size()));
  j.update({{"tokens", r.tokens}, {"windows", r.windows}, {"nll", r.nll}, {"ppl", r.ppl}, {"seconds", seconds_since(t0)}});
  std::cout << j.dump() << "\n";
}

void run_kl(const EvalArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<int32_t> ids = read_ids(a);
  auto model = Model::load(a.model);
  auto ref = Model::load(a.ref);
  const KlResult r = kl_divergence(*model, *ref, ids, a.ctx, stride_of(a), a.mode(), a.kv_cache);
  nlohmann::json j = common(a, int64_t(ids.size()));
  j.update({{"ref", a.ref},
            {"tokens", r.tokens},
            {"windows", r.windows},
            {"kl", r.kl},
            {"kl_max", r.kl_max},
            {"top1_agree", r.top1_agree},
            {"nll", r.model.nll},
            {"ppl", r.model.ppl},
            {"ref_nll", r.ref.nll},
            {"ref_ppl", r.ref.ppl},
            {"ppl_increase", r.model.ppl / r.ref.ppl - 1.0},
            {"seconds", seconds_since(t0)}});
  std::cout << j.dump() << "\n";
}

void add_common(CLI::App* cmd, EvalArgs& a) {
  cmd->add_option("--model", a.model, "Model folder")->required();
  cmd->add_option("--file", a.file, "Text file to evaluate on")->required();
  cmd->add_option("--ctx", a.ctx, "Window length in tokens")->capture_default_str();
  cmd->add_option("--stride", a.stride, "Window step (default ctx/2; tokens before it are context only)");
  cmd->add_option("--max-tokens", a.max_tokens, "Use only the first N tokens of the text (0: all)");
  cmd->add_option("--tokenizer", a.tokenizer, "Folder with tokenizer.json (default: --model)");
  cmd->add_flag("--decode", a.decode, "Feed tokens one at a time through the cache (the generation path) instead of one prefill");
  add_kv_cache_option(cmd, a.kv_cache);
}

}  // namespace

void add_eval(CLI::App& app) {
  auto* eval = app.add_subcommand("eval", "Accuracy: perplexity on a text, KL divergence against a reference model");
  eval->require_subcommand(1);
  auto ppl_args = std::make_shared<EvalArgs>();
  auto* ppl = eval->add_subcommand("ppl", "Perplexity over a text file (sliding windows)");
  add_common(ppl, *ppl_args);
  ppl->callback([ppl_args] { run_ppl(*ppl_args); });
  auto kl_args = std::make_shared<EvalArgs>();
  auto* kl = eval->add_subcommand("kl", "Mean KL(ref || model) of next-token distributions, top-1 agreement");
  add_common(kl, *kl_args);
  kl->add_option("--ref", kl_args->ref, "Reference model folder (e.g. the unquantised one)")->required();
  kl->callback([kl_args] { run_kl(*kl_args); });
}

DSV3_COMMAND(51, add_eval);

}  // namespace dsv3::cli
