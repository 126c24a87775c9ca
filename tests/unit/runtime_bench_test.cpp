// dsv3 bench measurement logic on tiny random checkpoints: structure of the results, exact
// rates under an injected clock, sane rates under the real one (no timing assertions), and
// the decode weight bytes per token against an independent count over the checkpoint.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "core/error.h"
#include "model/presets.h"
#include "model/random_checkpoint.h"
#include "eval/quantize_checkpoint.h"
#include "runtime/bench_runner.h"
#include "test_util.h"

namespace dsv3 {
namespace {

class BenchTiny : public ::testing::TestWithParam<bool> {  // param: FP8 weights
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir(GetParam() ? "bench-fp8" : "bench-bf16");
    write_random_checkpoint(dir_, preset_config("tiny", 1, GetParam()), {11});
    model_ = Model::load(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
  std::unique_ptr<Model> model_;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Independent of the registry: classify the checkpoint's own tensor names. A token reads every
// main-layer tensor, the final norm and lm_head, and exactly K routed experts per MoE layer
// (all experts are the same size, so experts 0..K-1 stand for whichever are chosen); not the
// embedding table, not the MTP layers (index >= num_hidden_layers).
int64_t expected_bytes_per_token(const Model& m) {
  const ModelConfig& c = m.config();
  int64_t total = 0;
  for (const std::string& name : m.checkpoint().names()) {
    if (name == "model.embed_tokens.weight") continue;
    if (name.rfind("model.layers.", 0) == 0) {
      const int64_t layer = std::stoll(name.substr(13));
      if (layer >= c.num_hidden_layers) continue;
      const auto pos = name.find(".mlp.experts.");
      if (pos != std::string::npos && std::stoll(name.substr(pos + 13)) >= c.num_experts_per_tok) continue;
    }
    total += int64_t(m.checkpoint().get(name).nbytes);
  }
  return total;
}

TEST_P(BenchTiny, BytesPerTokenMatchesCheckpointTensors) {
  const int64_t got = decode_weight_bytes_per_token(*model_);
  EXPECT_EQ(got, expected_bytes_per_token(*model_));
  EXPECT_GT(got, 0);
  bool has_scales = false;
  for (const std::string& n : model_->checkpoint().names()) has_scales |= ends_with(n, "weight_scale_inv");
  EXPECT_EQ(has_scales, GetParam());
  const ModelSize size = model_size(*model_);
  EXPECT_LT(got, size.bytes);  // less than the whole checkpoint (embedding, idle experts, MTP)
  EXPECT_GT(size.params, 0);
}

// Quantised copies hold the same parameters: int4 packs two weights a byte (U8 storage) and
// scale tensors are not parameters.
TEST_P(BenchTiny, ParamsSurviveQuantization) {
  const int64_t params = model_size(*model_).params;
  for (const char* type : {"int8", "int4"}) {
    QuantizeOptions o;
    o.type = type;
    o.group = 32;
    const std::string out = dir_ + "-" + type;
    quantize_checkpoint(dir_, out, o);
    EXPECT_EQ(model_size(*Model::load(out)).params, params) << type;
    std::filesystem::remove_all(out);
  }
}

TEST_P(BenchTiny, InjectedClockGivesExactRates) {
  BenchOptions opt;
  opt.prompt_lengths = {16, 5};
  opt.gen_lengths = {8};
  opt.repetitions = 3;
  opt.tg_prompt_tokens = 4;
  double t = 0;
  int calls = 0;
  opt.now = [&] {
    ++calls;
    return t += 0.25;  // every timed region lasts exactly 0.25 s
  };
  const auto res = run_bench(*model_, opt);
  ASSERT_EQ(res.size(), 3u);
  EXPECT_EQ(calls, 2 * 3 * (1 + 3));  // two clock reads per run, warm-up included
  const char* names[] = {"pp16", "pp5", "tg8"};
  const int64_t timed_tokens[] = {16, 5, 8};
  for (size_t i = 0; i < res.size(); ++i) {
    EXPECT_EQ(res[i].test, names[i]);
    ASSERT_EQ(res[i].seconds.size(), 3u);
    ASSERT_EQ(res[i].tokens_per_s.size(), 3u);
    for (double s : res[i].seconds) EXPECT_DOUBLE_EQ(s, 0.25);
    EXPECT_DOUBLE_EQ(res[i].mean_tokens_per_s, 4.0 * double(timed_tokens[i]));
    EXPECT_DOUBLE_EQ(res[i].stddev_tokens_per_s, 0.0);
  }
  EXPECT_TRUE(res[0].is_prompt);
  EXPECT_EQ(res[0].n_prompt, 16);
  EXPECT_EQ(res[0].n_gen, 0);
  EXPECT_FALSE(res[2].is_prompt);
  EXPECT_EQ(res[2].n_prompt, 4);
  EXPECT_EQ(res[2].n_gen, 8);
}

TEST_P(BenchTiny, RealClockGivesPositiveFiniteRates) {
  BenchOptions opt;
  opt.prompt_lengths = {12};
  opt.gen_lengths = {6, 3};
  opt.repetitions = 2;
  const auto res = run_bench(*model_, opt);
  ASSERT_EQ(res.size(), 3u);
  for (const BenchResult& r : res) {
    ASSERT_EQ(r.tokens_per_s.size(), 2u);
    for (double v : r.tokens_per_s) {
      EXPECT_TRUE(std::isfinite(v));
      EXPECT_GT(v, 0);
    }
    EXPECT_GT(r.mean_tokens_per_s, 0);
    EXPECT_GE(r.stddev_tokens_per_s, 0);
  }
}

TEST_P(BenchTiny, BadOptionsThrow) {
  BenchOptions opt;
  opt.prompt_lengths = {0};  // 0 drops a test; nothing left to measure
  opt.gen_lengths = {0};
  EXPECT_THROW(run_bench(*model_, opt), Error);
  opt.prompt_lengths = {-1};
  opt.gen_lengths = {};
  EXPECT_THROW(run_bench(*model_, opt), Error);
  opt.prompt_lengths = {4};
  opt.gen_lengths = {-2};
  EXPECT_THROW(run_bench(*model_, opt), Error);
  opt.gen_lengths = {};
  opt.repetitions = 0;
  EXPECT_THROW(run_bench(*model_, opt), Error);
  opt.repetitions = 1;
  opt.gen_lengths = {model_->config().max_position_embeddings};  // + the tg prompt: too long
  EXPECT_THROW(run_bench(*model_, opt), Error);
}

TEST_P(BenchTiny, ZeroLengthsDropTheirTests) {
  BenchOptions opt;
  opt.repetitions = 1;
  opt.warmup_runs = 0;
  opt.prompt_lengths = {0, 4};
  opt.gen_lengths = {0};
  const std::vector<BenchResult> r = run_bench(*model_, opt);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].test, "pp4");
}

INSTANTIATE_TEST_SUITE_P(Dtypes, BenchTiny, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? std::string("Fp8") : std::string("Bf16"); });

}  // namespace
}  // namespace dsv3
