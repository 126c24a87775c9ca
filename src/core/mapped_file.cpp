#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

#include "core/error.h"

namespace dsv3 {

const char* residency_name(Residency r) { return r == Residency::kCopied ? "copied" : "mapped"; }

namespace {

constexpr size_t kHugePage = size_t(2) << 20;

// Reads the file into a fresh 2 MB-aligned anonymous mapping advised for transparent huge
// pages, then makes it read-only. Why: decode streams every weight once per token, and
// with 4 KB pages each new page costs a TLB miss and page walk; on the 2-core Zen 3 VM
// this raised bf16 decode of the bench preset from 20–21 to 23–25 tok/s (README, Speed).
const std::byte* copy_to_huge_pages(int fd, const std::string& path, size_t size, size_t& mapped_bytes) {
  const size_t cap = (size + kHugePage - 1) / kHugePage * kHugePage;
  void* raw = ::mmap(nullptr, cap + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED)
    fail("cannot allocate ", size, " bytes to hold ", path, ": ", std::strerror(errno),
         " (DSV3_WEIGHTS_MEMORY=mmap maps the file instead)");
  // Trim to a 2 MB-aligned window so that every huge page lines up with the data.
  char* const base = static_cast<char*>(raw);
  char* const p = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(base) + kHugePage - 1) & ~(kHugePage - 1));
  if (p > base) ::munmap(base, size_t(p - base));
  if (base + cap + kHugePage > p + cap) ::munmap(p + cap, size_t(base + cap + kHugePage - (p + cap)));
  ::madvise(p, cap, MADV_HUGEPAGE);  // best effort: without THP the copy still works, in 4 KB pages
  size_t done = 0;
  while (done < size) {
    const ssize_t r = ::pread(fd, p + done, std::min<size_t>(size - done, size_t(1) << 30), off_t(done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      const int e = errno;
      ::munmap(p, cap);
      if (r == 0) fail("cannot read ", path, ": it ended after ", done, " of ", size, " bytes (changed while loading?)");
      fail("cannot read ", path, ": ", std::strerror(e));
    }
    done += size_t(r);
  }
  ::mprotect(p, cap, PROT_READ);
  mapped_bytes = cap;
  return reinterpret_cast<const std::byte*>(p);
}

}  // namespace

MappedFile::MappedFile(const std::string& path, Residency residency) : path_(path), residency_(residency) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open ", path, ": ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    fail("cannot stat ", path, ": ", std::strerror(e));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    fail(path, " is a directory, expected a file");
  }
  size_ = size_t(st.st_size);
  if (size_ > 0 && residency == Residency::kCopied) {
    try {
      data_ = copy_to_huge_pages(fd, path, size_, mapped_bytes_);
    } catch (...) {
      ::close(fd);
      throw;
    }
  } else if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      fail("cannot mmap ", path, ": ", std::strerror(e));
    }
    data_ = static_cast<const std::byte*>(p);
    mapped_bytes_ = size_;
  }
  ::close(fd);
}

void MappedFile::release() {
  if (data_) ::munmap(const_cast<std::byte*>(data_), mapped_bytes_);
  data_ = nullptr;
}

MappedFile::~MappedFile() { release(); }

MappedFile::MappedFile(MappedFile&& o) noexcept
    : path_(std::move(o.path_)),
      data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      mapped_bytes_(std::exchange(o.mapped_bytes_, 0)),
      residency_(o.residency_) {}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    release();
    path_ = std::move(o.path_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    mapped_bytes_ = std::exchange(o.mapped_bytes_, 0);
    residency_ = o.residency_;
  }
  return *this;
}

}  // namespace dsv3
