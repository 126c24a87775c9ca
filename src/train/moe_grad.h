// DeepSeekMoE for training (report section 2.1.2):
//   logits = x·W_gateᵀ; s = sigmoid(logits) (V3) | softmax(logits) (V2)
//   chosen experts: moe_gate's selection (s + e_score_correction_bias, n_group/topk_group limiting)
//   g_k = s_{e_k} [/ Σ_j s_{e_j} when norm_topk_prob] [× routed_scaling_factor] (rules: moe_gate.h)
//   y = Σ_k g_k · expert_{e_k}(x) + shared_experts(x)
// The selection is not differentiated; gradients reach the router through the gate weights of
// the chosen experts (including the normalisation) and, optionally, through extra gradients on
// all scores s (the sequence-wise balance loss, balance_loss.h). Backward ADDS into every
// gradient and into d_x (the caller zeroes them). Templated over F ∈ {float, double}.
#pragma once
#include <cstdint>
#include <vector>

#include "format/model_config.h"
#include "train/mlp_grad.h"

namespace dsv3 {

template <class F>
struct MoeParams {
  const F* gate = nullptr;                 // mlp.gate.weight [E, D]
  const float* bias = nullptr;             // mlp.gate.e_score_correction_bias [E] (f32, noaux_tc); else null
  // FP8 activations (precision fp8) are the experts' MlpParams::fp8: each expert quantises its
  // gathered tokens' GEMM operands; the router GEMM and saved x stay unquantised.
  std::vector<MlpParams<F>> experts;       // mlp.experts.{e}.*, width I = moe_intermediate_size
  bool has_shared = false;
  MlpParams<F> shared;                     // mlp.shared_experts.*, width I·n_shared_experts
};

template <class F>
struct MoeGrads {
  F* gate = nullptr;                       // [E, D]
  std::vector<MlpGrads<F>> experts;        // E
  MlpGrads<F> shared;                      // used when MoeParams::has_shared
};

template <class F>
struct MoeSaved {
  int64_t N = 0, K = 0;
  std::vector<F> x;                          // [N, D] input (router gradient)
  std::vector<F> scores;                     // [N, E] unbiased s
  std::vector<int32_t> expert;               // [N, K] chosen experts (the selection)
  std::vector<F> weight;                     // [N, K] gate weights g
  std::vector<std::vector<int64_t>> tokens;  // per expert: flattened (t·K + k) slots routed to it
  std::vector<MlpSaved<F>> expert_saved;     // per expert, over its gathered tokens
  std::vector<std::vector<F>> expert_out;    // per expert [n_e, D] expert outputs (gate-weight gradient)
  MlpSaved<F> shared_saved;
};

// Router health for metrics (issue 4 item 6).
struct MoeStats {
  std::vector<int64_t> load;  // [E] tokens routed to each expert in this call
  double entropy = 0;         // mean over tokens of −Σ_e p_e·ln p_e, p = s / Σ s
  double max_load = 0;        // max_e load
  double mean_load = 0;       // N·K / E
};

// y[N, D] = MoE(x) (overwrites y); fills saved and returns load and router statistics.
template <class F>
MoeStats moe_forward(const MoeParams<F>& w, const ModelConfig& c, const F* x, int64_t N, F* y, MoeSaved<F>& saved);

// Adds dL/dθ into d and dL/dx into d_x[N, D] given d_y[N, D]. d_scores [N, E] (nullable) is an
// extra gradient on the unbiased scores s from another loss (balance_loss_backward).
template <class F>
void moe_backward(const MoeParams<F>& w, const ModelConfig& c, const MoeSaved<F>& saved, const F* d_y,
                  const F* d_scores, const MoeGrads<F>& d, F* d_x);

}  // namespace dsv3
