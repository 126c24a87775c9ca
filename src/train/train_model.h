// Whole-model training forward and backward (DeepSeek-V3 report sections 2.1-2.2):
//   embedding → L blocks (MLA + dense SwiGLU MLP or DeepSeekMoE) → final RMSNorm → lm_head → CE,
//   MTP modules k = 1..Dm wired as src/model/transformer.cpp mtp_forward, and
//   loss = CE + λ·(1/Dm)·Σ_k CE_k + Σ_{MoE layers} L_bal(α).
//
// Parameters live in one flat allocation per ParamSet (llm.c): every tensor of
// weight_specs(cfg) under its Hugging Face name; gradients use the same layout.
// Templated over F ∈ {float, double} (training runs float; whole-model gradient checks double).
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "format/model_config.h"
#include "model/rope.h"
#include "model/transformer.h"
#include "model/weight_registry.h"
#include "train/grad_ops.h"
#include "train/mla_grad.h"
#include "train/mlp_grad.h"
#include "train/moe_grad.h"

namespace dsv3 {

// One F per element of every tensor of weight_specs(cfg), in registry order, contiguous.
// e_score_correction_bias is stored like the others (f32 values in a float set) but is not
// trained by gradients: its gradient entry is always zero (report 2.1.2: it only steers the
// selection; it moves by the bias-update rule, not by backprop).
template <class F>
class ParamSet {
 public:
  explicit ParamSet(const ModelConfig& c);
  const std::vector<WeightSpec>& specs() const { return specs_; }
  size_t size() const { return specs_.size(); }
  int64_t numel(size_t i) const { return offsets_[i + 1] - offsets_[i]; }
  int64_t offset(size_t i) const { return offsets_[i]; }  // of tensor i in data()
  F* tensor(size_t i) { return data_.data() + offsets_[i]; }
  const F* tensor(size_t i) const { return data_.data() + offsets_[i]; }
  // The tensor called `name`; throws naming it when absent. find() returns null instead.
  F* get(const std::string& name) { return tensor(index(name)); }
  const F* get(const std::string& name) const { return tensor(index(name)); }
  F* find(const std::string& name);
  const F* find(const std::string& name) const;
  std::vector<F>& data() { return data_; }
  const std::vector<F>& data() const { return data_; }
  void zero();

 private:
  size_t index(const std::string& name) const;
  std::vector<WeightSpec> specs_;
  std::vector<int64_t> offsets_;  // [size() + 1]
  std::map<std::string, size_t> index_;
  std::vector<F> data_;
};

// The config a loaded model trains with: num_nextn_predict_layers = the MTP modules it holds
// (checkpoints with stripped MTP layers train without MTP).
ModelConfig training_config(const Model& m);
// Every tensor of the model dequantised (dequantize_row; FP8 block scales applied) into a
// ParamSet of training_config(m). MTP layers without their own embed_tokens/shared_head.head
// get copies of the main ones.
template <class F>
ParamSet<F> load_params(const Model& m);
// Writes every tensor of p as F32 safetensors under its Hugging Face name (atomic).
template <class F>
void save_params_f32(const ParamSet<F>& p, const std::string& path,
                     const std::map<std::string, std::string>& metadata = {});

struct LossOptions {
  double mtp_lambda = 0.0;  // λ, MTP loss weight (report eq. 25)
  double aux_alpha = 0.0;   // α, sequence-wise balance loss weight (report eq. 17-20)
};

struct LossValues {
  double total = 0.0;    // ce + λ·mtp + balance
  double ce = 0.0;       // mean next-token CE over the B·(T-1) predicted positions
  double mtp = 0.0;      // (1/Dm)·Σ_k CE_k, each the mean over that module's predicted positions
  double balance = 0.0;  // Σ over MoE layers (main and MTP blocks) of α·Σ_i f_i·P_i, mean over sequences
  std::vector<MoeStats> moe;  // per MoE layer in forward order (main layers, then MTP blocks)
};

template <class F>
class TrainModel {
 public:
  // c: the model's config (see training_config); MTP depth Dm = c.num_nextn_predict_layers.
  // fp8_activations: the GEMMs of every FP8-weight linear (attention projections, dense MLP,
  // routed and shared experts; WeightSpec::quantizable) take FP8 operands as precision fp8
  // prescribes (train_precision.h); lm_head, MTP heads, eh_proj and the router stay f32.
  explicit TrainModel(const ModelConfig& c, bool fp8_activations = false);
  const ModelConfig& config() const { return cfg_; }

  // ids [B, T] row-major (B sequences of T ≥ 2 tokens at positions 0..T-1). Computes the loss
  // and keeps every activation the backward needs (and the d_logits of each head).
  LossValues forward(const ParamSet<F>& p, const int32_t* ids, int64_t B, int64_t T, const LossOptions& o);
  // ADDS ∂total/∂θ into g (same config as p; the caller zeroes it). Uses the last forward.
  void backward(const ParamSet<F>& p, ParamSet<F>& g);

  struct Block;  // per-layer saved activations (train_model.cpp)
  struct Mtp;    // per-MTP-module saved activations
  ~TrainModel();

 private:
  ModelConfig cfg_;
  Rope rope_;
  bool fp8_activations_ = false;
  std::unique_ptr<RopeTable<F>> table_;
  LossOptions opt_;
  int64_t B_ = 0, T_ = 0;
  std::vector<int32_t> ids_;
  std::deque<std::vector<float>> bias_f32_;  // MoeParams::bias is f32 whatever F is
  // Main model.
  std::vector<std::unique_ptr<Block>> blocks_;
  std::vector<F> h_final_, final_rstd_, hn_, d_logits_;
  std::vector<std::unique_ptr<Mtp>> mtp_;
};

}  // namespace dsv3
