// Auxiliary-loss-free load balancing (DeepSeek-V3 report section 2.1.2): at the end of each
// training step, every expert's e_score_correction_bias b_i (used for selection only) moves by γ
// toward balanced load:
//   b_i ← b_i + γ · sign(mean_load − load_i),  mean_load = Σ_j load_j / E
// i.e. −γ when expert i was overloaded, +γ when underloaded, unchanged when exactly at the mean.
// load_i counts the tokens routed to expert i (each token counts once per expert in its top-K)
// over the whole step: every micro-batch of gradient accumulation and every sequence of the
// global batch (sum of MoeStats::load). The bias stays f32 (it is a buffer, not a trained weight).
#pragma once
#include <cstdint>

namespace dsv3 {

// Updates bias[E] in place from load[E]. The comparison is exact integer arithmetic
// (E·load_i vs Σ load), so an exactly balanced expert never moves.
void bias_update(float* bias, const int64_t* load, int64_t E, float gamma);

}  // namespace dsv3
