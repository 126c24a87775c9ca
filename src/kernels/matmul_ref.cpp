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

// How the twins fold a row's group terms fma(float(Σ_g q·xq), s_w·s_x, ·): in group order
// into one sum (int8 activations), or group g into partial g mod 8, the partials then added
// in the AVX2 hsum's tree (int16 activations).
struct SequentialFold {
  float acc = 0.0f;
  void add(int64_t, float f, float s) { acc = std::fma(f, s, acc); }
  float result() const { return acc; }
};
struct EightPartialFold {
  float p[8] = {};
  void add(int64_t g, float f, float s) { p[g % 8] = std::fma(f, s, p[g % 8]); }
  float result() const { return ((p[0] + p[4]) + (p[2] + p[6])) + ((p[1] + p[5]) + (p[3] + p[7])); }
};

// y = x·Wᵀ with the activations quantised to [-qmax, qmax] (quantize_activations) and each
// group's Σ q·xq exact in int32, folded by Fold.
template <class Fold>
void int_activations_product(const float* x, int64_t T, const WeightMatrix& w, float* y, float qmax) {
  const int64_t K = w.cols, G = w.block_cols, groups = (K + G - 1) / G;
  std::vector<int32_t> xq(static_cast<size_t>(K));
  std::vector<float> sx(static_cast<size_t>(groups));
  for (int64_t t = 0; t < T; ++t) {
    quantize_activations(x + t * K, K, G, qmax, xq.data(), sx.data());
    for (int64_t n = 0; n < w.rows; ++n) {
      const uint8_t* row = static_cast<const uint8_t*>(w.data) + n * weight_row_bytes(w.dtype, K);
      Fold fold;
      for (int64_t g = 0; g < groups; ++g) {
        int32_t isum = 0;
        for (int64_t k = g * G; k < std::min(K, (g + 1) * G); ++k)
          isum += xq[size_t(k)] * (w.dtype == DType::I8 ? int32_t(int8_t(row[k])) : int32_t(int4_code(row, k)));
        fold.add(g, float(isum), block_scale(w, n, g * G) * sx[size_t(g)]);
      }
      y[t * w.rows + n] = fold.result();
    }
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
  int_activations_product<SequentialFold>(x, T, w, y, 127.0f);
}

void matmul_int16_activations_ref(const float* x, int64_t T, const WeightMatrix& w, float* y) {
  DSV3_CHECK(is_int_weight(w.dtype) && w.scale_inv && w.block_rows > 0 && w.block_cols > 0 && w.block_cols <= 256,
             "matmul_int16_activations_ref: ", w.name, " is not an I8/I4 weight with block scales of at most 256 columns");
  int_activations_product<EightPartialFold>(x, T, w, y, 32767.0f);
}

}  // namespace dsv3
