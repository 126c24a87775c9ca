// Portable kernels (the "scalar" level): what runs on a plain x86-64 or non-x86 build.
// Each weight row is decoded once into f32 scratch and then dotted with every token, so
// the decode is amortised over T as in the SIMD tiles path.
#include <algorithm>
#include <cstring>

#include "kernels/matmul_internal.h"
#include "kernels/quant.h"

namespace dsv3::matmul_detail {

namespace {

void decode_scalar(const WeightMatrix& w, int64_t n, int64_t k0, int64_t len, float* out) {
  const int64_t K = w.cols;
  switch (w.dtype) {
    case DType::F32:
      std::memcpy(out, static_cast<const float*>(w.data) + n * K + k0, size_t(len) * 4);
      return;
    case DType::BF16: {
      const uint16_t* p = static_cast<const uint16_t*>(w.data) + n * K + k0;
      for (int64_t i = 0; i < len; ++i) out[i] = bf16_to_f32(p[i]);
      return;
    }
    case DType::F16: {
      const uint16_t* p = static_cast<const uint16_t*>(w.data) + n * K + k0;
      for (int64_t i = 0; i < len; ++i) out[i] = f16_to_f32(p[i]);
      return;
    }
    case DType::F8_E4M3: {
      const uint8_t* p = static_cast<const uint8_t*>(w.data) + n * K;
      const int64_t bc = w.block_cols, scale_cols = ceil_div(K, bc);
      const float* srow = w.scale_inv + (n / w.block_rows) * scale_cols;
      for (int64_t k = k0, end = k0 + len; k < end;) {
        const int64_t stop = std::min(end, (k / bc + 1) * bc);
        const float s = srow[k / bc];
        for (; k < stop; ++k) out[k - k0] = kFp8E4m3ToF32.v[p[k]] * s;
      }
      return;
    }
    case DType::I8: case DType::I4: {
      const uint8_t* p = static_cast<const uint8_t*>(w.data) + n * weight_row_bytes(w.dtype, K);
      const int64_t bc = w.block_cols, scale_cols = ceil_div(K, bc);
      const float* srow = w.scale_inv + (n / w.block_rows) * scale_cols;
      for (int64_t k = k0; k < k0 + len; ++k) {
        const int q = w.dtype == DType::I8 ? int(int8_t(p[k])) : int4_code(p, k);
        out[k - k0] = float(q) * srow[k / bc];
      }
      return;
    }
    default: return;  // the driver has rejected other dtypes
  }
}

// Eight independent partial sums: lets the compiler use SIMD registers without
// reassociating (no -ffast-math) and hides add latency.
float dot8(const float* a, const float* b, int64_t n) {
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) s[j] += a[i + j] * b[i + j];
  for (; i < n; ++i) s[0] += a[i] * b[i];
  return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

void tiles_scalar(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t t0,
                  int64_t t1, int64_t n0, int64_t n1) {
  (void)T;
  const int64_t K = w.cols, N = w.rows;
  float* row = scratch(0, size_t(K));
  for (int64_t n = n0; n < n1; ++n) {
    decode_scalar(w, n, 0, K, row);
    for (int64_t t = t0; t < t1; ++t) y[t * N + n] = dot8(x + t * K, row, K);
  }
}

void rows_scalar(const float* x, int64_t T, const WeightMatrix& w, float* y, int64_t n0,
                 int64_t n1) {
  tiles_scalar(x, T, w, y, 0, T, n0, n1);
}

}  // namespace

const KernelSet& kernels_scalar() {
  static const KernelSet k{decode_scalar, rows_scalar, tiles_scalar, 16, 1 << 30};
  return k;
}

}  // namespace dsv3::matmul_detail
