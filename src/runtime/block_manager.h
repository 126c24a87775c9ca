// The paged latent cache: a pool of fixed-size blocks, each holding block_size rows of
// every cache layer (latent c_kv + k_pe, report section 2.1.1), handed to sequences
// through block tables (LatentRows). Full blocks of prompt tokens are published under a
// chain hash (hash of the parent block's hash and the block's tokens) so later requests
// with the same prefix reuse them (reference counts); blocks nobody references keep their
// content and sit in an LRU list until a new allocation evicts them.
#pragma once
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

#include "model/latent_cache.h"

namespace dsv3 {

class BlockManager {
 public:
  // Throws Error when the pool cannot be allocated.
  BlockManager(int64_t layers, const LatentLayout& layout, int64_t block_size, int64_t num_blocks);

  int64_t block_size() const { return block_size_; }
  int64_t num_blocks() const { return num_blocks_; }
  int64_t layers() const { return layers_; }
  const LatentLayout& layout() const { return layout_; }
  int64_t block_bytes() const { return layers_ * block_size_ * layout_.row_bytes(); }
  int64_t used_blocks() const { return used_; }           // referenced by a sequence
  int64_t cached_blocks() const { return int64_t(lru_.size()); }  // unreferenced, reusable prefix
  int64_t free_blocks() const { return num_blocks_ - used_; }    // allocatable (incl. cached)

  // A block for new rows, refcount 1: a never-used one, else the least recently used
  // cached one (its prefix entry is dropped). -1 when every block is referenced.
  int32_t allocate();
  void retain(int32_t b);
  // Drops one reference; at zero the block becomes cached (if published) or free.
  void release(int32_t b);

  static uint64_t chain_hash(uint64_t parent, const int32_t* tokens, int64_t n);
  // The block published under (parent, tokens[0..block_size)) if any, retained; else -1.
  int32_t lookup(uint64_t parent, const int32_t* tokens);
  // b holds the full rows of tokens[0..block_size) following the prefix `parent`.
  // Returns its hash. A block already published under the same hash stays the canonical one.
  uint64_t publish(int32_t b, uint64_t parent, const int32_t* tokens);

  // Rows of block b for one layer: block_size rows of layout().row_bytes() bytes.
  uint8_t* rows(int32_t b, int64_t layer) const {
    return storage_ + (int64_t(b) * layers_ + layer) * block_size_ * layout_.row_bytes();
  }
  // Block table of one layer for a sequence owning `blocks` (written into `table`).
  LatentRows layer_view(const std::vector<int32_t>& blocks, int64_t layer, std::vector<uint8_t*>& table) const;

  BlockManager(const BlockManager&) = delete;
  BlockManager& operator=(const BlockManager&) = delete;
  ~BlockManager();

 private:
  struct Meta {
    int32_t refs = 0;
    bool published = false;
    uint64_t hash = 0, parent = 0;
    std::vector<int32_t> tokens;           // verifies lookups (no trust in 64-bit hashes)
    std::list<int32_t>::iterator lru_pos;  // valid when cached
  };
  int64_t layers_;
  LatentLayout layout_;
  int64_t block_size_, num_blocks_;
  uint8_t* storage_ = nullptr;
  std::vector<Meta> meta_;
  std::vector<int32_t> never_used_;
  std::list<int32_t> lru_;  // cached blocks, least recently used first
  std::unordered_map<uint64_t, int32_t> by_hash_;
  int64_t used_ = 0;

  void unpublish(int32_t b);
};

}  // namespace dsv3
