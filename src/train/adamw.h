// AdamW (Loshchilov & Hutter: decoupled weight decay) over f32 master weights, exactly
// torch.optim.AdamW's single-tensor update (torch 1.13, foreach=False):
//   p ← p·(1 − lr·wd);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
//   p ← p − lr/(1−β1ᵗ) · m / (sqrt(v)/sqrt(1−β2ᵗ) + ε)
// plus torch.nn.utils.clip_grad_norm_'s global-norm clipping. Parameters and gradients are one
// flat buffer each (llm.c); named spans of it say which tensor is where and whether it decays.
// The state is flat named f32 buffers so a trainer can checkpoint and resume bit-identically.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace dsv3 {

struct AdamWConfig {  // DeepSeek-V3 report section 4.2 uses β1 = 0.9, β2 = 0.95, wd = 0.1
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1;
};

// One parameter tensor inside the flat buffer; decay = false exempts it from weight decay.
struct ParamSpan {
  std::string name;  // Hugging Face tensor name
  int64_t offset = 0, size = 0;
  bool decay = true;
};

// The default decay mask: no decay on norm weights (…norm.weight, …layernorm.weight) or
// biases (…bias, e.g. e_score_correction_bias); decay on every matrix and the embeddings.
bool default_weight_decay(const std::string& name);

struct NamedBuffer {
  std::string name;
  std::vector<float> data;
};

class AdamW {
 public:
  // Spans must not overlap and names must be unique (checked).
  AdamW(const AdamWConfig& cfg, std::vector<ParamSpan> spans);

  // One update of every span of params from grads (both flat, at least size() floats) at
  // learning rate lr (lr_schedule.h). Increments the step count first (t = 1 at the first step).
  void step(float* params, const float* grads, double lr);

  int64_t steps() const { return t_; }
  int64_t size() const { return size_; }  // floats covered: max(offset + size) over spans
  const std::vector<ParamSpan>& spans() const { return spans_; }

  // State as named f32 buffers: "adamw.step" [1] (exact below 2^24 steps), then for every span
  // "<name>.exp_avg" and "<name>.exp_avg_sq" [size]. load_state needs exactly these names and
  // sizes (errors name the buffer) and restores bit-identically.
  std::vector<NamedBuffer> state() const;
  void load_state(const std::vector<NamedBuffer>& buffers);

 private:
  AdamWConfig cfg_;
  std::vector<ParamSpan> spans_;
  int64_t size_ = 0, t_ = 0;
  std::vector<float> m_, v_;  // same layout as the parameters
};

// Global L2 norm of grads[0..n) (summed in double); when max_norm > 0, scales grads by
// min(1, max_norm / (norm + 1e-6)) as torch.nn.utils.clip_grad_norm_. Returns the norm before
// clipping (for metrics).
double clip_grad_norm(float* grads, int64_t n, double max_norm);

}  // namespace dsv3
