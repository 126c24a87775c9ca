// Every layer against the independent torch reference (tests/reference/deepseek_reference.py):
// RMSNorm, YaRN RoPE, MoE gate, dense MLP, MoE layer, MLA (naive and absorbed, prefill and a
// decode step, latent cache rows), dense and MoE decoder blocks, MTP module 1, whole forward.
//
// Inputs and reference outputs are .npy fixtures in tests/fixtures/layers/<preset>/, written by
// tests/reference/layer_fixtures.py. The checkpoints they were computed on are too large to
// commit, so they are rebuilt here with make_hf_checkpoint.py (numpy only, deterministic per
// preset and seed) and checked against the checksums recorded in manifest.json; the rebuilt
// checkpoint is cached in the temp dir (keyed by that checksum) because ctest runs every test
// in its own process. A missing python is a failure, not a skip.
//
// Tolerance: max|Δ| ≤ 1e-4·max|ref| + 1e-6 per array (the whole model agrees with the reference
// to ~1e-6 relative; float32 sums in another order differ by a few ulps of Σ|terms|).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/latent_cache.h"
#include "model/mla.h"
#include "model/moe.h"
#include "model/moe_gate.h"
#include "model/ops.h"
#include "model/rope.h"
#include "model/transformer.h"
#include "npy_reader.h"
#include "test_util.h"

namespace dsv3 {
namespace {

namespace fs = std::filesystem;
using test::NpyArray;

const char* const kPresets[] = {"bf16_mtp", "fp8", "v2_lite"};
constexpr double kRelTol = 1e-4, kAbsTol = 1e-6;

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// layer_fixtures.py file_checksum: bytes zero-padded to a multiple of 8, little-endian u64 words
// w_i, Σ w_i·(2i+1) mod 2^64, as 16 hex digits.
std::string file_checksum(const std::string& path) {
  std::string b = read_text(path);
  b.append((8 - b.size() % 8) % 8, '\0');
  uint64_t sum = 0;
  for (size_t i = 0; i < b.size() / 8; ++i) {
    uint64_t w = 0;
    for (int k = 7; k >= 0; --k) w = w << 8 | static_cast<unsigned char>(b[i * 8 + size_t(k)]);
    sum += w * (2 * uint64_t(i) + 1);
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(sum));
  return hex;
}

// Empty string when every checksum in the manifest matches the files in dir, else a description.
std::string checksum_mismatch(const std::string& dir, const nlohmann::json& manifest) {
  for (const auto& [file, want] : manifest.at("checksum").items()) {
    const std::string path = dir + "/" + file;
    if (!fs::exists(path)) return path + " is missing";
    const std::string got = file_checksum(path);
    if (got != want.get<std::string>())
      return path + " has checksum " + got + ", fixtures expect " + want.get<std::string>();
  }
  return "";
}

// The preset's checkpoint, rebuilt with make_hf_checkpoint.py unless a matching copy is cached.
std::string rebuild_checkpoint(const nlohmann::json& manifest) {
  const std::string preset = manifest.at("preset"), seed = std::to_string(manifest.at("seed").get<int>());
  const fs::path cached = fs::temp_directory_path() /
                          ("dsv3-layer-ckpt-" + std::to_string(::getuid()) + "-" + preset + "-" + seed + "-" +
                           manifest.at("checksum").at("model.safetensors").get<std::string>());
  if (fs::is_directory(cached) && checksum_mismatch(cached.string(), manifest).empty()) return cached.string();

  const char* py = std::getenv("DSV3_PYTHON");
  const std::string python = py ? py : "/usr/bin/python3";
  const std::string tmp = test::make_temp_dir("layer-ckpt");
  const std::string log = tmp + ".log";
  const std::string cmd = python + " " + DSV3_SOURCE_DIR + "/tests/reference/make_hf_checkpoint.py --preset " +
                          preset + " --seed " + seed + " --out " + tmp + " >" + log + " 2>&1";
  const int status = std::system(cmd.c_str());
  const int rc = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::string out;
  try { out = read_text(log); } catch (const std::exception&) {}
  fs::remove(log);
  if (rc != 0) {
    fs::remove_all(tmp);
    throw std::runtime_error("`" + cmd + "` failed (exit code " + std::to_string(rc) + "; " + python +
                             " with numpy is required, set DSV3_PYTHON to override): " + out);
  }
  if (std::string why = checksum_mismatch(tmp, manifest); !why.empty()) {
    fs::remove_all(tmp);
    throw std::runtime_error("stale layer fixtures: the rebuilt checkpoint differs from the one they were made "
                             "from (" + why + "); rerun tests/reference/layer_fixtures.py");
  }
  std::error_code ec;
  fs::rename(tmp, cached, ec);  // atomic; fails when a concurrent test process got there first
  if (ec) {
    fs::remove_all(tmp);
    if (std::string why = checksum_mismatch(cached.string(), manifest); !why.empty())
      throw std::runtime_error("cannot install checkpoint cache " + cached.string() + ": " + ec.message() + "; " + why);
  }
  return cached.string();
}

struct Preset {
  std::string name, fixture_dir;
  nlohmann::json manifest;
  std::unique_ptr<Model> model;

