#include "train/train_checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "core/dtype.h"
#include "core/error.h"
#include "core/file_text.h"
#include "format/model_config.h"
#include "format/safetensors.h"

namespace dsv3 {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "checkpoint-";

void fsync_path(const std::string& path) {  // a file or a directory
  const int fd = ::open(path.c_str(), O_RDONLY);
  DSV3_CHECK(fd >= 0, "cannot open ", path, " to fsync: ", std::strerror(errno));
  const int rc = ::fsync(fd);
  ::close(fd);
  DSV3_CHECK(rc == 0, "fsync ", path, ": ", std::strerror(errno));
}

// Step of a "checkpoint-<step>" folder name, -1 for other names.
int64_t step_of(const std::string& name) {
  if (name.rfind(kPrefix, 0) != 0) return -1;
  const std::string digits = name.substr(std::strlen(kPrefix));
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return -1;
  return std::stoll(digits);
}

std::string checkpoint_name(int64_t step) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s%06lld", kPrefix, static_cast<long long>(step));
  return buf;
}

// The MTP copies of the embedding and output head, omitted when they are shared (report 2.2).
bool is_shared_mtp_copy(const WeightSpec& s, const ModelConfig& c) {
  return s.layer >= c.num_hidden_layers && (s.role == WeightRole::kEmbedding || s.role == WeightRole::kHead);
}

void write_hf_weights(const std::string& path, const ParamSet<float>& p, const ModelConfig& c, bool share) {
  std::vector<std::vector<uint8_t>> blobs;
  std::vector<TensorToWrite> out;
  blobs.reserve(p.size());
  for (size_t i = 0; i < p.size(); ++i) {
    const WeightSpec& s = p.specs()[i];
    if (share && is_shared_mtp_copy(s, c)) continue;
    const float* src = p.tensor(i);
    const int64_t n = p.numel(i);
    if (s.role == WeightRole::kBias) {  // e_score_correction_bias stays f32 (DeepSeek-V3 release)
      blobs.emplace_back(size_t(n) * 4);
      std::memcpy(blobs.back().data(), src, size_t(n) * 4);
      out.push_back({s.name, DType::F32, s.shape, blobs.back().data(), blobs.back().size()});
    } else {
      blobs.emplace_back(size_t(n) * 2);
      for (int64_t j = 0; j < n; ++j) {
        const uint16_t h = f32_to_bf16(src[j]);
        std::memcpy(&blobs.back()[size_t(j) * 2], &h, 2);
      }
      out.push_back({s.name, DType::BF16, s.shape, blobs.back().data(), blobs.back().size()});
    }
  }
  write_safetensors(path, out, {{"format", "pt"}});
}

nlohmann::json state_json(const TrainState& s) {
  return {{"format", "dsv3-train-state"}, {"step", s.step},         {"data_position", s.data_position},
          {"seed", s.seed},              {"config_hash", s.config_hash}, {"tokens_seen", s.tokens_seen},
          {"rng", "none: no random numbers are drawn after initialisation (data order is the data position)"}};
}

}  // namespace

std::string save_train_checkpoint(const std::string& out_dir, const CheckpointToWrite& ck, int64_t keep) {
  const ModelConfig& c = *ck.config;
  const std::string name = checkpoint_name(ck.state.step);
  const std::string tmp = out_dir + "/.tmp-" + name + "-" + std::to_string(::getpid());
  const std::string final_dir = out_dir + "/" + name;
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp + "/train_state", ec);
  DSV3_CHECK(!ec, "cannot create ", tmp, ": ", ec.message());

  // Hugging Face part.
  ModelConfig hf = c;
  hf.quantization_config.reset();
  hf.torch_dtype = "bfloat16";
  write_file_atomic(tmp + "/config.json", model_config_to_json(hf).dump(2) + "\n");
  const nlohmann::json gen = {{"bos_token_id", c.bos_token_id.value_or(0)},
                              {"eos_token_id", c.eos_token_id.value_or(1)},
                              {"do_sample", true},
                              {"temperature", 0.7},
                              {"top_p", 0.9}};
  write_file_atomic(tmp + "/generation_config.json", gen.dump(2) + "\n");
  write_hf_weights(tmp + "/model.safetensors", *ck.master, c, ck.share_mtp_embeddings);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    write_file_atomic(tmp + "/" + f, read_file_text(ck.tokenizer_dir + "/" + f));

  // Resume part.
  save_params_f32(*ck.master, tmp + "/train_state/master.safetensors");
  std::vector<TensorToWrite> opt;
  for (const NamedBuffer& b : ck.optimizer)
    opt.push_back({b.name, DType::F32, {int64_t(b.data.size())}, b.data.data(), b.data.size() * sizeof(float)});
  write_safetensors(tmp + "/train_state/optimizer.safetensors", opt);
  write_file_atomic(tmp + "/train_state/trainer_state.json", state_json(ck.state).dump(2) + "\n");
  fsync_path(tmp + "/train_state");
  fsync_path(tmp);

  // Publish: rename the folder, then move `latest` (a symlink replaced by rename).
  if (fs::exists(final_dir)) fs::remove_all(final_dir);  // an orphan newer than `latest` (clean_out_dir)
  fs::rename(tmp, final_dir, ec);
  DSV3_CHECK(!ec, "cannot rename ", tmp, " to ", final_dir, ": ", ec.message());
  const std::string link_tmp = out_dir + "/.tmp-latest-" + std::to_string(::getpid());
  fs::remove(link_tmp, ec);
  fs::create_directory_symlink(name, link_tmp, ec);
  DSV3_CHECK(!ec, "cannot create symlink ", link_tmp, ": ", ec.message());
  fs::rename(link_tmp, out_dir + "/latest", ec);
  DSV3_CHECK(!ec, "cannot rename ", link_tmp, " to ", out_dir, "/latest: ", ec.message());
  fsync_path(out_dir);

  prune_checkpoints(out_dir, keep, ck.state.step);  // the one just written is the newest
  return final_dir;
}

