#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "format/safetensors.h"
#include "model/transformer.h"
#include "train/adamw.h"
#include "train/bias_update.h"
#include "train/sha256.h"
#include "train/token_shards.h"
#include "train/train_checkpoint.h"
#include "train/train_init.h"
#include "train/train_metrics.h"
#include "train/train_precision.h"

namespace dsv3 {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The model config of a run from scratch: "model" plus the defaults train_config.h lists.
ModelConfig scratch_model_config(const TrainConfig& c, const TokenShards& data) {
  nlohmann::json m = c.model;
  if (!m.contains("architectures")) m["architectures"] = {"DeepseekV3ForCausalLM"};
  if (!m.contains("model_type")) m["model_type"] = "deepseek_v3";
  if (!m.contains("vocab_size")) m["vocab_size"] = data.vocab_size();
  const nlohmann::json& tok = data.manifest().at("tokenizer");
  if (!m.contains("bos_token_id")) m["bos_token_id"] = tok.value("bos_id", nlohmann::json(nullptr));
  if (!m.contains("eos_token_id")) m["eos_token_id"] = data.eos_id();
  if (!m.contains("max_position_embeddings")) m["max_position_embeddings"] = std::max<int64_t>(c.seq_len + 1, 2048);
  return parse_model_config(m.dump(), "training config 'model'");
}

// One flat AdamW span per trained tensor.
std::vector<ParamSpan> optimizer_spans(const ParamSet<float>& p, const ModelConfig& c, bool share_mtp) {
  std::vector<ParamSpan> spans;
  for (size_t i = 0; i < p.size(); ++i) {
    const WeightSpec& s = p.specs()[i];
    if (s.role == WeightRole::kBias) continue;  // moved by bias_update, not by gradients
    if (share_mtp && s.layer >= c.num_hidden_layers && (s.role == WeightRole::kEmbedding || s.role == WeightRole::kHead))
      continue;  // the shared copy: trained through the main tensor
    spans.push_back({s.name, p.offset(i), p.numel(i), default_weight_decay(s.name)});
  }
  return spans;
}

}  // namespace

struct Trainer::State {
  TrainConfig cfg;
  TrainerOptions opt;
  TokenShards data;
  ModelConfig mc;
  std::unique_ptr<ParamSet<float>> master, work, grads;
  std::unique_ptr<TrainModel<float>> tm;
  std::unique_ptr<AdamW> adamw;
  TrainState ts;
  bool resumed = false;
  std::vector<StepRecord> history;
  // MoE layers in TrainModel's forward order (main layers, then MTP blocks) and their biases.
  std::vector<int64_t> moe_layers;
  std::vector<float*> moe_bias;  // into master; null for layers without e_score_correction_bias
  // Shared MTP copies: (copy, main) tensor pairs.
  std::vector<std::pair<size_t, size_t>> mtp_copies;
  std::unique_ptr<MetricsLog> metrics;
  std::unique_ptr<ProgressLine> progress;

  State(const TrainConfig& c, const TrainerOptions& o) : cfg(c), opt(o), data(TokenShards::open(c.data)) {}
  const ParamSet<float>& working() const { return cfg.precision == Precision::kFp32 ? *master : *work; }
};

