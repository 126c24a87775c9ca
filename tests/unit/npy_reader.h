// Test-only .npy reader for fixtures written by numpy (np.save): versions 1.0-3.0, C order,
// little-endian float32 ('<f4') or int32 ('<i4'). Throws std::runtime_error naming the file.
#pragma once
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace dsv3::test {

struct NpyArray {
  std::string descr;           // "<f4" or "<i4"
  std::vector<int64_t> shape;  // () for a scalar
  std::vector<float> f32;      // filled when descr == "<f4"
  std::vector<int32_t> i32;    // filled when descr == "<i4"
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  int64_t dim(size_t i) const { return i < shape.size() ? shape[i] : 1; }
};

namespace npy_detail {

// The value text after 'key': in the header dict, up to the next top-level ',' or '}'.
inline std::string dict_value(const std::string& header, const std::string& key, const std::string& path) {
  const size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) throw std::runtime_error(path + ": .npy header has no '" + key + "'");
  size_t i = header.find(':', k);
  if (i == std::string::npos) throw std::runtime_error(path + ": malformed .npy header");
  ++i;
  while (i < header.size() && header[i] == ' ') ++i;
  size_t j = i;
  int depth = 0;
  for (; j < header.size(); ++j) {
    const char ch = header[j];
    if (ch == '(') ++depth;
    if (ch == ')') --depth;
    if (depth == 0 && (ch == ',' || ch == '}')) break;
  }
  return header.substr(i, j - i);
}

}  // namespace npy_detail

inline NpyArray read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
    throw std::runtime_error(path + ": not a .npy file");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t hlen = 0, start = 0;
  auto byte = [&](size_t i) { return size_t(static_cast<unsigned char>(bytes[i])); };
  if (major == 1) {
    hlen = byte(8) | byte(9) << 8;
    start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw std::runtime_error(path + ": truncated .npy header");
    hlen = byte(8) | byte(9) << 8 | byte(10) << 16 | byte(11) << 24;
    start = 12;
  } else {
    throw std::runtime_error(path + ": unsupported .npy version " + std::to_string(major));
  }
  if (start + hlen > bytes.size()) throw std::runtime_error(path + ": truncated .npy header");
  const std::string header = bytes.substr(start, hlen);

  NpyArray a;
  std::string descr = npy_detail::dict_value(header, "descr", path);
  if (descr.size() < 2) throw std::runtime_error(path + ": bad descr " + descr);
  a.descr = descr.substr(1, descr.size() - 2);  // strip quotes
  if (npy_detail::dict_value(header, "fortran_order", path) != "False")
    throw std::runtime_error(path + ": Fortran-order arrays are not supported");
  const std::string shape = npy_detail::dict_value(header, "shape", path);  // "(3, 4)", "(3,)", "()"
  for (size_t i = 0; i < shape.size();) {
    if (shape[i] >= '0' && shape[i] <= '9') {
      size_t j = i;
      while (j < shape.size() && shape[j] >= '0' && shape[j] <= '9') ++j;
      a.shape.push_back(std::stoll(shape.substr(i, j - i)));
      i = j;
    } else {
      ++i;
    }
  }
  const size_t n = size_t(a.numel()), data = start + hlen;
  if (bytes.size() != data + 4 * n)
    throw std::runtime_error(path + ": holds " + std::to_string(bytes.size() - data) + " data bytes, shape " +
                             shape + " of " + a.descr + " needs " + std::to_string(4 * n));
  static_assert(sizeof(float) == 4);
  // Fixtures are little-endian and every supported build host is too (x86-64).
  if (a.descr == "<f4") {
    a.f32.resize(n);
    std::memcpy(a.f32.data(), bytes.data() + data, 4 * n);
  } else if (a.descr == "<i4") {
    a.i32.resize(n);
    std::memcpy(a.i32.data(), bytes.data() + data, 4 * n);
  } else {
    throw std::runtime_error(path + ": unsupported dtype " + a.descr + " (want <f4 or <i4)");
  }
  return a;
}

}  // namespace dsv3::test
