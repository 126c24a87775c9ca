#include "model/random_checkpoint.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "core/rng.h"
#include "core/thread_pool.h"
#include "format/safetensors.h"
#include "model/weight_registry.h"

namespace dsv3 {

namespace {

struct Blob {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// Fills `rows` × `cols` f32 values of one tensor, row by row from per-row seeds, so the
// result does not depend on thread count.
std::vector<float> random_values(const WeightSpec& s, uint64_t seed) {
  const int64_t rows = s.shape[0], cols = s.shape.size() > 1 ? s.shape[1] : 1;
  std::vector<float> v(size_t(rows * cols));
  const uint64_t base = seed ^ hash_name(s.name);
  float lo = -1, hi = 1;
  switch (s.role) {
    case WeightRole::kLinear: case WeightRole::kProjection: case WeightRole::kRouter: case WeightRole::kHead:
      hi = float(std::sqrt(3.0 / double(cols)));
      lo = -hi;
      break;
    case WeightRole::kEmbedding: hi = float(std::sqrt(3.0)); lo = -hi; break;
    case WeightRole::kNorm: lo = 0.9f; hi = 1.1f; break;
    case WeightRole::kBias: lo = -0.05f; hi = 0.05f; break;
  }
  ThreadPool::global().parallel_for(rows, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      Rng rng(base + uint64_t(r) * 0x9e3779b97f4a7c15ull);
      for (int64_t c = 0; c < cols; ++c) v[size_t(r * cols + c)] = rng.uniform(lo, hi);
    }
  });
  return v;
}

Blob as_bf16(const WeightSpec& s, const std::vector<float>& v) {
  Blob b{s.name, DType::BF16, s.shape, std::vector<uint8_t>(v.size() * 2)};
  for (size_t i = 0; i < v.size(); ++i) {
    uint16_t h = f32_to_bf16(v[i]);
    std::memcpy(&b.bytes[2 * i], &h, 2);
  }
  return b;
}

Blob as_f32(const WeightSpec& s, const std::vector<float>& v) {
  Blob b{s.name, DType::F32, s.shape, std::vector<uint8_t>(v.size() * 4)};
  std::memcpy(b.bytes.data(), v.data(), b.bytes.size());
  return b;
}

// DeepSeek-V3 weight quantisation: per br×bc block, scale = amax / 448, q = e4m3(w / scale),
// stored scale_inv = scale (dequantised weight = q · scale_inv).
std::pair<Blob, Blob> as_fp8(const WeightSpec& s, const std::vector<float>& v, int64_t br, int64_t bc) {
  const int64_t N = s.shape[0], K = s.shape[1];
  const int64_t nb_r = (N + br - 1) / br, nb_c = (K + bc - 1) / bc;
  Blob q{s.name, DType::F8_E4M3, s.shape, std::vector<uint8_t>(size_t(N * K))};
  std::vector<float> scales(size_t(nb_r * nb_c));
  ThreadPool::global().parallel_for(nb_r, [&](int64_t b0, int64_t b1) {
    for (int64_t bi = b0; bi < b1; ++bi)
      for (int64_t bj = 0; bj < nb_c; ++bj) {
        const int64_t r0 = bi * br, r1 = std::min(N, r0 + br), c0 = bj * bc, c1 = std::min(K, c0 + bc);
        float amax = 0.0f;
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t c = c0; c < c1; ++c) amax = std::max(amax, std::fabs(v[size_t(r * K + c)]));
        const float scale = amax > 0.0f ? amax / 448.0f : 1.0f;
        scales[size_t(bi * nb_c + bj)] = scale;
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t c = c0; c < c1; ++c) q.bytes[size_t(r * K + c)] = f32_to_fp8e4m3(v[size_t(r * K + c)] / scale);
      }
  });
  WeightSpec ss{s.name + "_scale_inv", {nb_r, nb_c}, WeightRole::kBias};
  return {std::move(q), as_f32(ss, scales)};
}

class ShardWriter {
 public:
  ShardWriter(std::string dir, int64_t limit) : dir_(std::move(dir)), limit_(limit) {}
  void add(Blob b) {
    if (!pending_.empty() && pending_bytes_ + int64_t(b.bytes.size()) > limit_) flush();
    pending_bytes_ += int64_t(b.bytes.size());
    pending_.push_back(std::move(b));
  }
  // Writes the last shard, renames shards to model-0000i-of-0000n.safetensors, writes the index.
  void finish() {
    flush();
    const size_t n = written_.size();
    nlohmann::json weight_map = nlohmann::json::object();
    int64_t total = 0;
    for (size_t i = 0; i < n; ++i) {
      char name[64];
      std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, n);
      std::filesystem::rename(dir_ + "/" + written_[i].first, dir_ + "/" + name);
      for (const auto& t : written_[i].second) weight_map[t] = name;
    }
    for (int64_t b : sizes_) total += b;
    nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    write_file_atomic(dir_ + "/model.safetensors.index.json", index.dump(2) + "\n");
  }

 private:
  void flush() {
    if (pending_.empty()) return;
    std::vector<TensorToWrite> tw;
    std::vector<std::string> names;
    for (const auto& b : pending_) {
      tw.push_back({b.name, b.dtype, b.shape, b.bytes.data(), b.bytes.size()});
      names.push_back(b.name);
    }
    const std::string tmp = "shard-" + std::to_string(written_.size()) + ".safetensors";
    write_safetensors(dir_ + "/" + tmp, tw, {{"format", "pt"}});
    written_.push_back({tmp, names});
    sizes_.push_back(pending_bytes_);
    pending_.clear();
    pending_bytes_ = 0;
  }

  std::string dir_;
  int64_t limit_;
  std::vector<Blob> pending_;
  int64_t pending_bytes_ = 0;
  std::vector<std::pair<std::string, std::vector<std::string>>> written_;
  std::vector<int64_t> sizes_;
};

}  // namespace

void write_random_checkpoint(const std::string& dir, const ModelConfig& cfg, const RandomInitOptions& opt) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  DSV3_CHECK(!ec, "cannot create directory ", dir, ": ", ec.message());
  const bool fp8 = cfg.quantization_config && cfg.quantization_config->quant_method == "fp8";
  const int64_t br = fp8 ? cfg.quantization_config->block_rows : 128;
  const int64_t bc = fp8 ? cfg.quantization_config->block_cols : 128;
  ShardWriter shards(dir, opt.shard_bytes);
  for (const WeightSpec& s : weight_specs(cfg)) {
    std::vector<float> v = random_values(s, opt.seed);
    if (fp8 && s.quantizable()) {
      auto [q, scale] = as_fp8(s, v, br, bc);
      shards.add(std::move(q));
      shards.add(std::move(scale));
    } else if (s.role == WeightRole::kBias) {
      shards.add(as_f32(s, v));
    } else {
      shards.add(as_bf16(s, v));
    }
  }
  shards.finish();
  write_file_atomic(dir + "/config.json", model_config_to_json(cfg).dump(2) + "\n");
  nlohmann::json gen = {{"bos_token_id", cfg.bos_token_id.value_or(0)},
                        {"eos_token_id", cfg.eos_token_id.value_or(1)},
                        {"do_sample", true},
                        {"temperature", 0.6},
                        {"top_p", 0.95}};
  write_file_atomic(dir + "/generation_config.json", gen.dump(2) + "\n");
}

}  // namespace dsv3