  NpyArray npy(const std::string& stem) const { return test::read_npy(fixture_dir + "/" + stem + ".npy"); }
  const ModelConfig& cfg() const { return model->config(); }
  const LayerWeights& layer(const char* key) const {
    return model->weights().layers[size_t(manifest.at(key).get<int>())];
  }
  int64_t T() const { return manifest.at("T").get<int64_t>(); }
};

const Preset& preset(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Preset>> loaded;
  auto& p = loaded[name];
  if (!p) {
    auto q = std::make_unique<Preset>();
    q->name = name;
    q->fixture_dir = std::string(DSV3_SOURCE_DIR) + "/tests/fixtures/layers/" + name;
    q->manifest = nlohmann::json::parse(read_text(q->fixture_dir + "/manifest.json"));
    q->model = Model::load(rebuild_checkpoint(q->manifest));
    p = std::move(q);
  }
  return *p;
}

// Expects max|got − ref| ≤ kRelTol·max|ref| + kAbsTol and prints the measured relative error.
void expect_close(const Preset& p, const std::string& what, const std::vector<float>& ref,
                  const float* got, size_t n) {
  ASSERT_EQ(ref.size(), n) << p.name << " " << what << ": size";
  double max_ref = 0, max_diff = 0;
  size_t worst = 0;
  for (size_t i = 0; i < n; ++i) {
    max_ref = std::max(max_ref, double(std::fabs(ref[i])));
    const double d = std::fabs(double(got[i]) - double(ref[i]));
    if (!(d <= max_diff)) {  // also catches NaN
      max_diff = std::isnan(d) ? INFINITY : d;
      worst = i;
    }
  }
  const double rel = max_diff / std::max(max_ref, 1e-30);
  std::printf("[ measured ] %-9s %-30s max|d| %.3e  max|ref| %.3e  rel %.3e\n", p.name.c_str(), what.c_str(),
              max_diff, max_ref, rel);
  EXPECT_LE(max_diff, kRelTol * max_ref + kAbsTol)
      << p.name << " " << what << ": worst element " << worst << " got " << got[worst] << " ref " << ref[worst];
}
void expect_close(const Preset& p, const std::string& what, const NpyArray& ref, const std::vector<float>& got) {
  expect_close(p, what, ref.f32, got.data(), got.size());
}

const char* path_name(MlaPath path) { return path == MlaPath::kNaive ? "naive" : "absorbed"; }

TEST(ModelLayers, RmsNormMatchesReference) {
  for (const char* name : kPresets) {
    SCOPED_TRACE(name);
    const Preset& p = preset(name);
    const NpyArray x = p.npy("rmsnorm_x");
    const int64_t N = x.dim(0), D = x.dim(1);
    ASSERT_EQ(D, p.cfg().hidden_size);
    std::vector<float> y(x.f32.size());
    const std::vector<float>& w = p.layer("dense_layer").input_norm;  // bf16 in the checkpoint
    const float eps = float(p.cfg().rms_norm_eps);
    for (int64_t r = 0; r < N; ++r) rmsnorm(&x.f32[size_t(r * D)], w.data(), eps, D, &y[size_t(r * D)]);
    expect_close(p, "rmsnorm (|x| ~ 1e-3, 1, 1e3)", p.npy("rmsnorm_y"), y);
  }
}

TEST(ModelLayers, RopeMatchesReference) {
  for (const char* name : kPresets) {
    SCOPED_TRACE(name);
    const Preset& p = preset(name);
    const Rope& rope = p.model->rope();
    expect_close(p, "yarn inv_freq", p.npy("rope_inv_freq"), rope.inv_freq());
    expect_close(p, "softmax scale (mscale^2)", p.npy("rope_softmax_scale"), {rope.softmax_scale()});
    const NpyArray pos = p.npy("rope_positions"), x = p.npy("rope_x");
    const int64_t P = x.dim(0), Dr = x.dim(1);
    ASSERT_EQ(Dr, rope.dim());
    ASSERT_EQ(P, pos.numel());
    std::vector<float> y = x.f32;
    for (int64_t r = 0; r < P; ++r) rope.apply(&y[size_t(r * Dr)], pos.i32[size_t(r)]);
    expect_close(p, "rope, positions 0..5000", p.npy("rope_y"), y);
  }
}

// Compares a routing with the reference's expert ids (as sets per token) and their weights.
void expect_routing(const Preset& p, const std::string& what, const Routing& r, const NpyArray& experts,
                    const NpyArray& weights) {
  const int64_t T = experts.dim(0), K = experts.dim(1);
  ASSERT_EQ(r.T, T);
  ASSERT_EQ(r.K, K);
  std::vector<float> got(size_t(T * K), NAN);  // our weight of each reference choice
  int64_t mismatched = 0;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < K; ++j)
        if (r.expert[size_t(t * K + j)] == experts.i32[size_t(t * K + k)])
          got[size_t(t * K + k)] = r.weight[size_t(t * K + j)];
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < K; ++k)
      if (std::isnan(got[size_t(t * K + k)])) {
        ++mismatched;
        ADD_FAILURE() << p.name << " " << what << ": token " << t << " did not choose reference expert "
                      << experts.i32[size_t(t * K + k)];
      }
  std::printf("[ measured ] %-9s %-30s %lld/%lld tokens route identically\n", p.name.c_str(), what.c_str(),
              static_cast<long long>(T - mismatched), static_cast<long long>(T));
  if (mismatched == 0) expect_close(p, what + " weights", weights, got);
}

