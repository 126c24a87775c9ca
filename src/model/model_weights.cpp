#include "model/model_weights.h"

#include <cstdio>

#include "core/error.h"
#include "model/weight_registry.h"

namespace dsv3 {

namespace {

class Loader {
 public:
  Loader(const Checkpoint& ckpt, const ModelConfig& cfg, ModelWeights& out)
      : ckpt_(ckpt), cfg_(cfg), out_(out) {
    for (auto& s : weight_specs(cfg)) specs_.emplace(s.name, std::move(s));
    if (cfg.quantization_config) {
      block_rows_ = cfg.quantization_config->block_rows;
      block_cols_ = cfg.quantization_config->block_cols;
    }
  }

  bool has(const std::string& name) const { return ckpt_.find(name) != nullptr; }

  const TensorView& checked(const std::string& name) const {
    auto it = specs_.find(name);
    DSV3_CHECK(it != specs_.end(), "internal: no spec for tensor ", name);
    const TensorView& t = ckpt_.get(name);
    if (t.shape != it->second.shape) {
      TensorView want;
      want.shape = it->second.shape;
      fail("tensor ", name, " in ", ckpt_.dir(), " has shape ", t.shape_str(), ", config.json implies ",
           want.shape_str());
    }
    return t;
  }

  WeightMatrix matrix(const std::string& name) {
    const TensorView& t = checked(name);
    WeightMatrix w;
    w.name = name;
    w.dtype = t.dtype;
    w.rows = t.shape[0];
    w.cols = t.shape[1];
    w.data = t.data;
    switch (t.dtype) {
      case DType::F32: case DType::F16: case DType::BF16: break;
      case DType::F8_E4M3: attach_fp8_scales(name, w); break;
      default: fail("tensor ", name, " in ", ckpt_.dir(), " has unsupported dtype ", dtype_name(t.dtype));
    }
    return w;
  }

  std::vector<float> vector(const std::string& name) {
    const TensorView& t = checked(name);
    DSV3_CHECK(t.dtype == DType::F32 || t.dtype == DType::BF16 || t.dtype == DType::F16,
               "tensor ", name, " in ", ckpt_.dir(), " has dtype ", dtype_name(t.dtype),
               ", expected F32, BF16 or F16");
    return to_f32_vector(t);
  }

  MlpWeights mlp(const std::string& p) {
    return {matrix(p + "gate_proj.weight"), matrix(p + "up_proj.weight"), matrix(p + "down_proj.weight")};
  }

  LayerWeights block(int64_t l) {
    const std::string p = layer_prefix(l);
    LayerWeights L;
    L.input_norm = vector(p + "input_layernorm.weight");
    L.post_attention_norm = vector(p + "post_attention_layernorm.weight");
    AttentionWeights& a = L.attn;
    if (cfg_.q_lora_rank) {
      a.q_a = matrix(p + "self_attn.q_a_proj.weight");
      a.q_a_norm = vector(p + "self_attn.q_a_layernorm.weight");
      a.q_b = matrix(p + "self_attn.q_b_proj.weight");
    } else {
      a.q = matrix(p + "self_attn.q_proj.weight");
    }
    a.kv_a = matrix(p + "self_attn.kv_a_proj_with_mqa.weight");
    a.kv_a_norm = vector(p + "self_attn.kv_a_layernorm.weight");
    a.kv_b = matrix(p + "self_attn.kv_b_proj.weight");
    a.o = matrix(p + "self_attn.o_proj.weight");
    L.is_moe = cfg_.is_moe_layer(l);
    if (L.is_moe) {
      MoeWeights& m = L.moe;
      m.gate = matrix(p + "mlp.gate.weight");
      if (cfg_.topk_method == "noaux_tc") m.bias = vector(p + "mlp.gate.e_score_correction_bias");
      for (int64_t e = 0; e < cfg_.n_routed_experts; ++e)
        m.experts.push_back(mlp(p + "mlp.experts." + std::to_string(e) + "."));
      m.has_shared = cfg_.n_shared_experts > 0;
      if (m.has_shared) m.shared = mlp(p + "mlp.shared_experts.");
    } else {
      L.mlp = mlp(p + "mlp.");
    }
    return L;
  }

