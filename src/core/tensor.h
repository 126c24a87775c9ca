// Non-owning views of stored tensors (memory-mapped checkpoint bytes or owned buffers).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace dsv3 {

struct TensorView {
  std::string name;            // Hugging Face tensor name, for error messages
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // row-major
  const std::byte* data = nullptr;
  size_t nbytes = 0;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  int64_t dim(size_t i) const { return shape.at(i); }
  std::string shape_str() const;
};

// Reads element i of any float-like view (F32, F16, BF16, F8_E4M3) as float. Slow path for
// small tensors (norm weights, biases) and references; kernels decode in bulk.
float element_as_f32(const TensorView& t, int64_t i);
// Copies a whole float-like tensor to f32 (norm weights, small vectors). Throws on other dtypes.
std::vector<float> to_f32_vector(const TensorView& t);

}  // namespace dsv3
