// Whole-model training forward/backward (src/train/train_model.h):
//  - double-precision gradient of the full loss (CE + λ·MTP + α·balance) against central finite
//    differences for every parameter, on tiny configs with a batch of 2 sequences (V3: low-rank q,
//    sigmoid noaux_tc grouped routing, 2 MTP modules; V2: q_proj, softmax routing, tied embeddings);
//  - the float training forward gives the loss of the inference forward (src/model) on a
//    `dsv3 init`-style checkpoint, main and MTP heads;
//  - parameters written with save_params_f32 load back as the same model.
// Torch autograd on real checkpoints is tests/integration/test_grad_reference.sh.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/rng.h"
#include "model/presets.h"
#include "model/random_checkpoint.h"
#include "model/transformer.h"
#include "test_util.h"
#include "train/train_model.h"

namespace dsv3 {
namespace {

ModelConfig tiny_v3() {
  ModelConfig c;
  c.architecture = "DeepseekV3ForCausalLM";
  c.model_type = "deepseek_v3";
  c.vocab_size = 13;
  c.hidden_size = 8;
  c.intermediate_size = 10;
  c.moe_intermediate_size = 4;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.q_lora_rank = 6;
  c.kv_lora_rank = 6;
  c.qk_nope_head_dim = 4;
  c.qk_rope_head_dim = 4;
  c.v_head_dim = 3;
  c.n_routed_experts = 4;
  c.n_shared_experts = 1;
  c.num_experts_per_tok = 2;
  c.n_group = 2;
  c.topk_group = 1;
  c.topk_method = "noaux_tc";
  c.scoring_func = "sigmoid";
  c.norm_topk_prob = true;
  c.routed_scaling_factor = 2.5;
  c.first_k_dense_replace = 1;
  c.num_nextn_predict_layers = 2;
  c.max_position_embeddings = 64;
  c.rope_scaling.type = "yarn";
  c.rope_scaling.factor = 8.0;
  c.rope_scaling.original_max_position_embeddings = 8;
  c.rope_scaling.mscale = 1.0;
  c.rope_scaling.mscale_all_dim = 1.0;
  c.rms_norm_eps = 1e-6;
  return c;
}

ModelConfig tiny_v2_tied() {
  ModelConfig c = tiny_v3();
  c.architecture = "DeepseekV2ForCausalLM";
  c.model_type = "deepseek_v2";
  c.q_lora_rank.reset();
  c.topk_method = "greedy";
  c.scoring_func = "softmax";
  c.n_group = 1;
  c.topk_group = 1;
  c.norm_topk_prob = false;
  c.routed_scaling_factor = 1.0;
  c.num_nextn_predict_layers = 0;
  c.tie_word_embeddings = true;
  c.rope_scaling = RopeScaling{};
  return c;
}

ParamSet<double> random_params(const ModelConfig& c, uint64_t seed) {
  ParamSet<double> p(c);
  Rng rng(seed);
  for (size_t i = 0; i < p.size(); ++i) {
    const WeightSpec& s = p.specs()[i];
    double lo = -1.0, hi = 1.0;  // embeddings
    if (s.role == WeightRole::kNorm) {
      lo = 0.8, hi = 1.2;
    } else if (s.role == WeightRole::kBias) {
      lo = 0.0, hi = 0.3;
    } else if (s.shape.size() == 2 && s.role != WeightRole::kEmbedding) {
      const double a = std::sqrt(3.0 / double(s.shape[1]));
      lo = -a, hi = a;
    }
    double* t = p.tensor(i);
    for (int64_t j = 0; j < p.numel(i); ++j) t[j] = lo + (hi - lo) * double(rng.uniform());
  }
  return p;
}

void check_whole_model(const ModelConfig& c, const std::vector<int32_t>& ids, int64_t B, int64_t T) {
  ParamSet<double> p = random_params(c, 7);
  const LossOptions opt{0.3, 0.05};
  TrainModel<double> tm(c);
  const LossValues lv = tm.forward(p, ids.data(), B, T, opt);
  EXPECT_NEAR(lv.total, lv.ce + opt.mtp_lambda * lv.mtp + lv.balance, 1e-12);
  if (c.n_routed_experts > 0) {
    EXPECT_GT(lv.balance, 0.0);
  }
  if (c.num_nextn_predict_layers > 0) {
    EXPECT_GT(lv.mtp, 0.0);
  }
  ParamSet<double> g(c);
  tm.backward(p, g);
  TrainModel<double> probe(c);
  auto loss = [&] { return probe.forward(p, ids.data(), B, T, opt).total; };
  const double h = 1e-5;
  double worst = 0.0;
  std::string worst_name;
  for (size_t i = 0; i < p.size(); ++i) {
    const WeightSpec& s = p.specs()[i];
    double* w = p.tensor(i);
    const double* gi = g.tensor(i);
    if (s.role == WeightRole::kBias) {  // steers the selection only: no gradient
      for (int64_t j = 0; j < p.numel(i); ++j) EXPECT_EQ(gi[j], 0.0) << s.name;
      continue;
    }
    double num = 0.0, den = 0.0;
    for (int64_t j = 0; j < p.numel(i); ++j) {
      const double keep = w[j];
      w[j] = keep + h;
      const double lp = loss();
      w[j] = keep - h;
      const double lm = loss();
      w[j] = keep;
      const double fd = (lp - lm) / (2 * h);
      num += (gi[j] - fd) * (gi[j] - fd);
      den += fd * fd;
    }
    const double err = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
    EXPECT_LT(err, 1e-6) << s.name << " (|fd| " << std::sqrt(den) << ")";
    if (err > worst) worst = err, worst_name = s.name;
  }
  std::printf("  whole-model gradcheck: %zu tensors, worst relative error %.2e (%s)\n", p.size(), worst,
              worst_name.c_str());
}

TEST(TrainModelGradcheck, V3LowRankQGroupedMtp2Batch2) {
  check_whole_model(tiny_v3(), {3, 7, 1, 12, 5, 9, 0, 4, 4, 11, 2, 8}, 2, 6);
}

TEST(TrainModelGradcheck, V2FullRankQSoftmaxTied) {
  check_whole_model(tiny_v2_tied(), {3, 7, 1, 12, 5, 6, 2, 9, 4, 10}, 2, 5);
}

// --------------------------------------------------------------------- float forward == inference

std::unique_ptr<Model> tiny_checkpoint(const std::string& dir) {
  const ModelConfig c = preset_config("tiny", 1, false);
  write_random_checkpoint(dir, c, RandomInitOptions{5});
  return Model::load(dir);
}

TEST(TrainModelForward, MatchesInferenceLossMainAndMtp) {
  const std::string dir = test::make_temp_dir("train-model");
  auto model = tiny_checkpoint(dir);
  const ModelConfig c = training_config(*model);
  const std::vector<int32_t> ids{5, 9, 2, 77, 31, 8, 120, 64, 3, 250, 19, 42};
  const int64_t T = int64_t(ids.size()), D = c.hidden_size, V = c.vocab_size;

  // Inference: logits of the main head and of MTP module 1, then the same cross-entropy.
  ContiguousLatentCache cache(model->cache_layers(), model->cache_width(), T);
  const auto rows = cache.layers();
  std::vector<float> hidden(size_t(T * D)), logits(size_t(T * V)), h_out(size_t((T - 1) * D)),
      mtp_logits(size_t((T - 1) * V));
  model->forward(ids.data(), T, 0, rows, hidden.data());
  model->logits(hidden.data(), T, logits.data());
  model->mtp_forward(1, hidden.data(), ids.data() + 1, T - 1, 0, rows, h_out.data(), mtp_logits.data());
  std::vector<int32_t> tgt(ids.begin() + 1, ids.end()), mtp_tgt(ids.begin() + 2, ids.end());
  tgt.push_back(-1);
  mtp_tgt.push_back(-1);
  const double ce = cross_entropy<float>(logits.data(), tgt.data(), T, V, 1.0f, nullptr);
  const double mtp = cross_entropy<float>(mtp_logits.data(), mtp_tgt.data(), T - 1, V, 1.0f, nullptr);

  const ParamSet<float> p = load_params<float>(*model);
  TrainModel<float> tm(c);
  const LossValues lv = tm.forward(p, ids.data(), 1, T, LossOptions{1.0, 0.0});
  EXPECT_NEAR(lv.ce, ce, 1e-5 * ce);
  EXPECT_NEAR(lv.mtp, mtp, 1e-5 * mtp);
  EXPECT_EQ(lv.balance, 0.0);
  EXPECT_EQ(lv.moe.size(), size_t(c.num_hidden_layers - c.first_k_dense_replace + 1));

  // save_params_f32 writes a checkpoint the loader reads back to the same parameters.
  const std::string dir2 = test::make_temp_dir("train-model-save");
  std::filesystem::copy_file(dir + "/config.json", dir2 + "/config.json");
  save_params_f32(p, dir2 + "/model.safetensors");
  auto reloaded = Model::load(dir2);
  const ParamSet<float> p2 = load_params<float>(*reloaded);
  EXPECT_EQ(p2.data(), p.data());
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(dir2);
}

}  // namespace
}  // namespace dsv3
