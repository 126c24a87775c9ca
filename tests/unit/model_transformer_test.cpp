// Whole-model invariants on random tiny checkpoints: naive vs absorbed MLA, prefill vs
// incremental decode, chunked prefill, MTP incremental vs full, FP8 vs its dequantised twin.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "format/safetensors.h"
#include "model/presets.h"
#include "model/random_checkpoint.h"
#include "model/transformer.h"
#include "test_util.h"

namespace dsv3 {
namespace {

struct CacheRun {
  std::unique_ptr<ContiguousLatentCache> cache;
  std::vector<LatentRows> rows;
  CacheRun(const Model& m, int64_t cap)
      : cache(std::make_unique<ContiguousLatentCache>(m.cache_layers(), m.cache_width(), cap)), rows(cache->layers()) {}
};

std::vector<float> full_logits(const Model& m, const std::vector<int32_t>& ids, MlaPath path,
                               std::vector<float>* hidden_out = nullptr) {
  const int64_t T = int64_t(ids.size());
  CacheRun r(m, T);
  std::vector<float> h(size_t(T * m.hidden_size())), lg(size_t(T * m.vocab_size()));
  m.forward(ids.data(), T, 0, r.rows, h.data(), path);
  m.logits(h.data(), T, lg.data());
  if (hidden_out) *hidden_out = h;
  return lg;
}

// max |a - b| / max |a|
double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0, d = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    m = std::max(m, double(std::fabs(a[i])));
    d = std::max(d, double(std::fabs(a[i] - b[i])));
  }
  return d / m;
}

class TinyModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(test::make_temp_dir("tiny"));
    write_random_checkpoint(*dir_, preset_config("tiny", 1, false), {7});
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  static std::string* dir_;
  const std::vector<int32_t> ids_{3, 17, 255, 4, 99, 310, 42, 7, 7, 500, 1, 64};
};
std::string* TinyModel::dir_ = nullptr;

TEST_F(TinyModel, NaiveAndAbsorbedAttentionAgree) {
  auto m = Model::load(*dir_);
  auto a = full_logits(*m, ids_, MlaPath::kNaive);
  auto b = full_logits(*m, ids_, MlaPath::kAbsorbed);
  EXPECT_LT(rel_diff(a, b), 1e-5);
}

TEST_F(TinyModel, IncrementalDecodeMatchesPrefill) {
  auto m = Model::load(*dir_);
  auto full = full_logits(*m, ids_, MlaPath::kNaive);
  const int64_t T = int64_t(ids_.size()), V = m->vocab_size(), D = m->hidden_size();
  CacheRun r(*m, T);
  std::vector<float> h(size_t(T * D)), lg(size_t(T * V));
  const int64_t prefix = 4;  // prefill 4 tokens, then one at a time
  m->forward(ids_.data(), prefix, 0, r.rows, h.data());
  m->logits(h.data(), prefix, lg.data());
  for (int64_t t = prefix; t < T; ++t) {
    m->forward(&ids_[size_t(t)], 1, t, r.rows, h.data() + t * D);
    m->logits(h.data() + t * D, 1, lg.data() + t * V);
  }
  EXPECT_LT(rel_diff(full, lg), 1e-5);
}

TEST_F(TinyModel, ChunkedPrefillMatchesOneShot) {
  auto m = Model::load(*dir_);
  auto full = full_logits(*m, ids_, MlaPath::kNaive);
  const int64_t T = int64_t(ids_.size()), V = m->vocab_size(), D = m->hidden_size();
  CacheRun r(*m, T);
  std::vector<float> h(size_t(T * D)), lg(size_t(T * V));
  for (int64_t t0 = 0; t0 < T; t0 += 5) {
    const int64_t n = std::min<int64_t>(5, T - t0);
    m->forward(&ids_[size_t(t0)], n, t0, r.rows, h.data() + t0 * D);
  }
  m->logits(h.data(), T, lg.data());
  EXPECT_LT(rel_diff(full, lg), 1e-5);
}

// A prompt longer than prefill attention's query blocks (64 rows): blocks past the first,
// per-block causal lengths. One shot vs absorbed attention, and vs chunks that split blocks
// (prefill rows do not depend on the chunking: bitwise).
TEST_F(TinyModel, LongPromptAcrossQueryBlocks) {
  auto m = Model::load(*dir_);
  const int64_t T = 150, V = m->vocab_size(), D = m->hidden_size();
  std::vector<int32_t> ids(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) ids[size_t(t)] = int32_t((t * 7919 + 13) % V);
  auto full = full_logits(*m, ids, MlaPath::kNaive);
  EXPECT_LT(rel_diff(full, full_logits(*m, ids, MlaPath::kAbsorbed)), 1e-5);
  CacheRun r(*m, T);
  std::vector<float> h(size_t(T * D)), lg(size_t(T * V));
  for (int64_t t0 = 0; t0 < T;) {
    const int64_t n = std::min<int64_t>(t0 == 0 ? 70 : 47, T - t0);
    m->forward(&ids[size_t(t0)], n, t0, r.rows, h.data() + t0 * D, MlaPath::kNaive);
    t0 += n;
  }
  m->logits(h.data(), T, lg.data());
  for (size_t i = 0; i < lg.size(); ++i) ASSERT_EQ(lg[i], full[i]) << "logit " << i;
}