void prune_checkpoints(const std::string& out_dir, int64_t keep, int64_t latest_step) {
  std::error_code ec;
  std::vector<std::pair<int64_t, std::string>> all;
  for (const auto& e : fs::directory_iterator(out_dir)) {
    const int64_t s = step_of(e.path().filename().string());
    if (s >= 0 && e.is_directory() && !e.is_symlink()) all.push_back({s, e.path().string()});
  }
  std::sort(all.begin(), all.end());
  for (size_t i = 0; i + size_t(std::max<int64_t>(keep, 1)) < all.size(); ++i)
    if (all[i].first != latest_step) fs::remove_all(all[i].second, ec);
}

std::string latest_checkpoint(const std::string& out_dir) {
  const fs::path link = fs::path(out_dir) / "latest";
  std::error_code ec;
  if (!fs::is_symlink(link, ec)) {
    DSV3_CHECK(!fs::exists(link, ec), link.string(), " exists but is not a symlink to a checkpoint");
    return "";
  }
  const fs::path target = fs::read_symlink(link, ec);
  DSV3_CHECK(!ec, "cannot read symlink ", link.string(), ": ", ec.message());
  const std::string dir = (fs::path(out_dir) / target).string();
  DSV3_CHECK(fs::is_directory(dir), link.string(), " points to ", dir, ", which is missing");
  return dir;
}

void clean_out_dir(const std::string& out_dir, int64_t step) {
  std::error_code ec;
  if (!fs::is_directory(out_dir)) return;
  for (const auto& e : fs::directory_iterator(out_dir)) {
    const std::string n = e.path().filename().string();
    if (n.rfind(".tmp-", 0) == 0 || (step_of(n) > step && !e.is_symlink())) fs::remove_all(e.path(), ec);
  }
}

LoadedTrainState load_train_checkpoint(const std::string& dir, ParamSet<float>& master) {
  LoadedTrainState out;
  const std::string sdir = dir + "/train_state";
  {
    const SafetensorsFile f(sdir + "/master.safetensors");
    for (size_t i = 0; i < master.size(); ++i) {
      const WeightSpec& s = master.specs()[i];
      auto it = f.tensors().find(s.name);
      DSV3_CHECK(it != f.tensors().end(), f.path(), ": missing tensor ", s.name);
      const TensorView& v = it->second;
      DSV3_CHECK(v.dtype == DType::F32 && v.shape == s.shape, f.path(), ": tensor ", s.name, " is ", v.shape_str(),
                 ", expected F32 of the model's shape");
      std::memcpy(master.tensor(i), v.data, size_t(master.numel(i)) * sizeof(float));
    }
    DSV3_CHECK(f.tensors().size() == master.size(), f.path(), ": holds ", f.tensors().size(), " tensors, the model has ",
               master.size());
  }
  {
    const SafetensorsFile f(sdir + "/optimizer.safetensors");
    for (const auto& [name, v] : f.tensors()) {
      DSV3_CHECK(v.dtype == DType::F32, f.path(), ": tensor ", name, " is not F32");
      NamedBuffer b{name, std::vector<float>(size_t(v.numel()))};
      std::memcpy(b.data.data(), v.data, b.data.size() * sizeof(float));
      out.optimizer.push_back(std::move(b));
    }
  }
  const std::string path = sdir + "/trainer_state.json";
  try {
    const nlohmann::json j = nlohmann::json::parse(read_file_text(path));
    DSV3_CHECK(j.at("format") == "dsv3-train-state", path, ": not a dsv3 trainer state");
    out.state.step = j.at("step").get<int64_t>();
    out.state.data_position = j.at("data_position").get<uint64_t>();
    out.state.seed = j.at("seed").get<uint64_t>();
    out.state.config_hash = j.at("config_hash").get<std::string>();
    out.state.tokens_seen = j.at("tokens_seen").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": ", e.what());
  }
  return out;
}

}  // namespace dsv3
