#include "runtime/block_manager.h"

#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace dsv3 {

BlockManager::BlockManager(int64_t layers, const LatentLayout& layout, int64_t block_size, int64_t num_blocks)
    : layers_(layers), layout_(layout), block_size_(block_size), num_blocks_(num_blocks) {
  DSV3_CHECK(layers > 0 && layout.width() > 0 && block_size > 0 && num_blocks > 0, "cache: invalid pool shape ",
             num_blocks, " blocks x ", block_size, " rows x ", layers, " layers x ", layout.width());
  const size_t bytes = size_t(num_blocks) * size_t(block_bytes());
  storage_ = static_cast<uint8_t*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
  DSV3_CHECK(storage_, "cache: cannot allocate ", bytes >> 20, " MiB for ", num_blocks, " blocks");
  meta_.resize(size_t(num_blocks));
  never_used_.reserve(size_t(num_blocks));
  for (int64_t b = num_blocks - 1; b >= 0; --b) never_used_.push_back(int32_t(b));
}

BlockManager::~BlockManager() { std::free(storage_); }

int32_t BlockManager::allocate() {
  int32_t b = -1;
  if (!never_used_.empty()) {
    b = never_used_.back();
    never_used_.pop_back();
  } else if (!lru_.empty()) {
    b = lru_.front();
    lru_.pop_front();
    unpublish(b);
  } else {
    return -1;
  }
  meta_[size_t(b)].refs = 1;
  ++used_;
  return b;
}

void BlockManager::retain(int32_t b) {
  Meta& m = meta_[size_t(b)];
  if (m.refs == 0) {  // a cached block comes back into use
    lru_.erase(m.lru_pos);
    ++used_;
  }
  ++m.refs;
}

void BlockManager::release(int32_t b) {
  Meta& m = meta_[size_t(b)];
  DSV3_CHECK(m.refs > 0, "cache: block ", b, " released more often than retained");
  if (--m.refs > 0) return;
  --used_;
  if (m.published) {
    m.lru_pos = lru_.insert(lru_.end(), b);
  } else {
    never_used_.push_back(b);
  }
}

uint64_t BlockManager::chain_hash(uint64_t parent, const int32_t* tokens, int64_t n) {
  // FNV-1a over the parent hash and the token ids, then a final avalanche (splitmix64).
  uint64_t h = 1469598103934665603ull ^ parent;
  for (int64_t i = 0; i < n; ++i) {
    h ^= uint32_t(tokens[i]);
    h *= 1099511628211ull;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

int32_t BlockManager::lookup(uint64_t parent, const int32_t* tokens) {
  const uint64_t h = chain_hash(parent, tokens, block_size_);
  auto it = by_hash_.find(h);
  if (it == by_hash_.end()) return -1;
  const Meta& m = meta_[size_t(it->second)];
  if (m.parent != parent || std::memcmp(m.tokens.data(), tokens, sizeof(int32_t) * size_t(block_size_)) != 0)
    return -1;
  retain(it->second);
  return it->second;
}

uint64_t BlockManager::publish(int32_t b, uint64_t parent, const int32_t* tokens) {
  const uint64_t h = chain_hash(parent, tokens, block_size_);
  Meta& m = meta_[size_t(b)];
  if (m.published) return m.hash;
  if (by_hash_.count(h)) return h;  // an identical block is already canonical
  m.published = true;
  m.hash = h;
  m.parent = parent;
  m.tokens.assign(tokens, tokens + block_size_);
  by_hash_[h] = b;
  return h;
}

void BlockManager::unpublish(int32_t b) {
  Meta& m = meta_[size_t(b)];
  if (!m.published) return;
  auto it = by_hash_.find(m.hash);
  if (it != by_hash_.end() && it->second == b) by_hash_.erase(it);
  m.published = false;
  m.tokens.clear();
}

LatentRows BlockManager::layer_view(const std::vector<int32_t>& blocks, int64_t layer,
                                    std::vector<uint8_t*>& table) const {
  table.resize(blocks.size());
  for (size_t i = 0; i < blocks.size(); ++i) table[i] = rows(blocks[i], layer);
  return {table.data(), block_size_, layout_, layout_.row_bytes()};
}

}  // namespace dsv3
