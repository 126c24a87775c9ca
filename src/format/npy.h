// NumPy .npy writer (format version 1.0, little-endian float32, C order).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace dsv3 {

void write_npy_f32(const std::string& path, const float* data, const std::vector<int64_t>& shape);

}  // namespace dsv3
