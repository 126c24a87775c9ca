#include "train/fp8_quant.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/dtype.h"

namespace dsv3 {

namespace {

constexpr float kE4m3Max = 448.0f;

// The e4m3 grid value of x at scale s (the division and the product in f32, as the weights'
// quantize_block always did).
template <class F>
inline F on_grid(F x, float s) {
  return F(fp8e4m3_to_f32(f32_to_fp8e4m3(float(x) / s)) * s);
}

// One block [r0, r1) × [c0, c1) of a row-major matrix with `cols` columns.
template <class F>
void quantize_block(F* w, int64_t cols, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  float amax = 0.0f;
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t c = c0; c < c1; ++c) amax = std::max(amax, float(std::fabs(w[r * cols + c])));
  if (amax == 0.0f) return;
  const float scale = amax / kE4m3Max;
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t c = c0; c < c1; ++c) w[r * cols + c] = on_grid(w[r * cols + c], scale);
}

}  // namespace

template <class F>
void quantize_tiles_e4m3(F* x, int64_t rows, int64_t cols, int64_t tile) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c0 = 0; c0 < cols; c0 += tile) quantize_block(x, cols, r, r + 1, c0, std::min(cols, c0 + tile));
}

// Row-major friendly: one sweep over a band of `tile` rows gathers every column's amax, a
// second sweep rounds (the band, tile·cols values, is still in cache).
template <class F>
void quantize_col_tiles_e4m3(F* x, int64_t rows, int64_t cols, int64_t tile) {
  thread_local std::vector<float> scale;
  scale.resize(size_t(cols));
  for (int64_t r0 = 0; r0 < rows; r0 += tile) {
    const int64_t r1 = std::min(rows, r0 + tile);
    std::fill(scale.begin(), scale.end(), 0.0f);
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < cols; ++c) scale[size_t(c)] = std::max(scale[size_t(c)], float(std::fabs(x[r * cols + c])));
    for (float& s : scale) s /= kE4m3Max;
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < cols; ++c)
        if (scale[size_t(c)] != 0.0f) x[r * cols + c] = on_grid(x[r * cols + c], scale[size_t(c)]);
  }
}

template <class F>
void quantize_blocks_e4m3(F* w, int64_t rows, int64_t cols, int64_t br, int64_t bc) {
  for (int64_t r0 = 0; r0 < rows; r0 += br)
    for (int64_t c0 = 0; c0 < cols; c0 += bc) quantize_block(w, cols, r0, std::min(rows, r0 + br), c0, std::min(cols, c0 + bc));
}

template void quantize_tiles_e4m3<float>(float*, int64_t, int64_t, int64_t);
template void quantize_tiles_e4m3<double>(double*, int64_t, int64_t, int64_t);
template void quantize_col_tiles_e4m3<float>(float*, int64_t, int64_t, int64_t);
template void quantize_col_tiles_e4m3<double>(double*, int64_t, int64_t, int64_t);
template void quantize_blocks_e4m3<float>(float*, int64_t, int64_t, int64_t, int64_t);
template void quantize_blocks_e4m3<double>(double*, int64_t, int64_t, int64_t, int64_t);

}  // namespace dsv3
