// Rotary position embedding with YaRN context extension (DeepSeek-V2 report appendix,
// config field rope_scaling). Applied to the decoupled rope parts q_pe and k_pe (Dr dims).
//
// Pairing: Hugging Face DeepSeek checkpoints store rope dims interleaved, so dims (2i, 2i+1)
// rotate together by angle pos·inv_freq[i] (official inference/model.py treats them as
// complex pairs; transformers de-interleaves first, which gives the same dot products).
#pragma once
#include <cstdint>
#include <vector>

#include "format/model_config.h"

namespace dsv3 {

// yarn_get_mscale from the reference code: 0.1·mscale·ln(factor) + 1 when factor > 1.
double yarn_mscale(double factor, double mscale);

class Rope {
 public:
  explicit Rope(const ModelConfig& c);
  int64_t dim() const { return dim_; }
  // Rotates x[0..Dr) in place for position pos.
  void apply(float* x, int64_t pos) const;
  // The rotation of position pos, cs[2i] = cos, cs[2i+1] = sin (YaRN scale included), computed
  // once for all vectors of a position: q_pe of every head and k_pe (128 + 1 rotations per row
  // in DeepSeek-V3). rotate(x, cs) gives exactly apply(x, pos).
  void cos_sin(int64_t pos, float* cs) const;
  void rotate(float* x, const float* cs) const;
  // Attention softmax scale: 1/sqrt(qk_head_dim) · mscale(factor, mscale_all_dim)².
  float softmax_scale() const { return softmax_scale_; }
  const std::vector<float>& inv_freq() const { return inv_freq_; }

 private:
  int64_t dim_;
  std::vector<float> inv_freq_;  // [Dr/2]
  float cos_sin_scale_ = 1.0f;   // mscale(factor, mscale) / mscale(factor, mscale_all_dim)
  float softmax_scale_;
};

}  // namespace dsv3