TEST(ModelLayers, GateMatchesReference) {
  for (const char* name : kPresets) {
    SCOPED_TRACE(name);
    const Preset& p = preset(name);
    const MoeWeights& w = p.layer("moe_layer").moe;
    const NpyArray x = p.npy("gate_x"), logits = p.npy("gate_logits");
    const NpyArray experts = p.npy("gate_experts"), weights = p.npy("gate_weights");
    const int64_t T = x.dim(0);
    // Routing alone, from the reference's own router logits.
    expect_routing(p, "gate from reference logits", route_from_logits(p.cfg(), w.bias, logits.f32.data(), T),
                   experts, weights);
    // Router matmul + routing.
    expect_routing(p, "gate from x", moe_route(w, p.cfg(), x.f32.data(), T), experts, weights);
  }
}

TEST(ModelLayers, MlpMatchesReference) {
  for (const char* name : kPresets) {
    SCOPED_TRACE(name);
    const Preset& p = preset(name);
    const NpyArray x = p.npy("mlp_x");
    std::vector<float> out(x.f32.size());
    mlp_forward(p.layer("dense_layer").mlp, x.f32.data(), x.dim(0), out.data());
    expect_close(p, "dense mlp", p.npy("mlp_out"), out);
  }
}

TEST(ModelLayers, MoeMatchesReference) {
  for (const char* name : kPresets) {
    SCOPED_TRACE(name);
    const Preset& p = preset(name);
    const NpyArray x = p.npy("moe_x");
    std::vector<float> out(x.f32.size());
    moe_forward(p.layer("moe_layer").moe, p.cfg(), x.f32.data(), x.dim(0), out.data());
    expect_close(p, "moe layer (routed + shared)", p.npy("moe_out"), out);
  }
}

// MLA of the first layer: prefill T tokens at positions 0..T-1, then one token at position T.
void check_mla(MlaPath path) {
  for (const char* name : kPresets) {
    SCOPED_TRACE(name);
    const Preset& p = preset(name);
    const ModelConfig& c = p.cfg();
    const AttentionWeights& w = p.layer("dense_layer").attn;
    const int64_t T = p.T(), D = c.hidden_size, Rkv = c.kv_lora_rank, Dr = c.qk_rope_head_dim;
    ContiguousLatentCache cache(1, Rkv + Dr, T + 1);
    const LatentRows rows = cache.layer(0);
    const std::string tag = std::string("mla ") + path_name(path);

    const NpyArray x = p.npy("mla_x");
    ASSERT_EQ(x.dim(0), T);
    std::vector<float> out(size_t(T * D));
    mla_forward(w, c, p.model->rope(), x.f32.data(), T, 0, rows, out.data(), path);
    expect_close(p, tag + " prefill", p.npy("mla_out"), out);

    const NpyArray xd = p.npy("mla_decode_x");
    std::vector<float> dec(static_cast<size_t>(D));
    mla_forward(w, c, p.model->rope(), xd.f32.data(), 1, T, rows, dec.data(), path);
    expect_close(p, tag + " decode step", p.npy("mla_decode_out"), dec);

    std::vector<float> lat(size_t((T + 1) * Rkv)), kpe(size_t((T + 1) * Dr));
    for (int64_t s = 0; s <= T; ++s) {
      std::copy(rows.row(s), rows.row(s) + Rkv, &lat[size_t(s * Rkv)]);
      std::copy(rows.row(s) + Rkv, rows.row(s) + Rkv + Dr, &kpe[size_t(s * Dr)]);
    }
    expect_close(p, tag + " cache c_kv", p.npy("mla_cache_c"), lat);
    expect_close(p, tag + " cache k_pe", p.npy("mla_cache_kpe"), kpe);
  }
}