 private:
  // DeepSeek's FP8 layout: `<name>_scale_inv` [ceil(N/br), ceil(K/bc)], multiply to dequantise.
  void attach_fp8_scales(const std::string& name, WeightMatrix& w) {
    const std::string sname = name + "_scale_inv";
    const TensorView* s = ckpt_.find(sname);
    DSV3_CHECK(s, "tensor ", name, " in ", ckpt_.dir(), " is F8_E4M3 but ", sname, " is missing");
    const int64_t br = block_rows_, bc = block_cols_;
    const std::vector<int64_t> want{(w.rows + br - 1) / br, (w.cols + bc - 1) / bc};
    if (s->shape != want) {
      TensorView tv;
      tv.shape = want;
      fail("tensor ", sname, " in ", ckpt_.dir(), " has shape ", s->shape_str(), ", expected ",
           tv.shape_str(), " for ", br, "x", bc, " blocks");
    }
    w.block_rows = br;
    w.block_cols = bc;
    if (s->dtype == DType::F32 && reinterpret_cast<uintptr_t>(s->data) % alignof(float) == 0) {
      w.scale_inv = reinterpret_cast<const float*>(s->data);
    } else {
      out_.owned_scales.push_back(to_f32_vector(*s));
      w.scale_inv = out_.owned_scales.back().data();
    }
  }

  const Checkpoint& ckpt_;
  const ModelConfig& cfg_;
  ModelWeights& out_;
  std::map<std::string, WeightSpec> specs_;
  int64_t block_rows_ = 128, block_cols_ = 128;
};

}  // namespace

std::unique_ptr<ModelWeights> load_model_weights(const Checkpoint& ckpt, const ModelConfig& cfg) {
  auto w = std::make_unique<ModelWeights>();
  Loader ld(ckpt, cfg, *w);
  w->embed = ld.matrix("model.embed_tokens.weight");
  for (int64_t l = 0; l < cfg.num_hidden_layers; ++l) w->layers.push_back(ld.block(l));
  w->final_norm = ld.vector("model.norm.weight");
  w->lm_head = cfg.tie_word_embeddings ? w->embed : ld.matrix("lm_head.weight");
  for (int64_t k = 1; k <= cfg.num_nextn_predict_layers; ++k) {
    const int64_t l = cfg.num_hidden_layers + k - 1;
    const std::string p = layer_prefix(l);
    // Re-exported checkpoints often drop the MTP layers while keeping the config field: run
    // without MTP then (a partial MTP layer is still an error, naming the missing tensor).
    if (!ld.has(p + "eh_proj.weight") && !ld.has(p + "enorm.weight") && !ld.has(p + "hnorm.weight")) {
      std::fprintf(stderr, "dsv3: warning: config declares %lld MTP module(s) but %s has no tensors for layer %lld; MTP disabled\n",
                   (long long)cfg.num_nextn_predict_layers, ckpt.dir().c_str(), (long long)l);
      break;
    }
    MtpWeights m;
    // Published checkpoints repeat the shared embedding and head inside the MTP layer;
    // exports that drop them share the main model's.
    m.embed = ld.has(p + "embed_tokens.weight") ? ld.matrix(p + "embed_tokens.weight") : w->embed;
    m.enorm = ld.vector(p + "enorm.weight");
    m.hnorm = ld.vector(p + "hnorm.weight");
    m.eh_proj = ld.matrix(p + "eh_proj.weight");
    m.block = ld.block(l);
    m.head_norm = ld.vector(p + "shared_head.norm.weight");
    m.head = ld.has(p + "shared_head.head.weight") ? ld.matrix(p + "shared_head.head.weight") : w->lm_head;
    w->mtp.push_back(std::move(m));
  }
  return w;
}

}  // namespace dsv3
