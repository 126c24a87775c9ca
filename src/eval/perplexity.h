// Accuracy of a model on a text, and of a (quantised) model against a reference model:
// perplexity and KL divergence of next-token distributions over sliding windows.
//
// Windows follow Hugging Face's "perplexity of fixed-length models" recipe: window i covers
// tokens [i·stride, i·stride + ctx); it scores only the tokens the previous window did not
// (the rest is context), so every token from index 1 on is scored exactly once, each
// predicted with up to ctx - 1 tokens of context (stride = ctx: disjoint windows, whose
// first token has no prediction and is not scored).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/transformer.h"

namespace dsv3 {

struct EvalWindow {
  int64_t begin = 0, end = 0;  // tokens fed: [begin, end)
  int64_t first = 0;           // tokens scored: [first, end), each from the logits one before
};

// The windows over n tokens. Throws unless ctx >= 2 and 1 <= stride <= ctx.
std::vector<EvalWindow> eval_windows(int64_t n, int64_t ctx, int64_t stride);

struct PerplexityResult {
  int64_t tokens = 0, windows = 0;
  double nll = 0;  // mean negative log-likelihood (nats per token)
  double ppl = 0;  // exp(nll)
};

struct KlResult {
  int64_t tokens = 0, windows = 0;
  double kl = 0;           // mean KL(ref ‖ model) in nats per token
  double kl_max = 0;       // largest per-token KL
  double top1_agree = 0;   // share of positions where both argmaxes agree
  PerplexityResult model, ref;
};

// How a window's logits are computed: one prefill forward (tiled matmuls, naive attention),
// or token by token through the latent cache as generation decodes (row matmuls, absorbed
// attention; with int8/int4 weights this is the path that quantises activations).
enum class EvalMode { kPrefill, kDecode };

// Next-token logits [end - begin, V] of one window from a fresh cache whose rows are stored
// as `kv`. The lm_head runs on the tiled matmul path: accuracy evaluation needs no batch
// invariance.
std::vector<float> window_logits(const Model& m, const std::vector<int32_t>& ids, const EvalWindow& w,
                                 EvalMode mode = EvalMode::kPrefill, LatentFormat kv = LatentFormat::kF32);

PerplexityResult perplexity(const Model& m, const std::vector<int32_t>& ids, int64_t ctx, int64_t stride,
                            EvalMode mode = EvalMode::kPrefill, LatentFormat kv = LatentFormat::kF32);

// Both models must share the vocabulary size. `kv` is the cache format of `m`; the reference
// always runs with an f32 cache (so `--model M --ref M --kv-cache fp8` measures the cache).
KlResult kl_divergence(const Model& m, const Model& ref, const std::vector<int32_t>& ids, int64_t ctx, int64_t stride,
                       EvalMode mode = EvalMode::kPrefill, LatentFormat kv = LatentFormat::kF32);

}  // namespace dsv3
