// Scalar twin of matmul: decode every weight to f32 exactly as stored (F8_E4M3, I8, I4 times
// the scale_inv of its block), multiply in f32, and sum in double so that the reference is
// more accurate than any kernel it checks.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/error.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"

namespace dsv3 {

namespace {
float block_scale(const WeightMatrix& w, int64_t n, int64_t k) {
  const int64_t scale_cols = (w.cols + w.block_cols - 1) / w.block_cols;
  return w.scale_inv[(n / w.block_rows) * scale_cols + k / w.block_cols];
}

float weight_at(const WeightMatrix& w, int64_t n, int64_t k) {
  const int64_t i = n * w.cols + k;
  switch (w.dtype) {
    case DType::F32: return static_cast<const float*>(w.data)[i];
    case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(w.data)[i]);
    case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(w.data)[i]);
    case DType::F8_E4M3: return fp8e4m3_to_f32(static_cast<const uint8_t*>(w.data)[i]) * block_scale(w, n, k);
    case DType::I8: return float(static_cast<const int8_t*>(w.data)[i]) * block_scale(w, n, k);
    case DType::I4: {
      const uint8_t* row = static_cast<const uint8_t*>(w.data) + n * weight_row_bytes(DType::I4, w.cols);
      return float(int4_code(row, k)) * block_scale(w, n, k);
    }
    default: fail("matmul_ref: unsupported weight dtype ", dtype_name(w.dtype), " for ", w.name);
  }
}

// One token's activations quantised per group of G to integers in [-qmax, qmax]: s_x =
// max|x|/qmax, xq = round-to-even(x · qmax/max|x|); a group below kInt8ActTinyMax
// quantises to zero, a NaN or infinite activation makes its group's scale NaN.
void quantize_activations(const float* xt, int64_t K, int64_t G, float qmax, int32_t* xq, float* sx) {
  for (int64_t g = 0; g * G < K; ++g) {
    const int64_t g1 = std::min(K, (g + 1) * G);
    float m = 0;
    bool nonfinite = false;
    for (int64_t k = g * G; k < g1; ++k) {
      m = std::max(m, std::fabs(xt[k]));
      nonfinite |= !std::isfinite(xt[k]);
    }
    const bool zero = nonfinite || m < kInt8ActTinyMax;
    sx[g] = nonfinite ? std::numeric_limits<float>::quiet_NaN() : zero ? 0.0f : m / qmax;
    const float inv = zero ? 0.0f : qmax / m;
    for (int64_t k = g * G; k < g1; ++k)  // ties to even
      xq[k] = zero ? 0 : int32_t(std::nearbyint(xt[k] * inv));
  }
}
}  // namespace

void matmul_ref(const float* x, int64_t T, const WeightMatrix& w, float* y) {
  const bool scaled = w.dtype == DType::F8_E4M3 || is_int_weight(w.dtype);
  DSV3_CHECK(scaled || w.dtype == DType::F32 || w.dtype == DType::F16 || w.dtype == DType::BF16,
             "matmul_ref: unsupported weight dtype ", dtype_name(w.dtype), " for ", w.name);
  DSV3_CHECK(!scaled || (w.scale_inv && w.block_rows > 0 && w.block_cols > 0), "matmul_ref: ",
             dtype_name(w.dtype), " weight ", w.name, " needs scale_inv and positive block sizes");
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < w.rows; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < w.cols; ++k) acc += double(x[t * w.cols + k] * weight_at(w, n, k));
      y[t * w.rows + n] = float(acc);
    }
}

void matmul_int8_activations_ref(const float* x, int64_t T, const WeightMatrix& w, float* y) {
  DSV3_CHECK(is_int_weight(w.dtype) && w.scale_inv && w.block_rows > 0 && w.block_cols > 0,
             "matmul_int8_activations_ref: ", w.name, " is not an I8/I4 weight with block scales");
  const int64_t K = w.cols, G = w.block_cols, groups = (K + G - 1) / G;
  std::vector<int32_t> xq(static_cast<size_t>(K));
  std::vector<float> sx(static_cast<size_t>(groups));
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = x + t * K;
    quantize_activations(xt, K, G, 127.0f, xq.data(), sx.data());
    for (int64_t n = 0; n < w.rows; ++n) {
      const uint8_t* row = static_cast<const uint8_t*>(w.data) + n * weight_row_bytes(w.dtype, K);
      float acc = 0.0f;
      for (int64_t g = 0; g < groups; ++g) {
        int32_t isum = 0;
        for (int64_t k = g * G; k < std::min(K, (g + 1) * G); ++k)
          isum += xq[size_t(k)] * (w.dtype == DType::I8 ? int32_t(int8_t(row[k])) : int32_t(int4_code(row, k)));
        acc = std::fma(float(isum), block_scale(w, n, g * G) * sx[size_t(g)], acc);
      }
      y[t * w.rows + n] = acc;
    }
  }
}

void matmul_int16_activations_ref(const float* x, int64_t T, const WeightMatrix& w, float* y) {
  DSV3_CHECK(is_int_weight(w.dtype) && w.scale_inv && w.block_rows > 0 && w.block_cols > 0 && w.block_cols <= 256,
             "matmul_int16_activations_ref: ", w.name, " is not an I8/I4 weight with block scales of at most 256 columns");
  const int64_t K = w.cols, G = w.block_cols, groups = (K + G - 1) / G;
  std::vector<int32_t> xq(static_cast<size_t>(K));
  std::vector<float> sx(static_cast<size_t>(groups));
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = x + t * K;
    quantize_activations(xt, K, G, 32767.0f, xq.data(), sx.data());
    for (int64_t n = 0; n < w.rows; ++n) {
      const uint8_t* row = static_cast<const uint8_t*>(w.data) + n * weight_row_bytes(w.dtype, K);
      float p[8] = {};
      for (int64_t g = 0; g < groups; ++g) {
        int32_t isum = 0;
        for (int64_t k = g * G; k < std::min(K, (g + 1) * G); ++k)
          isum += xq[size_t(k)] * (w.dtype == DType::I8 ? int32_t(int8_t(row[k])) : int32_t(int4_code(row, k)));
        p[g % 8] = std::fma(float(isum), block_scale(w, n, g * G) * sx[size_t(g)], p[g % 8]);
      }
      y[t * w.rows + n] = ((p[0] + p[4]) + (p[2] + p[6])) + ((p[1] + p[5]) + (p[3] + p[7]));
    }
  }
}

}  // namespace dsv3
