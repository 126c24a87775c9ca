// Complementary sequence-wise balance loss, DeepSeek-V3 report section 2.1.2, eqs. 17-20.
// For each sequence of T tokens (E = N_r routed experts, K = K_r chosen per token):
//   f_i  = E / (K·T) · Σ_t 1[i ∈ TopK_t]          (a constant: no gradient)
//   s'_t = s_t / Σ_j s_{j,t}                       (s: unbiased router scores, moe_grad's saved.scores)
//   P_i  = (1/T) · Σ_t s'_{i,t}
//   L_b  = α · Σ_i f_i · P_i
// Reduction over the batch: L = (1/B) · Σ_b L_b (the mean over sequences), so the loss does not
// grow with the batch size. The selection TopK_t is the routing actually used (biased choice).
// The backward adds dL/ds into d_scores [N, E], which moe_backward carries into the router.
#pragma once
#include <cstdint>

namespace dsv3 {

// scores [B·T, E], expert [B·T, K] (rows of sequence b are b·T … b·T + T − 1). Returns L.
template <class F>
F balance_loss_forward(const F* scores, const int32_t* expert, int64_t B, int64_t T, int64_t E, int64_t K,
                       double alpha);

// d_scores[B·T, E] += d_loss · dL/ds.
template <class F>
void balance_loss_backward(const F* scores, const int32_t* expert, int64_t B, int64_t T, int64_t E, int64_t K,
                           double alpha, F d_loss, F* d_scores);

}  // namespace dsv3
