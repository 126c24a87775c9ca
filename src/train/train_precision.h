// Mixed-precision training by emulation on CPU: the optimizer keeps f32 master weights; each
// step the forward and backward run on a working copy of them rounded as the precision says,
// and the gradients (taken with respect to the working copy, i.e. straight through the
// rounding) update the masters.
//   fp32  the working copy is the master (no copy).
//   bf16  every tensor rounded to bf16 (round to nearest even), except e_score_correction_bias,
//         which stays f32 as in DeepSeek-V3's release.
//   fp8   DeepSeek-V3 report section 3.3: the weights of the linear layers (attention
//         projections, dense and expert MLPs: WeightSpec::quantizable) are fake-quantised to
//         e4m3 in 128×128 blocks (scale = block amax / 448, value = e4m3(w / scale) · scale);
//         the components the report keeps in higher precision — embeddings, output heads,
//         MoE router, RMSNorm weights, MTP eh_proj — are rounded to bf16, the bias stays f32.
//         The GEMMs run in f32 on the dequantised values. Not yet emulated: the 1×128-tile
//         quantisation of linear-layer inputs (quantize_tiles_e4m3 implements it; wiring it in
//         needs a hook in the training GEMM calls of grad_ops/mlp_grad/moe_grad, which quantises
//         x of Y = X·Wᵀ, and the same x for dW = dYᵀ·X, whenever W is a quantizable weight).
#pragma once
#include <cstdint>

#include "train/train_config.h"
#include "train/train_model.h"

namespace dsv3 {

// work = round(master) as above (same config). Not used for fp32.
void make_working_params(const ParamSet<float>& master, Precision p, ParamSet<float>& work);

// In place: every 128-wide tile of each of the rows × cols values (row-major) becomes
// e4m3(x / s) · s with s = tile amax / 448 (report 3.3 fine-grained quantisation, 1×128).
void quantize_tiles_e4m3(float* x, int64_t rows, int64_t cols, int64_t tile = 128);
// In place: block-wise (br × bc) e4m3 fake quantisation of a [rows, cols] matrix.
void quantize_blocks_e4m3(float* w, int64_t rows, int64_t cols, int64_t br = 128, int64_t bc = 128);

}  // namespace dsv3
