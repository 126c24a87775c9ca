// A whole file's bytes in memory, read-only: memory-mapped, or copied into private memory
// backed by transparent huge pages (weights stay in their stored dtype either way).
#pragma once
#include <cstddef>
#include <string>

namespace dsv3 {

enum class Residency {
  kMapped,  // read-only file mapping: pages come from the page cache on first touch (shared, evictable)
  kCopied,  // read into private anonymous memory, 2 MB aligned and advised for transparent huge pages
};
const char* residency_name(Residency r);  // "mapped" / "copied"

class MappedFile {
 public:
  MappedFile() = default;
  // Throws Error naming the path (and, for kCopied, the bytes it could not allocate or read).
  explicit MappedFile(const std::string& path, Residency residency = Residency::kMapped);
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  Residency residency() const { return residency_; }

 private:
  void release();

  std::string path_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_bytes_ = 0;  // length of the mapping at data_ (the copy rounds up to 2 MB)
  Residency residency_ = Residency::kMapped;
};

}  // namespace dsv3
