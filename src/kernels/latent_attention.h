// The two halves of absorbed MLA attention over a latent cache (DeepSeek-V3 report 2.1.1,
// "absorbed" form of DeepSeek-V2 2.1.3) for a group of query rows that share one sequence's
// cache, e.g. the N+1 verification rows of a speculative step:
//
//   latent_scores:       S[t, s] = scale · (q[t] · row_s)        s < n[t], q and rows W wide
//                        (q[t] = [W_UK,hᵀ q_nope ; q_pe], row_s = [c_kv ; k_pe]: one fused dot)
//   latent_weighted_sum: out[t] = Σ_{s < n[t]} P[t, s] · row_s[0:R]   (R = Rkv: the c_kv part)
//
// Each cache row is loaded once for all the query rows (they sit in L1 while every row uses
// them), instead of once per query row with a separate call per dot.
//
// Batch invariance: a row's result depends only on its own q, n and the cache, never on which
// other rows share the call: every (t, s) dot runs one fixed sequence of operations, and every
// out element sums over s in order. So a verification row equals the same token decoded alone.
#pragma once
#include <cstdint>

#include "kernels/isa.h"

namespace dsv3 {

// q: [T, W] (row stride W); rows[s]: W floats; n[t] in [1, max]; scores: [T, ld], ld >= max n.
void latent_scores(const float* q, int64_t T, const int64_t* n, const float* const* rows, int64_t W,
                   float scale, float* scores, int64_t ld);
void latent_scores_ref(const float* q, int64_t T, const int64_t* n, const float* const* rows, int64_t W,
                       float scale, float* scores, int64_t ld);
void latent_scores_with(Isa isa, const float* q, int64_t T, const int64_t* n, const float* const* rows,
                        int64_t W, float scale, float* scores, int64_t ld);

// p: [T, ld]; out: [T, R] (overwritten).
void latent_weighted_sum(const float* p, int64_t ld, int64_t T, const int64_t* n, const float* const* rows,
                         int64_t R, float* out);
void latent_weighted_sum_ref(const float* p, int64_t ld, int64_t T, const int64_t* n, const float* const* rows,
                             int64_t R, float* out);
void latent_weighted_sum_with(Isa isa, const float* p, int64_t ld, int64_t T, const int64_t* n,
                              const float* const* rows, int64_t R, float* out);

}  // namespace dsv3
