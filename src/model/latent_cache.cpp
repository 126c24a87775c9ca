#include "model/latent_cache.h"

#include "core/error.h"

namespace dsv3 {

ContiguousLatentCache::ContiguousLatentCache(int64_t layers, int64_t width, int64_t capacity)
    : width_(width), capacity_(capacity) {
  DSV3_CHECK(layers >= 0 && width > 0 && capacity > 0, "invalid latent cache geometry");
  storage_.resize(size_t(layers * width * capacity));
  for (int64_t l = 0; l < layers; ++l) block_ptrs_.push_back(storage_.data() + l * width * capacity);
}

}  // namespace dsv3
