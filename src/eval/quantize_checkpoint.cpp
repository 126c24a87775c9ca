#include "eval/quantize_checkpoint.h"

#include <unistd.h>

#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <regex>

#include "core/error.h"
#include "format/safetensors.h"
#include "kernels/quant.h"
#include "model/model_weights.h"

namespace dsv3 {

namespace fs = std::filesystem;

QuantizePolicy::QuantizePolicy(const QuantizeOptions& o) : quantize_head_(o.quantize_head) {
  std::vector<std::string> patterns = o.keep;
  if (o.keep_attention) patterns.push_back("self_attn\\.");
  for (const std::string& p : patterns) {
    try {
      keep_.emplace_back(p);
    } catch (const std::regex_error& e) {
      fail("--keep: bad regular expression \"", p, "\": ", e.what());
    }
  }
}

bool QuantizePolicy::quantize(const WeightSpec& s) const {
  if (!(s.role == WeightRole::kLinear || (quantize_head_ && s.role == WeightRole::kHead))) return false;
  for (const std::regex& re : keep_)
    if (std::regex_search(s.name, re)) return false;
  return true;
}

nlohmann::json quantization_config_json(const std::string& type, int64_t group) {
  if (type == "fp8")
    return {{"quant_method", "fp8"}, {"fmt", "e4m3"}, {"activation_scheme", "dynamic"}, {"weight_block_size", {group, group}}};
  return {{"quant_method", type}, {"group_size", group}};
}

namespace {

// One output tensor: bytes either owned or pointing into the memory-mapped input.
struct Blob {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> owned;
  const void* data = nullptr;
  size_t nbytes = 0;
};

Blob owned_blob(std::string name, DType dt, std::vector<int64_t> shape, std::vector<uint8_t> bytes) {
  Blob b{std::move(name), dt, std::move(shape), std::move(bytes)};
  b.data = b.owned.data();
  b.nbytes = b.owned.size();
  return b;
}

Blob floats_blob(std::string name, std::vector<int64_t> shape, const std::vector<float>& v) {
  std::vector<uint8_t> bytes(v.size() * sizeof(float));
  std::memcpy(bytes.data(), v.data(), bytes.size());
  return owned_blob(std::move(name), DType::F32, std::move(shape), std::move(bytes));
}

Blob copy_blob(const std::string& name, const TensorView& t) {
  Blob b{name, t.dtype, t.shape, {}};
  b.data = t.data;
  b.nbytes = t.nbytes;
  return b;
}

// Writes shards model-0000i-of-0000n.safetensors + index, or one model.safetensors.
class ShardWriter {
 public:
  ShardWriter(std::string dir, int64_t limit, bool sharded) : dir_(std::move(dir)), limit_(limit), sharded_(sharded) {}
  void add(Blob b) {
    if (sharded_ && !pending_.empty() && pending_bytes_ + int64_t(b.nbytes) > limit_) flush();
    pending_bytes_ += int64_t(b.nbytes);
    total_ += int64_t(b.nbytes);
    pending_.push_back(std::move(b));
  }
  int finish() {
    flush();
    if (!sharded_) {
      fs::rename(dir_ + "/" + written_[0].first, dir_ + "/model.safetensors");
      return 1;
    }
    const size_t n = written_.size();
    nlohmann::json weight_map = nlohmann::json::object();
    for (size_t i = 0; i < n; ++i) {
      char name[64];
      std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, n);
      fs::rename(dir_ + "/" + written_[i].first, dir_ + "/" + name);
      for (const auto& t : written_[i].second) weight_map[t] = name;
    }
    nlohmann::json index = {{"metadata", {{"total_size", total_}}}, {"weight_map", weight_map}};
    write_file_atomic(dir_ + "/model.safetensors.index.json", index.dump(2) + "\n");
    return int(n);
  }
  int64_t total() const { return total_; }

 private:
  void flush() {
    if (pending_.empty() && !written_.empty()) return;
    std::vector<TensorToWrite> tw;
    std::vector<std::string> names;
    for (const auto& b : pending_) {
      tw.push_back({b.name, b.dtype, b.shape, b.data, b.nbytes});
      names.push_back(b.name);
    }
    const std::string tmp = "shard-" + std::to_string(written_.size()) + ".safetensors";
    write_safetensors(dir_ + "/" + tmp, tw, {{"format", "pt"}});
    written_.push_back({tmp, names});
    pending_.clear();
    pending_bytes_ = 0;
  }