TEST_F(TinyModel, MtpIncrementalMatchesFull) {
  auto m = Model::load(*dir_);
  ASSERT_EQ(m->num_mtp(), 1);
  std::vector<float> h;
  full_logits(*m, ids_, MlaPath::kNaive, &h);
  const int64_t M = int64_t(ids_.size()) - 1, V = m->vocab_size(), D = m->hidden_size();
  CacheRun a(*m, M), b(*m, M);
  std::vector<float> ho(size_t(M * D)), full(size_t(M * V)), inc(size_t(M * V));
  m->mtp_forward(1, h.data(), ids_.data() + 1, M, 0, a.rows, ho.data(), full.data());
  for (int64_t i = 0; i < M; ++i)
    m->mtp_forward(1, h.data() + i * D, &ids_[size_t(i + 1)], 1, i, b.rows, ho.data(), inc.data() + i * V);
  EXPECT_LT(rel_diff(full, inc), 1e-5);
}

TEST_F(TinyModel, LogitsAreNotDegenerate) {
  auto m = Model::load(*dir_);
  auto lg = full_logits(*m, ids_, MlaPath::kNaive);
  const int64_t V = m->vocab_size();
  std::vector<int64_t> argmaxes;
  for (size_t t = 0; t < ids_.size(); ++t) {
    auto* row = &lg[t * size_t(V)];
    argmaxes.push_back(std::max_element(row, row + V) - row);
    for (int64_t v = 0; v < V; ++v) ASSERT_TRUE(std::isfinite(row[v]));
  }
  std::sort(argmaxes.begin(), argmaxes.end());
  EXPECT_GT(std::unique(argmaxes.begin(), argmaxes.end()) - argmaxes.begin(), 3);
}

TEST_F(TinyModel, RejectsTokenOutsideVocabulary) {
  auto m = Model::load(*dir_);
  std::vector<int32_t> bad{1, int32_t(m->vocab_size())};
  EXPECT_THROW(full_logits(*m, bad, MlaPath::kNaive), std::exception);
}

// FP8 checkpoint vs the same weights dequantised to f32 (the "dequantised twin").
TEST(Fp8Model, MatchesDequantisedTwin) {
  const std::string q = test::make_temp_dir("fp8"), f = test::make_temp_dir("fp8twin");
  ModelConfig cfg = preset_config("tiny", 1, true);
  write_random_checkpoint(q, cfg, {11});
  {
    Checkpoint ck(q);
    auto mq = Model::load(q);
    // Rewrite every tensor: FP8 ones dequantised through the model's own views, others as is.
    std::vector<std::vector<float>> keep;
    std::vector<TensorToWrite> tw;
    for (const auto& name : ck.names()) {
      if (name.size() > 10 && name.substr(name.size() - 10) == "_scale_inv") continue;
      const TensorView& t = ck.get(name);
      if (t.dtype == DType::F8_E4M3) {
        const TensorView& s = ck.get(name + "_scale_inv");
        std::vector<float> v(size_t(t.numel()));
        const int64_t N = t.shape[0], K = t.shape[1], nbc = s.shape[1];
        for (int64_t r = 0; r < N; ++r)
          for (int64_t c = 0; c < K; ++c)
            v[size_t(r * K + c)] = fp8e4m3_to_f32(uint8_t(t.data[r * K + c])) * element_as_f32(s, (r / 128) * nbc + c / 128);
        keep.push_back(std::move(v));
        tw.push_back({name, DType::F32, t.shape, keep.back().data(), keep.back().size() * 4});
      } else {
        tw.push_back({name, t.dtype, t.shape, t.data, t.nbytes});
      }
    }
    write_safetensors(f + "/model.safetensors", tw);
    ModelConfig twin = cfg;
    twin.quantization_config.reset();
    write_file_atomic(f + "/config.json", model_config_to_json(twin).dump());
  }
  auto mq = Model::load(q);
  auto mf = Model::load(f);
  std::vector<int32_t> ids{5, 9, 200, 31, 8, 77};
  auto a = full_logits(*mq, ids, MlaPath::kNaive);
  auto b = full_logits(*mf, ids, MlaPath::kNaive);
  EXPECT_LT(rel_diff(b, a), 1e-5);
  std::filesystem::remove_all(q);
  std::filesystem::remove_all(f);
}

}  // namespace
}  // namespace dsv3

namespace dsv3 {
namespace {

// A checkpoint whose config declares MTP but whose MTP tensors were stripped still loads.
TEST(ModelLoad, StrippedMtpLayerDisablesMtp) {
  const std::string d = test::make_temp_dir("nomtp");
  ModelConfig cfg = preset_config("tiny", 1, false);
  {
    ModelConfig no_mtp = preset_config("tiny", 0, false);
    write_random_checkpoint(d, no_mtp, {3});
    write_file_atomic(d + "/config.json", model_config_to_json(cfg).dump());
  }
  auto m = Model::load(d);
  EXPECT_EQ(m->num_mtp(), 0);
  EXPECT_EQ(m->cache_layers(), cfg.num_hidden_layers);
  std::filesystem::remove_all(d);
}

TEST(ModelLoad, MissingTensorIsNamed) {
  const std::string d = test::make_temp_dir("missing");
  write_random_checkpoint(d, preset_config("tiny", 0, false), {3});
  // Drop one tensor from the index: the error must name it.
  auto idx = nlohmann::json::parse(std::ifstream(d + "/model.safetensors.index.json"));
  idx["weight_map"].erase("model.layers.1.self_attn.kv_b_proj.weight");
  write_file_atomic(d + "/model.safetensors.index.json", idx.dump());
  try {
    Model::load(d);
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.1.self_attn.kv_b_proj.weight"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(d);
}

}  // namespace
}  // namespace dsv3
