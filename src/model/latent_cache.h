// The MLA cache holds only the compressed latent c_kv (Rkv) and the shared rope key k_pe (Dr)
// per token per layer (report section 2.1.1): rows of width Rkv + Dr.
//
// LatentRows addresses one layer's rows through a block table, so the same attention code
// serves a contiguous cache (one block) and the paged cache of the serving runtime.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace dsv3 {

struct LatentRows {
  float* const* blocks = nullptr;  // block table: blocks[i] holds rows [i·B, (i+1)·B)
  int64_t block_size = 0;          // B, rows per block
  int64_t width = 0;               // Rkv + Dr
  float* row(int64_t s) const { return blocks[s / block_size] + (s % block_size) * width; }
};

// A single sequence's cache over `layers` layers, contiguous per layer, fixed capacity.
class ContiguousLatentCache {
 public:
  ContiguousLatentCache(int64_t layers, int64_t width, int64_t capacity);
  LatentRows layer(int64_t l) const { return {&block_ptrs_[size_t(l)], capacity_, width_}; }
  // layer(l) for every layer, as Model::forward takes them.
  std::vector<LatentRows> layers() const {
    std::vector<LatentRows> v;
    for (size_t l = 0; l < block_ptrs_.size(); ++l) v.push_back(layer(int64_t(l)));
    return v;
  }
  int64_t capacity() const { return capacity_; }
  int64_t width() const { return width_; }
  size_t bytes() const { return storage_.size() * sizeof(float); }

 private:
  int64_t width_, capacity_;
  std::vector<float> storage_;
  std::vector<float*> block_ptrs_;
};

}  // namespace dsv3