  std::string dir_;
  int64_t limit_;
  bool sharded_;
  std::vector<Blob> pending_;
  int64_t pending_bytes_ = 0, total_ = 0;
  std::vector<std::pair<std::string, std::vector<std::string>>> written_;
};

DType target_dtype(const std::string& type) {
  if (type == "int8") return DType::I8;
  if (type == "int4") return DType::I4;
  if (type == "fp8") return DType::F8_E4M3;
  fail("--type must be int8, int4 or fp8, got \"", type, "\"");
}

bool is_quantized(DType stored, const ModelConfig& cfg) {
  return stored == DType::F8_E4M3 || stored == DType::I8 ||
         (stored == DType::U8 && cfg.quantization_config && cfg.quantization_config->quant_method == "int4");
}

// Whether a stored quantised tensor already has exactly the output's format and blocks.
bool same_format(DType stored, const ModelConfig& cfg, const std::string& type, int64_t group) {
  if (!cfg.quantization_config) return false;
  const QuantizationConfig& q = *cfg.quantization_config;
  if (type == "fp8") return stored == DType::F8_E4M3 && q.block_rows == group && q.block_cols == group;
  return q.quant_method == type && q.group_size == group && stored != DType::F8_E4M3;
}

std::vector<uint8_t> to_bf16_bytes(const WeightMatrix& w) {
  std::vector<uint8_t> out(size_t(w.rows * w.cols * 2));
  std::vector<float> row(size_t(w.cols));
  auto* p = reinterpret_cast<uint16_t*>(out.data());
  for (int64_t r = 0; r < w.rows; ++r) {
    dequantize_row(w, r, row.data());
    for (int64_t k = 0; k < w.cols; ++k) p[r * w.cols + k] = f32_to_bf16(row[size_t(k)]);
  }
  return out;
}

void copy_side_files(const std::string& from, const std::string& to) {
  for (const auto& e : fs::directory_iterator(from)) {
    if (!e.is_regular_file()) continue;
    const std::string f = e.path().filename().string();
    const bool wanted = f.rfind("tokenizer", 0) == 0 || f == "generation_config.json" || f == "special_tokens_map.json" ||
                        f == "vocab.json" || f == "merges.txt";
    if (wanted) fs::copy_file(e.path(), fs::path(to) / f, fs::copy_options::overwrite_existing);
  }
}

void write_all(const std::string& model_dir, const std::string& tmp, const QuantizeOptions& o, QuantizeReport& rep) {
  const ModelConfig cfg = load_model_config(model_dir);
  const Checkpoint ckpt(model_dir);
  const DType to = target_dtype(o.type);
  check_quant_group(to, o.group);
  const QuantizePolicy policy(o);
  std::map<std::string, WeightSpec> specs;
  for (auto& s : weight_specs(cfg)) specs.emplace(s.name, std::move(s));

  const bool sharded = fs::exists(fs::path(model_dir) / "model.safetensors.index.json");
  ShardWriter out(tmp, o.shard_bytes, sharded);
  std::deque<std::vector<float>> owned_scales;
  const std::vector<std::string> names = ckpt.names();
  for (const std::string& name : names) {
    const TensorView& t = ckpt.get(name);
    rep.bytes_in += int64_t(t.nbytes);
    // Scales travel with their weight.
    const std::string suffix = "_scale_inv";
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        ckpt.find(name.substr(0, name.size() - suffix.size())))
      continue;
    auto it = specs.find(name);
    if (it == specs.end() || it->second.shape.size() != 2) {  // vectors, unknown extras
      out.add(copy_blob(name, t));
      ++rep.kept;
      continue;
    }
    const WeightSpec& s = it->second;
    const WeightMatrix w = weight_view(ckpt, cfg, name, s.shape[0], s.shape[1], owned_scales);
    const bool quantized_src = is_quantized(t.dtype, cfg);
    const bool keep_as_is = quantized_src && same_format(t.dtype, cfg, o.type, o.group);
    if (policy.quantize(s) && !keep_as_is) {
      const QuantizedMatrix q = quantize_weight(w, to, o.group);
      const DType stored = to == DType::I4 ? DType::U8 : to;
      out.add(owned_blob(name, stored, q.data_shape(), q.data));
      out.add(floats_blob(name + suffix, q.scale_shape(), q.scales));
      ++rep.quantized;
    } else if (quantized_src && !keep_as_is) {
      // A kept quantised tensor whose format the output config cannot describe.
      out.add(owned_blob(name, DType::BF16, s.shape, to_bf16_bytes(w)));
      ++rep.kept;
    } else {
      out.add(copy_blob(name, t));
      if (quantized_src) out.add(copy_blob(name + suffix, ckpt.get(name + suffix)));
      ++(policy.quantize(s) ? rep.quantized : rep.kept);
    }
  }
  rep.shards = out.finish();
  rep.bytes_out = out.total();

  nlohmann::json config = cfg.raw;
  config["quantization_config"] = quantization_config_json(o.type, o.group);
  write_file_atomic(tmp + "/config.json", config.dump(2) + "\n");
  copy_side_files(model_dir, tmp);
}

}  // namespace

QuantizeReport quantize_checkpoint(const std::string& model_dir, const std::string& out_dir, const QuantizeOptions& o) {
  std::error_code ec;
  DSV3_CHECK(fs::exists(fs::path(model_dir) / "config.json", ec), model_dir, " has no config.json");
  const fs::path out = fs::path(out_dir).lexically_normal();
  DSV3_CHECK(!out.empty() && out.filename() != "", "--out must name a folder");
  DSV3_CHECK(fs::weakly_canonical(out, ec) != fs::weakly_canonical(model_dir, ec), "--out must differ from --model");
  DSV3_CHECK(o.force || !fs::exists(out, ec), out_dir, " already exists; pass --force to replace it");
  const std::string tmp = out.string() + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  DSV3_CHECK(!ec, "cannot create ", tmp, ": ", ec.message());
  QuantizeReport rep;
  try {
    write_all(model_dir, tmp, o, rep);
    if (fs::exists(out, ec)) {  // --force: swap in the new folder, then drop the old one
      const std::string old = out.string() + ".old-" + std::to_string(::getpid());
      fs::rename(out, old);
      fs::rename(tmp, out);
      fs::remove_all(old, ec);
    } else {
      fs::rename(tmp, out);
    }
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  return rep;
}

}  // namespace dsv3
