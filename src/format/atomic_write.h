// Crash-safe file replacement shared by the format writers: the bytes go to PATH.tmp-<pid>,
// are fsync'ed, renamed over PATH, and the directory is fsync'ed so the rename itself is
// durable. Readers therefore see either the old file or the complete new one, never a
// torn write. On any failure the temporary file is removed and an Error names PATH.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace dsv3 {

struct ByteSpan {
  const void* data;
  size_t size;
};

// Writes the concatenation of `parts` to `path` atomically (no copy into one buffer, so a
// multi-GB shard is streamed straight from its tensors).
void write_parts_atomic(const std::string& path, const std::vector<ByteSpan>& parts);

}  // namespace dsv3
