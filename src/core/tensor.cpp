#include "core/tensor.h"

#include <cstring>

#include "core/error.h"

namespace dsv3 {

std::string TensorView::shape_str() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

float element_as_f32(const TensorView& t, int64_t i) {
  switch (t.dtype) {
    case DType::F32: {
      float f;
      std::memcpy(&f, t.data + 4 * i, 4);
      return f;
    }
    case DType::BF16: {
      uint16_t h;
      std::memcpy(&h, t.data + 2 * i, 2);
      return bf16_to_f32(h);
    }
    case DType::F16: {
      uint16_t h;
      std::memcpy(&h, t.data + 2 * i, 2);
      return f16_to_f32(h);
    }
    case DType::F8_E4M3:
      return fp8e4m3_to_f32(uint8_t(t.data[i]));
    default:
      fail("tensor ", t.name, " has dtype ", dtype_name(t.dtype), ", expected a float type");
  }
}

std::vector<float> to_f32_vector(const TensorView& t) {
  std::vector<float> out(size_t(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) out[size_t(i)] = element_as_f32(t, i);
  return out;
}

}  // namespace dsv3
