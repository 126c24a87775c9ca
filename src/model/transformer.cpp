#include "model/transformer.h"

#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "kernels/matmul.h"
#include "model/moe.h"
#include "model/ops.h"

namespace dsv3 {

namespace {
// Prefill (tiled matmuls, naive attention) unless the path asks for absorbed attention or a
// single token runs on the automatic path (decode).
int64_t prefill_rows(int64_t T, MlaPath path) {
  if (path == MlaPath::kAuto) path = T > 1 ? MlaPath::kNaive : MlaPath::kAbsorbed;
  return path == MlaPath::kNaive ? T : 0;
}
}  // namespace

void block_forward(const LayerWeights& w, const ModelConfig& c, const Rope& rope, float* h, int64_t T,
                   int64_t pos0, const LatentRows& cache, MlaPath path) {
  block_forward_batch(w, c, rope, h, T, prefill_rows(T, path), {MlaSlice{0, T, pos0, cache}});
}

void block_forward_batch(const LayerWeights& w, const ModelConfig& c, const Rope& rope, float* h, int64_t T,
                         int64_t n_prefill, const std::vector<MlaSlice>& slices) {
  const int64_t D = c.hidden_size;
  const float eps = float(c.rms_norm_eps);
  std::vector<float> normed(size_t(T * D)), delta(size_t(T * D));
  for (int64_t t = 0; t < T; ++t) rmsnorm(h + t * D, w.input_norm.data(), eps, D, &normed[size_t(t * D)]);
  mla_forward_batch(w.attn, c, rope, normed.data(), T, n_prefill, slices, delta.data());
  for (int64_t i = 0; i < T * D; ++i) h[i] += delta[size_t(i)];
  for (int64_t t = 0; t < T; ++t)
    rmsnorm(h + t * D, w.post_attention_norm.data(), eps, D, &normed[size_t(t * D)]);
  if (w.is_moe) moe_forward(w.moe, c, normed.data(), T, delta.data(), n_prefill);
  else mlp_forward(w.mlp, normed.data(), T, delta.data(), n_prefill);
  for (int64_t i = 0; i < T * D; ++i) h[i] += delta[size_t(i)];
}

Model::Model(ModelConfig cfg, std::unique_ptr<Checkpoint> ckpt, std::string dir)
    : cfg_(std::move(cfg)), ckpt_(std::move(ckpt)), w_(load_model_weights(*ckpt_, cfg_)), rope_(cfg_),
      dir_(std::move(dir)) {}

std::unique_ptr<Model> Model::load(const std::string& dir) { return load(dir, residency_policy_from_env()); }

std::unique_ptr<Model> Model::load(const std::string& dir, ResidencyPolicy policy) {
  std::error_code ec;
  DSV3_CHECK(std::filesystem::is_directory(dir, ec), "model directory ", dir, " does not exist");
  ModelConfig cfg = load_model_config(dir);
  auto ckpt = std::make_unique<Checkpoint>(dir, policy);
  return std::unique_ptr<Model>(new Model(std::move(cfg), std::move(ckpt), dir));
}

void Model::embed(const WeightMatrix& table, const int32_t* ids, int64_t T, float* out) const {
  for (int64_t t = 0; t < T; ++t) {
    DSV3_CHECK(ids[t] >= 0 && ids[t] < table.rows, "token id ", ids[t], " is outside the vocabulary [0, ",
               table.rows, ")");
    dequantize_row(table, ids[t], out + t * cfg_.hidden_size);
  }
}

void Model::forward(const int32_t* ids, int64_t T, int64_t pos0, const std::vector<LatentRows>& cache,
                    float* hidden, MlaPath path) const {
  forward_batch(ids, T, prefill_rows(T, path), {BatchSlice{0, T, pos0, &cache}}, hidden);
}

void Model::forward_batch(const int32_t* ids, int64_t T, int64_t n_prefill, const std::vector<BatchSlice>& slices,
                          float* hidden) const {
  const int64_t D = cfg_.hidden_size, L = cfg_.num_hidden_layers;
  for (const BatchSlice& s : slices)
    DSV3_CHECK(s.cache && int64_t(s.cache->size()) >= L, "forward: a slice has ", s.cache ? s.cache->size() : 0,
               " cache layers, the model needs ", L);
  embed(w_->embed, ids, T, hidden);
  std::vector<MlaSlice> layer_slices(slices.size());
  for (int64_t l = 0; l < L; ++l) {
    for (size_t i = 0; i < slices.size(); ++i)
      layer_slices[i] = MlaSlice{slices[i].row0, slices[i].len, slices[i].pos0, (*slices[i].cache)[size_t(l)]};
    block_forward_batch(w_->layers[size_t(l)], cfg_, rope_, hidden, T, n_prefill, layer_slices);
  }
  for (int64_t t = 0; t < T; ++t)
    rmsnorm(hidden + t * D, w_->final_norm.data(), float(cfg_.rms_norm_eps), D, hidden + t * D);
}

void Model::logits(const float* hidden, int64_t T, float* out) const {
  matmul_split(hidden, T, 0, w_->lm_head, out);
}

void Model::mtp_forward(int64_t k, const float* h, const int32_t* next_ids, int64_t T, int64_t pos0,
                        const std::vector<LatentRows>& cache, float* h_out, float* logits_out,
                        MlaPath path) const {
  if (path == MlaPath::kAuto) path = T > 1 ? MlaPath::kNaive : MlaPath::kAbsorbed;
  mtp_forward_batch(k, h, next_ids, T, path == MlaPath::kNaive ? T : 0, {BatchSlice{0, T, pos0, &cache}}, h_out);
  if (logits_out) {
    const MtpWeights& m = w_->mtp[size_t(k - 1)];
    const int64_t D = cfg_.hidden_size;
    std::vector<float> normed(size_t(T * D));
    for (int64_t t = 0; t < T; ++t)
      rmsnorm(h_out + t * D, m.head_norm.data(), float(cfg_.rms_norm_eps), D, &normed[size_t(t * D)]);
    matmul(normed.data(), T, m.head, logits_out);
  }
}

void Model::mtp_forward_batch(int64_t k, const float* h, const int32_t* next_ids, int64_t T, int64_t n_prefill,
                              const std::vector<BatchSlice>& slices, float* h_out) const {
  DSV3_CHECK(k >= 1 && k <= num_mtp(), "MTP module ", k, " requested but the model has ", num_mtp());
  const int64_t layer = cfg_.num_hidden_layers + k - 1;
  for (const BatchSlice& s : slices)
    DSV3_CHECK(s.cache && int64_t(s.cache->size()) > layer, "mtp_forward_batch: a slice has ",
               s.cache ? s.cache->size() : 0, " cache layers, MTP module ", k, " needs ", layer + 1);
  const MtpWeights& m = w_->mtp[size_t(k - 1)];
  const int64_t D = cfg_.hidden_size;
  const float eps = float(cfg_.rms_norm_eps);
  std::vector<float> emb(size_t(T * D)), cat(size_t(T * 2 * D));
  embed(m.embed, next_ids, T, emb.data());
  for (int64_t t = 0; t < T; ++t) {
    // Published checkpoints order the concat as [enorm(embedding) ; hnorm(hidden)].
    rmsnorm(&emb[size_t(t * D)], m.enorm.data(), eps, D, &cat[size_t(t * 2 * D)]);
    rmsnorm(h + t * D, m.hnorm.data(), eps, D, &cat[size_t(t * 2 * D + D)]);
  }
  matmul_split(cat.data(), T, n_prefill, m.eh_proj, h_out);
  std::vector<MlaSlice> layer_slices;
  for (const BatchSlice& s : slices) layer_slices.push_back(MlaSlice{s.row0, s.len, s.pos0, (*s.cache)[size_t(layer)]});
  block_forward_batch(m.block, cfg_, rope_, h_out, T, n_prefill, layer_slices);
}

void Model::mtp_logits(int64_t k, const float* h_out, int64_t T, float* out) const {
  DSV3_CHECK(k >= 1 && k <= num_mtp(), "MTP module ", k, " requested but the model has ", num_mtp());
  const MtpWeights& m = w_->mtp[size_t(k - 1)];
  const int64_t D = cfg_.hidden_size;
  std::vector<float> normed(size_t(T * D));
  for (int64_t t = 0; t < T; ++t)
    rmsnorm(h_out + t * D, m.head_norm.data(), float(cfg_.rms_norm_eps), D, &normed[size_t(t * D)]);
  matmul_split(normed.data(), T, 0, m.head, out);
}

}  // namespace dsv3
