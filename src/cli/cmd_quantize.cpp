// dsv3 quantize --model DIR --out DIR --type int8|int4|fp8 [--group N] [--keep REGEX ...]
//   [--keep-attention] [--quantize-head] [--force]: block-wise weight quantisation
// (policy and formats: eval/quantize_checkpoint.h, kernels/quant.h). Prints one JSON line.
#include <chrono>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "eval/quantize_checkpoint.h"

namespace dsv3::cli {

namespace {

struct QuantizeArgs {
  std::string model, out;
  QuantizeOptions opt;
};

void run(const QuantizeArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  const QuantizeReport r = quantize_checkpoint(a.model, a.out, a.opt);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << nlohmann::json{{"out", a.out},
                              {"type", a.opt.type},
                              {"group", a.opt.group},
                              {"quantized_tensors", r.quantized},
                              {"kept_tensors", r.kept},
                              {"bytes_in", r.bytes_in},
                              {"bytes_out", r.bytes_out},
                              {"shards", r.shards},
                              {"seconds", secs}}
                   .dump()
            << "\n";
}

}  // namespace

void add_quantize(CLI::App& app) {
  auto* cmd = app.add_subcommand("quantize", "Quantise a checkpoint's linear weights to int8, int4 or fp8 (block-wise scales)");
  auto a = std::make_shared<QuantizeArgs>();
  cmd->add_option("--model", a->model, "Input model folder (bf16 or FP8)")->required();
  cmd->add_option("--out", a->out, "Output folder (written atomically)")->required();
  cmd->add_option("--type", a->opt.type, "int8 | int4 | fp8")->required()->check(CLI::IsMember({"int8", "int4", "fp8"}));
  cmd->add_option("--group", a->opt.group,
                  "Weights per scale along the input dim (int8/int4: a multiple of 32; fp8: square block side)")
      ->capture_default_str();
  cmd->add_option("--keep", a->opt.keep, "Keep tensors whose name matches this regex at their precision (repeatable)");
  cmd->add_flag("--keep-attention", a->opt.keep_attention, "Keep all self_attn projections at their precision");
  cmd->add_flag("--quantize-head", a->opt.quantize_head, "Also quantise lm_head (kept by default)");
  cmd->add_flag("--force", a->opt.force, "Replace an existing --out folder");
  cmd->callback([a] { run(*a); });
}

DSV3_COMMAND(50, add_quantize);

}  // namespace dsv3::cli
