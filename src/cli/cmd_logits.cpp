// dsv3 logits --model DIR --ids 1,2,3 --out main.npy [--mtp-out mtp.npy] [--kv-cache f32|fp8]
// One full causal forward: float32 [T, vocab] next-token logits at every position; with
// --mtp-out, [T-1, vocab] of MTP module 1 (row i predicts token i+2 from tokens 0..i+1).
#include <iostream>
#include <memory>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "core/error.h"
#include "format/npy.h"
#include "model/transformer.h"

namespace dsv3::cli {

namespace {

struct LogitsArgs {
  std::string model, ids, out, mtp_out, path = "naive";
  LatentFormat kv_cache = LatentFormat::kF32;
};

void run(const LogitsArgs& a) {
  const std::vector<int32_t> ids = parse_id_list(a.ids);
  auto model = Model::load(a.model);
  const int64_t T = int64_t(ids.size()), D = model->hidden_size(), V = model->vocab_size();
  DSV3_CHECK(T <= model->config().max_position_embeddings || model->config().max_position_embeddings == 0,
             "--ids has ", T, " tokens but the model's context is ", model->config().max_position_embeddings);
  DSV3_CHECK(a.mtp_out.empty() || model->num_mtp() > 0, "--mtp-out: the model has no MTP module (num_nextn_predict_layers = 0)");
  MlaPath path = a.path == "absorbed" ? MlaPath::kAbsorbed : MlaPath::kNaive;
  DSV3_CHECK(a.path == "naive" || a.path == "absorbed", "--attention must be naive or absorbed");
  ContiguousLatentCache cache(model->cache_layers(), model->cache_layout(a.kv_cache), T);
  const std::vector<LatentRows> rows = cache.layers();
  std::vector<float> hidden(size_t(T * D)), logits(size_t(T * V));
  model->forward(ids.data(), T, 0, rows, hidden.data(), path);
  model->logits(hidden.data(), T, logits.data());
  write_npy_f32(a.out, logits.data(), {T, V});
  if (!a.mtp_out.empty()) {
    const int64_t M = T - 1;
    std::vector<float> h_out(size_t(std::max<int64_t>(M, 1) * D)), mtp_logits(size_t(std::max<int64_t>(M, 1) * V));
    if (M > 0) model->mtp_forward(1, hidden.data(), ids.data() + 1, M, 0, rows, h_out.data(), mtp_logits.data(), path);
    write_npy_f32(a.mtp_out, mtp_logits.data(), {M, V});
  }
  std::cout << nlohmann::json{{"tokens", T}, {"vocab", V}, {"out", a.out}}.dump() << "\n";
}

}  // namespace

void add_logits(CLI::App& app) {
  auto* cmd = app.add_subcommand("logits", "Next-token logits at every position as a float32 .npy");
  auto a = std::make_shared<LogitsArgs>();
  cmd->add_option("--model", a->model, "Hugging Face model folder")->required();
  cmd->add_option("--ids", a->ids, "Comma-separated token ids")->required();
  cmd->add_option("--out", a->out, "Output .npy [T, vocab]")->required();
  cmd->add_option("--mtp-out", a->mtp_out, "Output .npy [T-1, vocab] of MTP module 1");
  cmd->add_option("--attention", a->path, "MLA path: naive (default) or absorbed");
  add_kv_cache_option(cmd, a->kv_cache);
  cmd->callback([a] { run(*a); });
}

DSV3_COMMAND(43, add_logits);

}  // namespace dsv3::cli
