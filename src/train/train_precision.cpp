#include "train/train_precision.h"

#include <algorithm>
#include <cmath>

#include "core/dtype.h"

namespace dsv3 {

namespace {

inline float round_bf16(float x) { return bf16_to_f32(f32_to_bf16(x)); }

// One block [r0, r1) × [c0, c1) of a row-major matrix with `cols` columns.
void quantize_block(float* w, int64_t cols, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  float amax = 0.0f;
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t c = c0; c < c1; ++c) amax = std::max(amax, std::fabs(w[r * cols + c]));
  if (amax == 0.0f) return;
  const float scale = amax / 448.0f;  // e4m3 max finite value
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t c = c0; c < c1; ++c) w[r * cols + c] = fp8e4m3_to_f32(f32_to_fp8e4m3(w[r * cols + c] / scale)) * scale;
}

}  // namespace

void quantize_tiles_e4m3(float* x, int64_t rows, int64_t cols, int64_t tile) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c0 = 0; c0 < cols; c0 += tile) quantize_block(x, cols, r, r + 1, c0, std::min(cols, c0 + tile));
}

void quantize_blocks_e4m3(float* w, int64_t rows, int64_t cols, int64_t br, int64_t bc) {
  for (int64_t r0 = 0; r0 < rows; r0 += br)
    for (int64_t c0 = 0; c0 < cols; c0 += bc) quantize_block(w, cols, r0, std::min(rows, r0 + br), c0, std::min(cols, c0 + bc));
}

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