TEST(ModelLayers, MlaNaiveMatchesReference) { check_mla(MlaPath::kNaive); }
TEST(ModelLayers, MlaAbsorbedMatchesReference) { check_mla(MlaPath::kAbsorbed); }

void check_block(const char* layer_key, const std::string& stem) {
  for (const char* name : kPresets) {
    SCOPED_TRACE(name);
    const Preset& p = preset(name);
    const NpyArray in = p.npy(stem + "_in"), ref = p.npy(stem + "_out");
    const int64_t T = in.dim(0);
    for (MlaPath path : {MlaPath::kNaive, MlaPath::kAbsorbed}) {
      ContiguousLatentCache cache(1, p.model->cache_width(), T);
      std::vector<float> h = in.f32;
      block_forward(p.layer(layer_key), p.cfg(), p.model->rope(), h.data(), T, 0, cache.layer(0), path);
      expect_close(p, stem + " " + path_name(path), ref, h);
    }
  }
}

TEST(ModelLayers, DenseBlockMatchesReference) { check_block("dense_layer", "block_dense"); }
TEST(ModelLayers, MoeBlockMatchesReference) { check_block("moe_layer", "block_moe"); }

TEST(ModelLayers, MtpMatchesReference) {
  int covered = 0;
  for (const char* name : kPresets) {
    SCOPED_TRACE(name);
    const Preset& p = preset(name);
    ASSERT_EQ(p.manifest.at("has_mtp").get<bool>(), p.model->num_mtp() > 0);
    if (p.model->num_mtp() == 0) continue;
    ++covered;
    const NpyArray h = p.npy("mtp_h"), next = p.npy("mtp_next_ids");
    const int64_t n = h.dim(0), D = p.cfg().hidden_size, V = p.cfg().vocab_size;
    for (MlaPath path : {MlaPath::kNaive, MlaPath::kAbsorbed}) {
      ContiguousLatentCache cache(p.model->cache_layers(), p.model->cache_width(), n);
      const std::vector<LatentRows> rows = cache.layers();
      std::vector<float> hidden(size_t(n * D)), logits(size_t(n * V));
      p.model->mtp_forward(1, h.f32.data(), next.i32.data(), n, 0, rows, hidden.data(), logits.data(), path);
      expect_close(p, std::string("mtp1 block out ") + path_name(path), p.npy("mtp_hidden"), hidden);
      expect_close(p, std::string("mtp1 logits ") + path_name(path), p.npy("mtp_logits"), logits);
    }
  }
  EXPECT_EQ(covered, 2);  // bf16_mtp and fp8
}

TEST(ModelLayers, ForwardMatchesReference) {
  for (const char* name : kPresets) {
    SCOPED_TRACE(name);
    const Preset& p = preset(name);
    const NpyArray ids = p.npy("forward_ids");
    const int64_t T = ids.numel(), D = p.cfg().hidden_size, V = p.cfg().vocab_size;
    for (MlaPath path : {MlaPath::kNaive, MlaPath::kAbsorbed}) {
      ContiguousLatentCache cache(p.model->cache_layers(), p.model->cache_width(), T);
      const std::vector<LatentRows> rows = cache.layers();
      std::vector<float> hidden(size_t(T * D)), logits(size_t(T * V));
      p.model->forward(ids.i32.data(), T, 0, rows, hidden.data(), path);
      p.model->logits(hidden.data(), T, logits.data());
      expect_close(p, std::string("final hidden ") + path_name(path), p.npy("forward_hidden"), hidden);
      expect_close(p, std::string("logits ") + path_name(path), p.npy("forward_logits"), logits);
    }
  }
}

}  // namespace
}  // namespace dsv3
