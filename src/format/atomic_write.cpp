#include "format/atomic_write.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "format/safetensors.h"

namespace dsv3 {

namespace {

std::string parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Owns the temporary file until it has been renamed into place.
class TempFile {
 public:
  explicit TempFile(const std::string& final_path)
      : final_(final_path), tmp_(final_path + ".tmp-" + std::to_string(::getpid())) {
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("cannot write ", final_, ": cannot create ", tmp_, ": ", std::strerror(errno));
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  void write(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      // Linux caps a single write at ~2 GiB; chunk to stay well below it.
      size_t chunk = n < (size_t(1) << 30) ? n : (size_t(1) << 30);
      ssize_t w = ::write(fd_, p, chunk);
      if (w < 0) {
        if (errno == EINTR) continue;
        fail("cannot write ", final_, ": ", std::strerror(errno));
      }
      p += w;
      n -= size_t(w);
    }
  }

  void commit() {
    if (::fsync(fd_) != 0) fail("cannot write ", final_, ": fsync failed: ", std::strerror(errno));
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("cannot write ", final_, ": close failed: ", std::strerror(errno));
    if (::rename(tmp_.c_str(), final_.c_str()) != 0)
      fail("cannot write ", final_, ": rename from ", tmp_, " failed: ", std::strerror(errno));
    committed_ = true;
    // Make the rename durable. Some filesystems refuse fsync on directories (EINVAL);
    // the data itself is already on disk, so only report real I/O errors.
    std::string dir = parent_dir(final_);
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      int rc = ::fsync(dfd);
      int e = errno;
      ::close(dfd);
      if (rc != 0 && e == EIO) fail("cannot write ", final_, ": fsync of ", dir, " failed: ", std::strerror(e));
    }
  }

 private:
  std::string final_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

void write_parts_atomic(const std::string& path, const std::vector<ByteSpan>& parts) {
  TempFile f(path);
  for (const ByteSpan& p : parts)
    if (p.size > 0) f.write(p.data, p.size);
  f.commit();
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  write_parts_atomic(path, {{contents.data(), contents.size()}});
}

}  // namespace dsv3