Trainer::Trainer(const TrainConfig& cfg, const TrainerOptions& opt) : s_(std::make_unique<State>(cfg, opt)) {
  State& s = *s_;
  // The tokenizer must be the one the data was encoded with.
  const std::string tok_json = cfg.tokenizer + "/tokenizer.json";
  DSV3_CHECK(fs::exists(tok_json), "tokenizer folder ", cfg.tokenizer, " has no tokenizer.json");
  const std::string want = s.data.manifest().at("tokenizer").at("files_sha256").value("tokenizer.json", "");
  DSV3_CHECK(want.empty() || sha256_file(tok_json) == want, tok_json, " is not the tokenizer ", cfg.data,
             " was prepared with (sha256 differs)");
  DSV3_CHECK(s.data.train().size() > cfg.seq_len, cfg.data, ": the train split has ", s.data.train().size(),
             " tokens, fewer than seq_len + 1 = ", cfg.seq_len + 1);

  // Model: from scratch or from a model folder.
  if (cfg.init_from.empty()) {
    s.mc = scratch_model_config(cfg, s.data);
    s.master = std::make_unique<ParamSet<float>>(s.mc);
    init_train_params(*s.master, cfg.model.value("initializer_range", 0.02), cfg.seed);
  } else {
    auto model = Model::load(cfg.init_from, ResidencyPolicy::kMapped);  // copied into f32 parameters
    s.mc = training_config(*model);
    s.master = std::make_unique<ParamSet<float>>(load_params<float>(*model));
  }
  DSV3_CHECK(s.mc.vocab_size >= s.data.vocab_size(), "model vocab_size ", s.mc.vocab_size,
             " is smaller than the data's tokenizer vocabulary ", s.data.vocab_size());
  DSV3_CHECK(s.mc.max_position_embeddings == 0 || cfg.seq_len + 1 <= s.mc.max_position_embeddings, "seq_len + 1 = ",
             cfg.seq_len + 1, " exceeds max_position_embeddings ", s.mc.max_position_embeddings);
  s.grads = std::make_unique<ParamSet<float>>(s.mc);
  if (cfg.precision != Precision::kFp32) s.work = std::make_unique<ParamSet<float>>(s.mc);
  s.tm = std::make_unique<TrainModel<float>>(s.mc, /*fp8_activations=*/cfg.precision == Precision::kFp8);
  s.adamw = std::make_unique<AdamW>(cfg.adamw, optimizer_spans(*s.master, s.mc, cfg.share_mtp_embeddings));

  const int64_t L = s.mc.num_hidden_layers, Dm = s.mc.num_nextn_predict_layers;
  for (int64_t l = 0; l < L + Dm; ++l)
    if (s.mc.is_moe_layer(l)) {
      s.moe_layers.push_back(l);
      s.moe_bias.push_back(s.master->find(layer_prefix(l) + "mlp.gate.e_score_correction_bias"));
    }
  if (cfg.share_mtp_embeddings)
    for (size_t i = 0; i < s.master->size(); ++i) {
      const WeightSpec& w = s.master->specs()[i];
      if (w.layer < L) continue;
      for (size_t j = 0; j < s.master->size(); ++j) {
        const std::string& n = s.master->specs()[j].name;
        if ((w.role == WeightRole::kEmbedding && n == "model.embed_tokens.weight") ||
            (w.role == WeightRole::kHead && n == (s.mc.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight")))
          s.mtp_copies.push_back({i, j});
      }
    }
  for (auto [copy, main] : s.mtp_copies)  // start shared (init draws them independently)
    std::copy(s.master->tensor(main), s.master->tensor(main) + s.master->numel(main), s.master->tensor(copy));

  // Resume from OUT/latest.
  std::error_code ec;
  fs::create_directories(cfg.out_dir, ec);
  DSV3_CHECK(!ec, "cannot create out_dir ", cfg.out_dir, ": ", ec.message());
  s.ts.seed = cfg.seed;
  s.ts.config_hash = train_config_hash(cfg);
  const std::string latest = latest_checkpoint(cfg.out_dir);
  DSV3_CHECK(!latest.empty() || !opt.require_resume, "--resume: ", cfg.out_dir, " has no checkpoint (no ", cfg.out_dir,
             "/latest)");
  if (!latest.empty()) {
    LoadedTrainState ld = load_train_checkpoint(latest, *s.master);
    DSV3_CHECK(ld.state.config_hash == s.ts.config_hash, "cannot resume from ", latest,
               ": it was trained with a different configuration (config hash ", ld.state.config_hash.substr(0, 12),
               " vs ", s.ts.config_hash.substr(0, 12), "); use a new out_dir");
    s.adamw->load_state(ld.optimizer);
    s.ts = ld.state;
    s.resumed = true;
  }
  clean_out_dir(cfg.out_dir, s.resumed ? s.ts.step : -1);
  if (s.resumed) prune_checkpoints(cfg.out_dir, cfg.keep_checkpoints, s.ts.step);
  s.metrics = std::make_unique<MetricsLog>(cfg.out_dir + "/metrics.jsonl", s.resumed ? s.ts.step : -1);
  s.progress = std::make_unique<ProgressLine>(cfg.log_interval);
  write_file_atomic(cfg.out_dir + "/train_config.json", cfg.raw.dump(2) + "\n");
}

Trainer::~Trainer() = default;

int64_t Trainer::step() const { return s_->ts.step; }
const ModelConfig& Trainer::model_config() const { return s_->mc; }
const ParamSet<float>& Trainer::master() const { return *s_->master; }
ParamSet<float>& Trainer::master() { return *s_->master; }
const std::vector<StepRecord>& Trainer::history() const { return s_->history; }
bool Trainer::resumed() const { return s_->resumed; }

double Trainer::evaluate() {
  State& s = *s_;
  const TokenSplit& val = s.data.val();
  if (val.size() == 0 || s.cfg.eval_batches == 0) return std::nan("");
  if (s.cfg.precision != Precision::kFp32) make_working_params(*s.master, s.cfg.precision, *s.work);
  const int64_t B = s.cfg.batch_size, S = s.cfg.seq_len;
  std::vector<int32_t> ids(size_t(B * (S + 1)));
  uint64_t pos = 0;  // always the same validation tokens
  double sum = 0;
  for (int64_t b = 0; b < s.cfg.eval_batches; ++b) {
    val.read_batch(pos, B, S, ids.data());
    pos = TokenSplit::next_position(pos, B, S);
    sum += s.tm->forward(s.working(), ids.data(), B, S + 1, {0.0, 0.0}).ce;
  }
  return sum / double(s.cfg.eval_batches);
}

void Trainer::run() {
  State& s = *s_;
  const TrainConfig& c = s.cfg;
  const int64_t B = c.batch_size, S = c.seq_len, A = c.grad_accum_steps, E = s.mc.n_routed_experts;
  const int64_t tokens_per_step = B * S * A;
  std::vector<int32_t> ids(size_t(B * (S + 1)));
  const auto t_run = Clock::now();
  int64_t steps_this_run = 0;
  while (s.ts.step < c.total_steps) {
    if (s.opt.stop_after_steps >= 0 && steps_this_run >= s.opt.stop_after_steps) return;
    const auto t0 = Clock::now();
    if (c.precision != Precision::kFp32) make_working_params(*s.master, c.precision, *s.work);
    s.grads->zero();
    StepRecord rec;
    std::vector<MoeLayerMetrics> moe(s.moe_layers.size());
    for (size_t i = 0; i < moe.size(); ++i) {
      moe[i].layer = s.moe_layers[i];
      moe[i].load.assign(size_t(E), 0);
    }
    for (int64_t a = 0; a < A; ++a) {
      s.data.train().read_batch(s.ts.data_position, B, S, ids.data());
      s.ts.data_position = TokenSplit::next_position(s.ts.data_position, B, S);
      const LossValues lv = s.tm->forward(s.working(), ids.data(), B, S + 1, {c.mtp_lambda, c.aux_alpha});
      s.tm->backward(s.working(), *s.grads);
      rec.loss.total += lv.total / double(A);
      rec.loss.ce += lv.ce / double(A);
      rec.loss.mtp += lv.mtp / double(A);
      rec.loss.balance += lv.balance / double(A);
      DSV3_CHECK(lv.moe.size() == moe.size(), "internal: ", lv.moe.size(), " MoE layers ran, expected ", moe.size());
      for (size_t i = 0; i < moe.size(); ++i) {
        for (int64_t e = 0; e < E; ++e) moe[i].load[size_t(e)] += lv.moe[i].load[size_t(e)];
        moe[i].entropy += lv.moe[i].entropy / double(A);
      }
      rec.loss.moe = lv.moe;
    }
    float* g = s.grads->data().data();
    const int64_t n = int64_t(s.grads->data().size());
    if (A > 1) {
      const float inv = float(1.0 / double(A));
      for (int64_t i = 0; i < n; ++i) g[i] *= inv;
    }
    for (auto [copy, main] : s.mtp_copies) {
      float* gm = s.grads->tensor(main);
      float* gc = s.grads->tensor(copy);
      for (int64_t i = 0; i < s.grads->numel(copy); ++i) {
        gm[i] += gc[i];
        gc[i] = 0.0f;
      }
    }
    for (float* bias : s.moe_bias)  // no gradient flows into the bias (zero anyway): keep the norm exact
      if (bias) std::fill(g + (bias - s.master->data().data()), g + (bias - s.master->data().data()) + E, 0.0f);
    rec.grad_norm = clip_grad_norm(g, n, c.grad_clip);
    rec.lr = c.schedule.at(s.ts.step);
    s.adamw->step(s.master->data().data(), g, rec.lr);
    for (auto [copy, main] : s.mtp_copies)
      std::copy(s.master->tensor(main), s.master->tensor(main) + s.master->numel(main), s.master->tensor(copy));
    for (size_t i = 0; i < moe.size(); ++i)
      if (float* bias = s.moe_bias[i]) {
        if (c.bias_update_speed > 0) bias_update(bias, moe[i].load.data(), E, float(c.bias_update_speed));
        moe[i].bias.assign(bias, bias + E);
      }
    s.ts.step += 1;
    s.ts.tokens_seen += tokens_per_step;
    ++steps_this_run;
    const double dt = seconds_since(t0);
    rec.step = s.ts.step;
    rec.tokens_per_s = double(tokens_per_step) / dt;
    s.history.push_back(rec);

    nlohmann::json line = {{"type", "train"},       {"step", rec.step},         {"loss", rec.loss.total},
                           {"ce", rec.loss.ce},     {"mtp", rec.loss.mtp},      {"balance", rec.loss.balance},
                           {"lr", rec.lr},          {"grad_norm", rec.grad_norm}, {"tokens", s.ts.tokens_seen},
                           {"tokens_per_s", rec.tokens_per_s}, {"elapsed_s", seconds_since(t_run)}};
    line["moe"] = nlohmann::json::array();
    for (const auto& m : moe) line["moe"].push_back(moe_layer_json(m));
    s.metrics->write(line);
    if (s.opt.progress) {
      const double rate = double(steps_this_run) / seconds_since(t_run);
      s.progress->update(rec.step, c.total_steps, rec.loss.total, rec.lr, rec.tokens_per_s,
                         double(c.total_steps - rec.step) / std::max(rate, 1e-9));
    }

    const bool last = s.ts.step == c.total_steps;
    if (c.eval_batches > 0 && ((c.eval_interval > 0 && s.ts.step % c.eval_interval == 0) || last)) {
      const double ce = evaluate();
      if (!std::isnan(ce)) {
        s.metrics->write({{"type", "eval"}, {"step", s.ts.step}, {"val_loss", ce}, {"val_ppl", std::exp(ce)},
                          {"val_tokens", c.eval_batches * B * S}});
        if (s.opt.progress) {
          char buf[128];
          std::snprintf(buf, sizeof buf, "eval step %lld: val_loss %.4f  ppl %.2f", static_cast<long long>(s.ts.step),
                        ce, std::exp(ce));
          s.progress->message(buf);
        }
      }
    }
    if ((c.checkpoint_interval > 0 && s.ts.step % c.checkpoint_interval == 0) || last) {
      CheckpointToWrite ck;
      ck.config = &s.mc;
      ck.master = s.master.get();
      ck.optimizer = s.adamw->state();
      ck.state = s.ts;
      ck.tokenizer_dir = c.tokenizer;
      ck.share_mtp_embeddings = c.share_mtp_embeddings;
      const std::string dir = save_train_checkpoint(c.out_dir, ck, c.keep_checkpoints);
      if (s.opt.progress) s.progress->message("checkpoint " + dir);
    }
  }
  if (s.opt.progress) s.progress->finish();
}

}  // namespace dsv3
