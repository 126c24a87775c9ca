// MTP speculative decoding (DeepSeek-V3 report section 2.2, "MTP in inference"; the
// acceptance rule of Leviathan et al. 2023 / Chen et al. 2023 for sampling).
//
// Each step drafts N tokens with MTP module 1: it takes the main model's last hidden state
// and the token just chosen and predicts the one after; further drafts reuse module 1
// autoregressively (fed its own output and the previous draft, one position further), as
// vLLM does. DeepSeek-V3/R1 ship one module; deeper modules are not used for drafting.
// The main model then verifies [last token, drafts] in one forward.
// The verification rows run with decode numerics (row-path matmuls, absorbed attention), so
// each row's logits are bit-identical to plain one-token decoding: greedy output is exactly
// plain decoding's. Greedy accepts drafts while they equal the argmax; sampling accepts d
// with probability min(1, p(d)/q(d)) and on rejection draws from max(0, p − q) renormalised,
// which leaves the output distribution unchanged. Rows of rejected drafts stay in the cache
// past the current position and are overwritten before they are ever attended to.
#pragma once
#include <functional>
#include <utility>
#include <vector>

#include "runtime/generator.h"
#include "runtime/sampler.h"

namespace dsv3 {

// The relaxed rule for one verification row: `draft` ranks among the `topk` largest logits
// (ties in its favour) and softmax(logits)[draft] >= softmax(logits)[top-1] − delta.
bool relaxed_accepts(const float* logits, int64_t V, int32_t draft, int64_t topk, float delta);

// A draft token from the MTP module's logits: the argmax for a greedy sampler, else a draw
// from the sampler's own filtered distribution q, appended to `q` for accept_or_resample.
int32_t draw_draft(Sampler& sampler, const float* logits, int64_t V,
                   std::vector<std::vector<std::pair<int32_t, float>>>& q);

// The sampling rule for one verification row (Leviathan et al. 2023, Chen et al. 2023): the
// draft d was drawn from q; accept it with probability min(1, p(d)/q(d)), p the sampler's
// distribution of `logits`; on rejection draw from max(0, p − q) renormalised. Returns the
// token to emit (d when accepted) and sets *accepted. The output keeps distribution p.
int32_t accept_or_resample(Sampler& sampler, const float* logits, int64_t V, int32_t d,
                           const std::vector<std::pair<int32_t, float>>& q, bool* accepted);

// generate() with req.speculative_draft > 0. Throws Error when the model has no MTP module.
GenerateResult generate_speculative(const Model& m, const GenerateRequest& req,
                                    const std::function<bool(int32_t)>& on_token);

}  // namespace dsv3
