// The DeepSeek-V3 transformer (report section 2): embedding → L decoder blocks (MLA +
// dense MLP for l < first_k_dense_replace, DeepSeekMoE after) → RMSNorm → lm_head, plus
// the MTP modules of section 2.2.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "format/model_config.h"
#include "format/safetensors.h"
#include "model/latent_cache.h"
#include "model/mla.h"
#include "model/model_weights.h"
#include "model/rope.h"

namespace dsv3 {

// h [T, D] is the residual stream, updated in place:
//   h += MLA(RMSNorm(h));  h += FFN(RMSNorm(h)).
void block_forward(const LayerWeights& w, const ModelConfig& c, const Rope& rope, float* h, int64_t T,
                   int64_t pos0, const LatentRows& cache, MlaPath path = MlaPath::kAuto);
// The same over many sequences (mla_forward_batch): rows [0, n_prefill) are prefill rows.
void block_forward_batch(const LayerWeights& w, const ModelConfig& c, const Rope& rope, float* h, int64_t T,
                         int64_t n_prefill, const std::vector<MlaSlice>& slices);

// One sequence's part of a batched step.
struct BatchSlice {
  int64_t row0 = 0, len = 0;  // rows [row0, row0 + len) of the step's tokens
  int64_t pos0 = 0;           // position of its first token
  const std::vector<LatentRows>* cache = nullptr;  // the sequence's cache, one per cache layer
};

class Model {
 public:
  // Loads DIR/config.json and the safetensors weights, mapped or copied into huge pages as
  // DSV3_WEIGHTS_MEMORY says (core/residency_policy.h), or as `policy` says: callers that
  // read every weight once (info, initialising training) map them.
  static std::unique_ptr<Model> load(const std::string& dir);
  static std::unique_ptr<Model> load(const std::string& dir, ResidencyPolicy policy);

  const ModelConfig& config() const { return cfg_; }
  const ModelWeights& weights() const { return *w_; }
  const Rope& rope() const { return rope_; }
  const std::string& dir() const { return dir_; }
  const Checkpoint& checkpoint() const { return *ckpt_; }
  int64_t vocab_size() const { return cfg_.vocab_size; }
  int64_t hidden_size() const { return cfg_.hidden_size; }
  int64_t num_mtp() const { return int64_t(w_->mtp.size()); }
  // Cache layers: the L main layers, then one per MTP module.
  int64_t cache_layers() const { return cfg_.num_hidden_layers + num_mtp(); }
  int64_t cache_width() const { return cfg_.kv_lora_rank + cfg_.qk_rope_head_dim; }
  LatentLayout cache_layout(LatentFormat f = LatentFormat::kF32) const {
    return {f, cfg_.kv_lora_rank, cfg_.qk_rope_head_dim};
  }

  // Runs tokens ids[0..T) at positions pos0.. through the main layers, appending to the
  // cache (cache[l] for layer l). Writes the final-normalised hidden states [T, D] to
  // `hidden` (the lm_head input, and the h fed to MTP module 1).
  void forward(const int32_t* ids, int64_t T, int64_t pos0, const std::vector<LatentRows>& cache,
               float* hidden, MlaPath path = MlaPath::kAuto) const;
  // Many sequences in one pass (the serving engine): rows [0, n_prefill) are prompt chunks
  // (tiled matmuls, naive attention), the rest decode tokens (row matmuls, absorbed
  // attention); a row's result does not depend on the other slices. forward() is this with
  // one slice, prefill when T > 1 or path is kNaive.
  void forward_batch(const int32_t* ids, int64_t T, int64_t n_prefill, const std::vector<BatchSlice>& slices,
                     float* hidden) const;
  // logits[T, V] = lm_head(hidden[T, D]), each row on the row-streaming matmul path (so a
  // row's logits do not depend on T).
  void logits(const float* hidden, int64_t T, float* out) const;

  // MTP module k (1-based): row i combines h[i] (previous depth's hidden at position pos0+i)
  // with the embedding of next_ids[i] (the token at position pos0+i+1) through
  // eh_proj(concat(enorm(emb), hnorm(h))) and one decoder block (cache[L + k - 1]).
  // Writes the block output [T, D] to h_out (the next depth's h) and, if logits_out is not
  // null, shared_head.head(shared_head.norm(h_out)) [T, V].
  void mtp_forward(int64_t k, const float* h, const int32_t* next_ids, int64_t T, int64_t pos0,
                   const std::vector<LatentRows>& cache, float* h_out, float* logits_out,
                   MlaPath path = MlaPath::kAuto) const;

  // shared_head.head(shared_head.norm(h_out)) [T, V] of MTP module k, on the row path.
  void mtp_logits(int64_t k, const float* h_out, int64_t T, float* out) const;
  // mtp_forward over many sequences' rows in one pass (as forward_batch): rows [0, n_prefill)
  // are prefill rows; slice i's rows are h/next_ids rows [row0, row0 + len) at positions
  // pos0..; each writes the module's cache layer of its own sequence. No logits.
  void mtp_forward_batch(int64_t k, const float* h, const int32_t* next_ids, int64_t T, int64_t n_prefill,
                         const std::vector<BatchSlice>& slices, float* h_out) const;

  // Embedding rows of `table` for ids (bounds-checked against the vocabulary).
  void embed(const WeightMatrix& table, const int32_t* ids, int64_t T, float* out) const;

 private:
  Model(ModelConfig cfg, std::unique_ptr<Checkpoint> ckpt, std::string dir);

  ModelConfig cfg_;
  std::unique_ptr<Checkpoint> ckpt_;
  std::unique_ptr<ModelWeights> w_;
  Rope rope_;
  std::string dir_;
};

}  // namespace dsv3
