// .npy version 1.0: magic, u16 header length, a Python dict literal padded with spaces and
// ended by '\n' so that the data starts on a 64-byte boundary (what numpy itself writes).
#include "format/npy.h"

#include <bit>
#include <cstring>

#include "core/error.h"
#include "format/atomic_write.h"

namespace dsv3 {

void write_npy_f32(const std::string& path, const float* data, const std::vector<int64_t>& shape) {
  int64_t numel = 1;
  std::string dims;
  for (int64_t d : shape) {
    if (d < 0) fail("cannot write ", path, ": negative dimension ", d);
    if (__builtin_mul_overflow(numel, d, &numel)) fail("cannot write ", path, ": element count overflows");
    dims += std::to_string(d) + ", ";
  }
  if (shape.size() > 1) dims.resize(dims.size() - 2);  // "(3, 4)"; 1-D keeps "(3,)"
  else if (shape.size() == 1) dims.pop_back();
  if (numel > 0 && !data) fail("cannot write ", path, ": null data");

  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  const size_t kPrefix = 10;  // magic(6) + version(2) + header length(2)
  size_t total = kPrefix + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  if (header.size() > 65535) fail("cannot write ", path, ": shape too long for a .npy v1.0 header");

  std::string prefix = "\x93NUMPY";
  prefix += char(1);
  prefix += char(0);
  prefix += char(header.size() & 0xff);
  prefix += char(header.size() >> 8);

  const size_t nbytes = size_t(numel) * sizeof(float);
  if constexpr (std::endian::native == std::endian::little) {
    write_parts_atomic(path, {{prefix.data(), prefix.size()}, {header.data(), header.size()}, {data, nbytes}});
  } else {
    std::vector<uint32_t> le(static_cast<size_t>(numel));
    std::memcpy(le.data(), data, nbytes);
    for (uint32_t& v : le) v = __builtin_bswap32(v);
    write_parts_atomic(path, {{prefix.data(), prefix.size()}, {header.data(), header.size()}, {le.data(), nbytes}});
  }
}

}  // namespace dsv3
