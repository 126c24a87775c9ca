// Dense SwiGLU MLP and the DeepSeekMoE layer (report section 2.1.2):
//   out = Σ_k g_k · expert_{e_k}(x) + Σ shared_experts(x)
// Tokens are grouped per expert so each expert's weights are read once per call.
// n_tiled (see matmul_split): rows [0, n_tiled) are prefill rows (tiled matmuls), the rest
// decode rows; -1 lets matmul choose by size.
#pragma once
#include <cstdint>

#include "format/model_config.h"
#include "model/model_weights.h"
#include "model/moe_gate.h"

namespace dsv3 {

// out[T, D] = down(silu(gate(x)) · up(x)) (overwrites out).
void mlp_forward(const MlpWeights& w, const float* x, int64_t T, float* out, int64_t n_tiled = -1);

// out[T, D] = MoE(x) (overwrites out). Returns the routing (for metrics and training).
Routing moe_forward(const MoeWeights& w, const ModelConfig& c, const float* x, int64_t T, float* out,
                    int64_t n_tiled = -1);

}  // namespace dsv3
