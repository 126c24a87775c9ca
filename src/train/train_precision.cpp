#include "train/train_precision.h"

#include <algorithm>

#include "core/dtype.h"

namespace dsv3 {

namespace {

inline float round_bf16(float x) { return bf16_to_f32(f32_to_bf16(x)); }

}  // namespace

void make_working_params(const ParamSet<float>& master, Precision p, ParamSet<float>& work) {
  for (size_t i = 0; i < master.size(); ++i) {
    const WeightSpec& s = master.specs()[i];
    const float* src = master.tensor(i);
    float* dst = work.tensor(i);
    const int64_t n = master.numel(i);
    if (s.role == WeightRole::kBias || p == Precision::kFp32) {
      std::copy(src, src + n, dst);
    } else if (p == Precision::kFp8 && s.quantizable()) {
      std::copy(src, src + n, dst);
      quantize_blocks_e4m3(dst, s.shape[0], s.shape[1]);
    } else {
      for (int64_t j = 0; j < n; ++j) dst[j] = round_bf16(src[j]);
    }
  }
}

}  // namespace dsv3
