// Single-sequence incremental decoding: one prefill over the prompt, then one token per step
// through the latent cache (absorbed MLA). The serving engine batches many of these.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/transformer.h"
#include "runtime/sampler.h"

namespace dsv3 {

struct GenerateRequest {
  std::vector<int32_t> prompt;
  int64_t max_new_tokens = 16;
  SamplingParams sampling;
  std::vector<int32_t> stop_ids;  // generation ends after emitting one of these (EOS)
  // MTP speculative decoding (speculative.h): draft this many tokens per step with the MTP
  // module(s) and verify them in one forward. 0: plain decoding.
  int64_t speculative_draft = 0;
  // Relaxed acceptance in reasoning (greedy speculative decoding only; TensorRT-LLM's
  // use_relaxed_acceptance_for_thinking with relaxed_topk / relaxed_delta): while inside a
  // think_begin .. think_end block, a draft that is not the argmax is still accepted when it
  // ranks among the relaxed_topk most probable tokens of its verification row and its
  // probability is at least p(top-1) − relaxed_delta. The think tokens themselves are only
  // ever accepted exactly. relaxed_topk <= 1: exact matching everywhere (output = plain greedy).
  int64_t relaxed_topk = 1;
  float relaxed_delta = 0.0f;
  int32_t think_begin = -1, think_end = -1;
  LatentFormat kv_cache = LatentFormat::kF32;  // latent cache row format (--kv-cache)
};

struct GenerateResult {
  std::vector<int32_t> tokens;
  std::string finish_reason;  // "stop" (stop id or callback) or "length"
  double prefill_seconds = 0, decode_seconds = 0;
  // Speculative decoding only: drafted tokens, accepted drafts, verification forwards.
  int64_t drafted = 0, accepted = 0, verify_steps = 0;
  int64_t accepted_relaxed = 0;  // of `accepted`, drafts taken by the relaxed rule
};

// Context length of a model: max_position_embeddings.
int64_t context_length(const Model& m);

// on_token is called with each generated id as soon as it is chosen; returning false stops.
// Throws Error when the prompt is empty or does not fit the context.
GenerateResult generate(const Model& m, const GenerateRequest& req,
                        const std::function<bool(int32_t)>& on_token = {});

}  // namespace dsv3
