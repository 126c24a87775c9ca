// Log-probabilities of the model's next-token distribution (log-softmax of the raw logits,
// before temperature or filtering, as OpenAI's and vLLM's `logprobs` report them).
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace dsv3 {

// *chosen_logprob = log p(chosen); *top = the k most likely tokens, best first (ties: lower id).
void token_logprobs(const float* logits, int64_t n, int32_t chosen, int64_t k, float* chosen_logprob,
                    std::vector<std::pair<int32_t, float>>* top);

}  // namespace dsv3
