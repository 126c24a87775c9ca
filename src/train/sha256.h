// SHA-256 (FIPS 180-4) for data-shard and tokenizer checksums in manifest.json: a standard,
// externally checkable digest (`sha256sum`) without adding a crypto library dependency.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace dsv3 {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  std::string hex();  // finalises; call once

 private:
  void block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string sha256_hex(const void* data, size_t n);
inline std::string sha256_hex(std::string_view s) { return sha256_hex(s.data(), s.size()); }
// Digest of a whole file; throws dsv3::Error naming it when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace dsv3
