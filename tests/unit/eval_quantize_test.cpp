// Quantised checkpoints end to end (tiny preset): the logits of an int8/int4/fp8 model
// against its dequantised f32 twin (tight: only the summation order differs) and against
// the bf16 original (bounded KL, int8 < int4); loader errors for missing scales; the
// evaluation windows.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "eval/perplexity.h"
#include "eval/quantize_checkpoint.h"
#include "format/safetensors.h"
#include "model/presets.h"
#include "model/random_checkpoint.h"
#include "model/transformer.h"
#include "test_util.h"

namespace dsv3 {
namespace {

namespace fs = std::filesystem;

class QuantizedModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(test::make_temp_dir("quant"));
    ModelConfig cfg = preset_config("tiny", 0, false);
    RandomInitOptions opt;
    opt.seed = 5;
    write_random_checkpoint(*dir_ + "/bf16", cfg, opt);
    for (const char* t : {"int8", "int4", "fp8"}) {
      QuantizeOptions o;
      o.type = t;
      o.group = std::string(t) == "fp8" ? 128 : 32;
      quantize_checkpoint(*dir_ + "/bf16", *dir_ + "/" + t, o);
    }
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  // A copy of `src` with every tensor in `drop` left out, and every quantised matrix
  // replaced by its exact f32 dequantisation when `dequantize` (config without
  // quantization_config).
  static std::string rewrite(const std::string& src, const std::string& name, bool dequantize,
                             const std::vector<std::string>& drop = {}) {
    const std::string out = *dir_ + "/" + name;
    fs::create_directories(out);
    const ModelConfig cfg = load_model_config(src);
    const Checkpoint ckpt(src);
    std::map<std::string, WeightSpec> specs;
    for (auto& s : weight_specs(cfg)) specs.emplace(s.name, s);
    std::deque<std::vector<float>> owned, scales;
    std::vector<TensorToWrite> tw;
    for (const std::string& n : ckpt.names()) {
      if (std::find(drop.begin(), drop.end(), n) != drop.end()) continue;
      const TensorView& t = ckpt.get(n);
      const bool scale = n.size() > 10 && n.compare(n.size() - 10, 10, "_scale_inv") == 0;
      auto it = specs.find(n);
      if (dequantize && scale) continue;
      if (dequantize && it != specs.end() && it->second.shape.size() == 2 &&
          (t.dtype == DType::I8 || t.dtype == DType::U8 || t.dtype == DType::F8_E4M3)) {
        const WeightMatrix w = weight_view(ckpt, cfg, n, it->second.shape[0], it->second.shape[1], scales);
        owned.emplace_back(size_t(w.rows * w.cols));
        for (int64_t r = 0; r < w.rows; ++r) dequantize_row(w, r, owned.back().data() + r * w.cols);
        tw.push_back({n, DType::F32, it->second.shape, owned.back().data(), owned.back().size() * 4});
      } else {
        tw.push_back({n, t.dtype, t.shape, t.data, t.nbytes});
      }
    }
    write_safetensors(out + "/model.safetensors", tw);
    nlohmann::json j = cfg.raw;
    if (dequantize) j.erase("quantization_config");
    std::ofstream(out + "/config.json") << j.dump();
    return out;
  }

  static std::vector<float> logits(const std::string& dir, const std::vector<int32_t>& ids) {
    auto m = Model::load(dir);
    return window_logits(*m, ids, {0, int64_t(ids.size()), 1});
  }

  static std::string* dir_;
};
std::string* QuantizedModel::dir_ = nullptr;

const std::vector<int32_t> kIds = {1, 17, 200, 33, 4, 99, 250, 7, 7, 64, 128, 3};

TEST_F(QuantizedModel, LogitsMatchDequantizedTwin) {
  for (const char* t : {"int8", "int4", "fp8"}) {
    const std::string q = *dir_ + "/" + t;
    const std::vector<float> a = logits(q, kIds), b = logits(rewrite(q, std::string(t) + "-twin", true), kIds);
    ASSERT_EQ(a.size(), b.size());
    double amax = 0, dmax = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      amax = std::max(amax, std::fabs(double(b[i])));
      dmax = std::max(dmax, std::fabs(double(a[i]) - b[i]));
    }
    EXPECT_LE(dmax, 1e-4 * amax) << t << ": quantised kernels vs dequantised f32 twin";
  }
}

TEST_F(QuantizedModel, BoundedKlAgainstBf16) {
  auto ref = Model::load(*dir_ + "/bf16");
  std::vector<int32_t> ids;
  for (int i = 0; i < 200; ++i) ids.push_back(int32_t((i * 37 + 11) % 300));
  double kl[3];
  int i = 0;
  for (const char* t : {"int8", "fp8", "int4"}) {
    auto m = Model::load(*dir_ + "/" + t);
    const KlResult r = kl_divergence(*m, *ref, ids, 64, 32);
    EXPECT_EQ(r.tokens, 199);
    kl[i++] = r.kl;
    EXPECT_GT(r.kl, 0) << t;
    EXPECT_LT(r.kl, std::string(t) == "int4" ? 0.3 : 0.05) << t;
    EXPECT_GE(r.top1_agree, std::string(t) == "int4" ? 0.4 : 0.7) << t;
  }
  EXPECT_LT(kl[0], kl[2]) << "KL(int8) < KL(int4)";
}

TEST_F(QuantizedModel, MissingScalesIsOneClearError) {
  const std::string bad = rewrite(*dir_ + "/int8", "int8-noscale", false, {"model.layers.0.mlp.up_proj.weight_scale_inv"});
  try {
    Model::load(bad);
    FAIL() << "loaded without scales";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.0.mlp.up_proj.weight_scale_inv is missing"), std::string::npos)
        << e.what();
  }
}

TEST(EvalWindows, EveryTokenScoredOnce) {
  for (int64_t n : {2, 5, 64, 100, 1000})
    for (auto [ctx, stride] : {std::pair<int64_t, int64_t>{2, 1}, {16, 8}, {16, 16}, {64, 17}, {512, 256}}) {
      std::vector<int> scored(size_t(n), 0);
      for (const EvalWindow& w : eval_windows(n, ctx, stride)) {
        ASSERT_LE(w.end - w.begin, ctx);
        ASSERT_GT(w.first, w.begin);
        for (int64_t j = w.first; j < w.end; ++j) ++scored[size_t(j)];
      }
      EXPECT_EQ(scored[0], 0);
      for (int64_t j = 1; j < n; ++j) {
        // Disjoint windows (stride == ctx) cannot score a window's first token.
        const int want = (stride == ctx && j % ctx == 0) ? 0 : 1;
        ASSERT_EQ(scored[size_t(j)], want) << "n=" << n << " ctx=" << ctx << " stride=" << stride << " j=" << j;
      }
    }
  EXPECT_THROW(eval_windows(10, 1, 1), Error);
  EXPECT_THROW(eval_windows(10, 8, 9), Error);
}

}  // namespace
}  // namespace dsv3
