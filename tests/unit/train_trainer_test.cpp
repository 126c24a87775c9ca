// dsv3 train's loop (train/trainer.h): config validation, bit-identical resume, thread-count
// independence, aux-loss-free balancing on a skewed start, precision emulation, metrics.
// The torch comparison of optimizer steps is tests/integration/test_train_reference.sh.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "test_util.h"
#include "train_text_fixture.h"
#include "tokenizer/tokenizer_writer.h"
#include "train/data_prep.h"
#include "train/train_checkpoint.h"
#include "train/train_config.h"
#include "train/train_precision.h"
#include "train/trainer.h"

namespace dsv3 {
namespace {

using test::expect_error;
using nlohmann::json;

// A byte-level tokenizer and token shards of a small synthetic text, shared by the tests.
const test::TrainTextFixture& fixture() {
  static test::TrainTextFixture f("trainer", 16);
  return f;
}

json tiny_model() {
  return {{"hidden_size", 32},        {"intermediate_size", 64},  {"moe_intermediate_size", 16},
          {"num_hidden_layers", 2},   {"num_attention_heads", 2}, {"q_lora_rank", 16},
          {"kv_lora_rank", 16},       {"qk_rope_head_dim", 8},    {"qk_nope_head_dim", 8},
          {"v_head_dim", 8},          {"n_routed_experts", 4},    {"n_shared_experts", 1},
          {"num_experts_per_tok", 2}, {"n_group", 1}, {"topk_group", 1}, {"topk_method", "noaux_tc"}, {"scoring_func", "sigmoid"},
          {"norm_topk_prob", true},   {"first_k_dense_replace", 1}, {"num_nextn_predict_layers", 1},
          {"initializer_range", 0.1}};
}

json base_config(const std::string& out) {
  const test::TrainTextFixture& f = fixture();
  return {{"model", tiny_model()}, {"data", f.data},       {"tokenizer", f.tokenizer}, {"out_dir", out},
          {"batch_size", 2},      {"seq_len", 16},        {"grad_accum_steps", 2},   {"total_steps", 6},
          {"lr", 3e-3},           {"warmup_steps", 2},    {"bias_update_speed", 0.01}, {"aux_alpha", 0.001},
          {"eval_interval", 3},   {"eval_batches", 1},    {"checkpoint_interval", 3}};
}

TrainConfig parse(const json& j) { return parse_train_config(j.dump(), "test.json"); }

TrainerOptions quiet() {
  TrainerOptions o;
  o.progress = false;
  return o;
}

// A YAML config is the same config: same parsed fields, same raw JSON (so the same config hash
// and resume check); typed like YAML 1.2 (quoted numbers stay strings); bad YAML names the file.
TEST(TrainConfig, YamlEqualsJson) {
  const std::string dir = fixture().dir + "/yaml";
  std::filesystem::create_directories(dir);
  json j = base_config(dir + "/out");
  j["precision"] = "bf16";
  j["grad_clip"] = 1.0;
  j["seed"] = 7;
  std::ofstream(dir + "/c.json") << j.dump();
  std::ostringstream y;
  y << "# the same config in YAML\nmodel:\n";
  for (const auto& [k, v] : j["model"].items()) y << "  " << k << ": " << v.dump() << "\n";
  for (const auto& [k, v] : j.items())
    if (k != "model") y << k << ": " << (v.is_string() ? v.get<std::string>() : v.dump()) << "\n";
  std::ofstream(dir + "/c.yaml") << y.str();
  const TrainConfig a = load_train_config(dir + "/c.json"), b = load_train_config(dir + "/c.yaml");
  EXPECT_EQ(a.raw, b.raw);
  EXPECT_EQ(train_config_hash(a), train_config_hash(b));
  EXPECT_EQ(b.precision, Precision::kBf16);
  EXPECT_EQ(b.seed, 7u);
  EXPECT_EQ(b.grad_clip, 1.0);
  std::string quoted = y.str();
  const size_t at = quoted.find("batch_size: 2\n");
  ASSERT_NE(at, std::string::npos);
  quoted.replace(at, 14, "batch_size: \"2\"\n");
  std::ofstream(dir + "/quoted.yml") << quoted;
  expect_error([&] { load_train_config(dir + "/quoted.yml"); }, {"quoted.yml", "'batch_size' must be an integer"});
  std::ofstream(dir + "/broken.yaml") << "model: [1, 2\nlr: {";
  expect_error([&] { load_train_config(dir + "/broken.yaml"); }, {"broken.yaml", "not valid YAML"});
}

TEST(TrainConfig, ValidationErrorsNameTheKey) {
  const std::string out = fixture().dir + "/cfg";
  json j = base_config(out);
  EXPECT_NO_THROW(parse(j));
  json bad = j;
  bad["learning_rate"] = 1;
  expect_error([&] { parse(bad); }, {"test.json", "unknown key 'learning_rate'"});
  bad = j;
  bad.erase("seq_len");
  expect_error([&] { parse(bad); }, {"missing required key 'seq_len'"});
  bad = j;
  bad["batch_size"] = "8";
  expect_error([&] { parse(bad); }, {"'batch_size' must be an integer"});
  bad = j;
  bad["precision"] = "fp16";
  expect_error([&] { parse(bad); }, {"'precision'", "fp16"});
  bad = j;
  bad["init_from"] = "somewhere";
  expect_error([&] { parse(bad); }, {"exactly one of 'model'"});
  bad = j;
  bad["warmup_steps"] = 7;
  expect_error([&] { parse(bad); }, {"'warmup_steps'"});
  bad = j;
  bad["lr"] = 0;
  expect_error([&] { parse(bad); }, {"'lr' must be > 0"});
  expect_error([] { parse_train_config("[1]", "x.json"); }, {"x.json", "JSON object"});
}

TEST(Trainer, ResumeIsBitIdentical) {
  const std::string a = fixture().dir + "/resume-a", b = fixture().dir + "/resume-b";
  Trainer straight(parse(base_config(a)), quiet());
  straight.run();
  ASSERT_EQ(straight.history().size(), 6u);

  TrainerOptions stop = quiet();
  stop.stop_after_steps = 3;
  {
    Trainer first(parse(base_config(b)), stop);
    first.run();
    EXPECT_EQ(first.step(), 3);
  }
  Trainer second(parse(base_config(b)), quiet());
  EXPECT_TRUE(second.resumed());
  EXPECT_EQ(second.step(), 3);
  second.run();
  ASSERT_EQ(second.history().size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(second.history()[i].step, straight.history()[i + 3].step);
    EXPECT_EQ(second.history()[i].loss.total, straight.history()[i + 3].loss.total) << "step " << i + 4;
    EXPECT_EQ(second.history()[i].grad_norm, straight.history()[i + 3].grad_norm);
  }
  EXPECT_EQ(second.master().data(), straight.master().data());  // every master weight, bitwise
  // Losses go down on this repetitive text.
  EXPECT_LT(straight.history().back().loss.ce, straight.history().front().loss.ce);
  // The latest checkpoint is complete and points at step 6.
  EXPECT_EQ(std::filesystem::path(latest_checkpoint(b)).filename(), "checkpoint-000006");
}

// A run killed between publishing a checkpoint and pruning the older ones (its last one, say:
// nothing is saved again after resuming) must not keep the extra folder: resuming prunes too.
// Here the finished run kept 2 and is resumed with keep_checkpoints 1.
TEST(Trainer, ResumePrunesCheckpointsBeyondKeep) {
  namespace fs = std::filesystem;
  const std::string out = fixture().dir + "/resume-prune";
  fs::remove_all(out);
  { Trainer(parse(base_config(out)), quiet()).run(); }
  ASSERT_TRUE(fs::is_directory(out + "/checkpoint-000003"));
  ASSERT_TRUE(fs::is_directory(out + "/checkpoint-000006"));
  json one = base_config(out);
  one["keep_checkpoints"] = 1;
  Trainer resumed(parse(one), quiet());
  EXPECT_TRUE(resumed.resumed());
  EXPECT_EQ(resumed.step(), 6);
  EXPECT_FALSE(fs::exists(out + "/checkpoint-000003"));
  EXPECT_TRUE(fs::is_directory(out + "/checkpoint-000006"));
  EXPECT_EQ(fs::path(latest_checkpoint(out)).filename(), "checkpoint-000006");
}

TEST(Trainer, MetricsLinesHoldEveryField) {
  const std::string out = fixture().dir + "/metrics";
  json j = base_config(out);
  j["total_steps"] = 3;
  Trainer t(parse(j), quiet());
  t.run();
  std::ifstream f(out + "/metrics.jsonl");
  std::string line;
  int train = 0, eval = 0;
  while (std::getline(f, line)) {
    const json m = json::parse(line);
    if (m["type"] == "train") {
      ++train;
      for (const char* k : {"step", "loss", "ce", "mtp", "balance", "lr", "grad_norm", "tokens", "tokens_per_s"})
        EXPECT_TRUE(m.contains(k)) << k;
      ASSERT_EQ(m["moe"].size(), 2u);  // layer 1 and the MTP block (layer 2)
      EXPECT_EQ(m["moe"][1]["layer"], 2);
      for (const char* k : {"entropy", "utilization", "max_load", "mean_load", "bias_mean", "bias_std", "bias_min", "bias_max"})
        EXPECT_TRUE(m["moe"][0].contains(k)) << k;
    } else {
      ++eval;
      EXPECT_TRUE(m.contains("val_loss") && m.contains("val_ppl"));
      EXPECT_NEAR(std::exp(m["val_loss"].get<double>()), m["val_ppl"].get<double>(), 1e-9 * m["val_ppl"].get<double>());
    }
  }
  EXPECT_EQ(train, 3);
  EXPECT_EQ(eval, 1);
}

// Runs `dsv3 train --threads N` (the pool size is fixed per process) on shapes wide enough for
// the GEMMs to split into panels (OpenBLAS's own threading changed bits at such sizes) and
// returns the per-step losses and the final master weights' bytes.
std::pair<std::vector<double>, std::string> train_with_threads(int threads, const std::string& precision) {
  const std::string out = fixture().dir + "/threads-" + precision + std::to_string(threads);
  json j = base_config(out);
  j["model"]["hidden_size"] = 256;
  j["model"]["intermediate_size"] = 640;
  j["model"]["moe_intermediate_size"] = 128;
  j["model"]["q_lora_rank"] = 128;
  j["model"]["kv_lora_rank"] = 128;
  j["total_steps"] = 2;
  j["batch_size"] = 8;
  j["checkpoint_interval"] = 2;
  j["eval_batches"] = 0;
  j["precision"] = precision;
  const std::string cfg = out + ".json";
  std::ofstream(cfg) << j.dump();
  const std::string cmd = std::string(DSV3_BINARY) + " train --config " + cfg + " --threads " +
                          std::to_string(threads) + " > " + out + ".log 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::vector<double> losses;
  std::ifstream m(out + "/metrics.jsonl");
  for (std::string line; std::getline(m, line);) {
    const json r = json::parse(line);
    if (r.contains("loss")) losses.push_back(r["loss"].get<double>());
  }
  std::ifstream w(latest_checkpoint(out) + "/train_state/master.safetensors", std::ios::binary);
  return {losses, std::string(std::istreambuf_iterator<char>(w), {})};
}

TEST(Trainer, ThreadCountDoesNotChangeLosses) {
  for (const char* precision : {"fp32", "fp8"}) {
    const auto one = train_with_threads(1, precision), two = train_with_threads(2, precision);
    ASSERT_EQ(one.first.size(), 2u) << precision;
    EXPECT_EQ(one.first, two.first) << precision;
    EXPECT_FALSE(one.second.empty()) << precision;
    EXPECT_TRUE(one.second == two.second) << precision << ": master weights differ";
  }
}

// Aux-loss-free balancing (report 2.1.2) on a skewed start: expert 0 gets a large selection
// bias so that every token picks it. With γ = 0 it stays overloaded; with γ > 0 its bias drops
// step by step until the load evens out.
TEST(Trainer, BiasUpdateEvensOutSkewedLoad) {
  double final_ratio[2];
  for (int with_gamma : {0, 1}) {
    json j = base_config(fixture().dir + "/bias" + std::to_string(with_gamma));
    j["total_steps"] = 30;
    j["warmup_steps"] = 0;
    j["aux_alpha"] = 0.0;
    j["bias_update_speed"] = with_gamma ? 0.05 : 0.0;
    j["checkpoint_interval"] = 0;
    j["eval_batches"] = 0;
    Trainer t(parse(j), quiet());
    float* bias = t.master().get("model.layers.1.mlp.gate.e_score_correction_bias");
    bias[0] = 1.0f;  // sigmoid scores lie in (0, 1): expert 0 always wins at first
    t.run();
    const MoeStats& last = t.history().back().loss.moe[0];
    final_ratio[with_gamma] = last.max_load / last.mean_load;
    if (with_gamma) {
      EXPECT_LT(bias[0], 0.75f);  // moved down by γ per overloaded step until balanced
    }
  }
  EXPECT_GT(final_ratio[0], 1.9);  // expert 0 holds about half of the K = 2 slots: 2× the mean
  EXPECT_LT(final_ratio[1], 1.5);
  EXPECT_LT(final_ratio[1], final_ratio[0]);
}

TEST(TrainPrecision, Fp8BlocksAndBf16Rounding) {
  // A 130 × 260 matrix spans partial 128 × 128 blocks; each block is scaled by its own amax.
  std::vector<float> w(130 * 260), q;
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::sin(0.37 * double(i)) * (i % 260 < 128 ? 1.0 : 1e-3);
  q = w;
  quantize_blocks_e4m3(q.data(), 130, 260);
  for (size_t i = 0; i < w.size(); ++i) {
    const double scale = i % 260 < 128 ? 1.0 : 1e-3;  // the block's amax (≈)
    EXPECT_LE(std::fabs(q[i] - w[i]), 0.0625 * std::fabs(w[i]) + 1e-5 * scale) << i;  // e4m3: 3 mantissa bits
  }
  std::vector<float> again = q;
  quantize_blocks_e4m3(again.data(), 130, 260);
  EXPECT_EQ(again, q);  // already on the grid
  std::vector<float> tile = {448.0f, 1.0f, -3.3f, 0.001f};
  quantize_tiles_e4m3(tile.data(), 1, 4, 128);
  EXPECT_EQ(tile[0], 448.0f);
  EXPECT_EQ(tile[1], 1.0f);
  EXPECT_EQ(tile[2], -3.25f);

  json mj = tiny_model();
  mj.update(json{{"architectures", {"DeepseekV3ForCausalLM"}}, {"vocab_size", 300}, {"max_position_embeddings", 64}});
  const ModelConfig c = parse_model_config(mj.dump(), "tiny");
  ParamSet<float> master(c), work(c);
  for (size_t i = 0; i < master.data().size(); ++i) master.data()[i] = 1.0f + float(i % 97) * 1e-4f;
  make_working_params(master, Precision::kBf16, work);
  for (size_t t = 0; t < master.size(); ++t)
    for (int64_t i = 0; i < master.numel(t); ++i) {
      const float m = master.tensor(t)[i], v = work.tensor(t)[i];
      if (master.specs()[t].role == WeightRole::kBias) EXPECT_EQ(v, m);
      else EXPECT_EQ(v, bf16_to_f32(f32_to_bf16(m)));
    }
}

}  // namespace
}  // namespace dsv3
