// dsv3 grad --model DIR --ids LIST --out grads.safetensors [--mtp-lambda L] [--aux-alpha A]
// One forward and backward of the training loss (DESIGN.md contract): mean next-token CE over
// positions + λ·(mean over MTP modules of their mean CE) + α·sequence-wise balance loss (summed
// over MoE layers, MTP blocks included). Writes the float32 gradient of every parameter under
// its Hugging Face name (e_score_correction_bias included, always zero: it is not trained by
// gradients, report 2.1.2); prints a JSON line with the loss parts, then the loss as the last line.
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "core/error.h"
#include "train/train_model.h"

namespace dsv3::cli {

namespace {

struct GradArgs {
  std::string model, ids, out;
  double mtp_lambda = 0.0, aux_alpha = 0.0;
};

void run(const GradArgs& a) {
  const std::vector<int32_t> ids = parse_id_list(a.ids);
  DSV3_CHECK(ids.size() >= 2, "--ids needs at least 2 tokens (one predicted position), got ", ids.size());
  auto model = Model::load(a.model);
  const ModelConfig cfg = training_config(*model);
  const ParamSet<float> params = load_params<float>(*model);
  model.reset();  // the f32 copy is all training needs
  ParamSet<float> grads(cfg);
  TrainModel<float> tm(cfg);
  const LossValues loss = tm.forward(params, ids.data(), 1, int64_t(ids.size()), {a.mtp_lambda, a.aux_alpha});
  tm.backward(params, grads);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.9g", loss.total);
  save_params_f32(grads, a.out, {{"loss", buf}});
  std::cout << nlohmann::json{{"tokens", ids.size()}, {"ce", loss.ce}, {"mtp", loss.mtp}, {"balance", loss.balance},
                              {"mtp_lambda", a.mtp_lambda}, {"aux_alpha", a.aux_alpha}, {"out", a.out}}
                   .dump()
            << "\n";
  std::cout << buf << "\n";
}

}  // namespace

void add_grad(CLI::App& app) {
  auto* cmd = app.add_subcommand("grad", "One forward+backward of the training loss; float32 gradients as safetensors");
  auto a = std::make_shared<GradArgs>();
  cmd->add_option("--model", a->model, "Hugging Face model folder")->required();
  cmd->add_option("--ids", a->ids, "Comma-separated token ids (one sequence)")->required();
  cmd->add_option("--out", a->out, "Output .safetensors of gradients")->required();
  cmd->add_option("--mtp-lambda", a->mtp_lambda, "MTP loss weight λ (default 0)");
  cmd->add_option("--aux-alpha", a->aux_alpha, "Sequence-wise balance loss weight α (default 0)");
  cmd->callback([a] { run(*a); });
}

DSV3_COMMAND(35, add_grad);

}  // namespace dsv3::cli
