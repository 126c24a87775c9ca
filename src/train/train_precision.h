// Mixed-precision training by emulation on CPU: the optimizer keeps f32 master weights; each
// step the forward and backward run on a working copy of them rounded as the precision says,
// and the gradients (taken with respect to the working copy, i.e. straight through the
// rounding) update the masters.
//   fp32  the working copy is the master (no copy).
//   bf16  every tensor rounded to bf16 (round to nearest even), except e_score_correction_bias,
//         which stays f32 as in DeepSeek-V3's release.
//   fp8   DeepSeek-V3 report section 3.3, emulated: values are rounded to what FP8 can hold,
//         then the existing f32 GEMMs (f32 accumulation) run on them.
//         Weights: the linear layers (attention projections q_a/q_b/q/kv_a/kv_b/o, dense MLP
//         gate/up/down, routed and shared experts: WeightSpec::quantizable) are fake-quantised
//         to e4m3 in 128×128 blocks (scale = block amax / 448, value = e4m3(w / scale) · scale);
//         the components the report keeps in higher precision — embeddings, output heads,
//         MoE router, RMSNorm weights, MTP eh_proj — are rounded to bf16, the bias stays f32.
//         Activations (TrainModel's fp8_activations; grad_ops.h linear_dgrad/linear_wgrad):
//         the three GEMMs of each of those linear layers take e4m3 operands with fine-grained
//         scales, each operand tiled along the dimension the GEMM sums over (report 3.3.2):
//           Fprop  y   = Q1x128(x) · Wᵀ          x per token per 128 channels
//           Dgrad  dx += Q1x128(dy) · W           dy per token per 128 output channels
//           Wgrad  dW += Q128x1(dy)ᵀ · Q128x1(x̂)  both per channel per 128 tokens
//         with x̂ = Q1x128(x), the FP8 activation the forward saved (the layer keeps only x̂).
//         Token tiles run over the rows of each GEMM call: one sequence in MLA (it runs per
//         sequence), the micro-batch in the dense MLP, an expert's gathered tokens in MoE.
//         Why this scheme: the report stores the forward activation as 1×128 FP8 tiles and,
//         for the backward, reads it out, dequantises, transposes and re-quantises it into
//         128×1 tiles (3.5.2, transposed GEMMs), so Wgrad's x is Q128x1(x̂), not a fresh
//         quantisation of the f32 x (TransformerEngine's Float8BlockScaling quantises the
//         columnwise copy from the high-precision x instead); every tensor, gradients
//         included, is e4m3 (3.3.2). Gradients are straight through: taken with respect to
//         the quantised operands. Not emulated: power-of-2 scales of the dispatched MoE
//         activations and E5M6 caching of o_proj's input (3.3.3). Left in f32: the attention
//         core (scores, softmax, P·V), RoPE, norms, SwiGLU, and the lm_head, MTP head,
//         eh_proj and router GEMMs (on their bf16 weights). Evaluation (validation loss) runs
//         the same fp8 forward. fp32, bf16, the double-precision gradient checks and
//         `dsv3 grad` never quantise activations (bit for bit the code without them).
#pragma once
#include <cstdint>

#include "train/fp8_quant.h"
#include "train/train_config.h"
#include "train/train_model.h"

namespace dsv3 {

// work = round(master) as above (same config). Not used for fp32.
void make_working_params(const ParamSet<float>& master, Precision p, ParamSet<float>& work);

}  // namespace dsv3
