#include "model/model_weights.h"

#include <cstdio>

#include "core/error.h"
#include "kernels/quant.h"
#include "model/weight_registry.h"

namespace dsv3 {

namespace {

std::string shape_string(const std::vector<int64_t>& shape) {
  TensorView tv;
  tv.shape = shape;
  return tv.shape_str();
}

// Block scales `<name>_scale_inv` of a quantised weight: present, f32-convertible, and of
// shape [ceil(N/br), ceil(K/bc)]. Used in place when stored as aligned F32.
void attach_scales(const Checkpoint& ckpt, const std::string& name, int64_t br, int64_t bc, WeightMatrix& w,
                   std::deque<std::vector<float>>& owned) {
  const std::string sname = name + "_scale_inv";
  const TensorView* s = ckpt.find(sname);
  DSV3_CHECK(s, "tensor ", name, " in ", ckpt.dir(), " is ", dtype_name(w.dtype), " but ", sname, " is missing");
  const std::vector<int64_t> want{(w.rows + br - 1) / br, (w.cols + bc - 1) / bc};
  DSV3_CHECK(s->shape == want, "tensor ", sname, " in ", ckpt.dir(), " has shape ", s->shape_str(), ", expected ",
             shape_string(want), " for ", br, "x", bc, " blocks");
  DSV3_CHECK(s->dtype == DType::F32 || s->dtype == DType::BF16 || s->dtype == DType::F16, "tensor ", sname, " in ",
             ckpt.dir(), " has dtype ", dtype_name(s->dtype), ", expected F32, BF16 or F16");
  w.block_rows = br;
  w.block_cols = bc;
  if (s->dtype == DType::F32 && reinterpret_cast<uintptr_t>(s->data) % alignof(float) == 0) {
    w.scale_inv = reinterpret_cast<const float*>(s->data);
  } else {
    owned.push_back(to_f32_vector(*s));
    w.scale_inv = owned.back().data();
  }
}

}  // namespace

WeightMatrix weight_view(const Checkpoint& ckpt, const ModelConfig& cfg, const std::string& name, int64_t rows,
                         int64_t cols, std::deque<std::vector<float>>& owned_scales) {
  const TensorView& t = ckpt.get(name);
  WeightMatrix w;
  w.name = name;
  w.dtype = t.dtype;
  w.rows = rows;
  w.cols = cols;
  w.data = t.data;
  const std::optional<QuantizationConfig>& q = cfg.quantization_config;
  const std::string method = q ? q->quant_method : "";
  // I4 is stored as U8 [N, ceil(K/2)] (safetensors has no 4-bit type), so only an int4
  // quantization_config says how to read a U8 matrix.
  if (t.dtype == DType::U8 && method == "int4") w.dtype = DType::I4;
  const std::vector<int64_t> want{rows, w.dtype == DType::I4 ? (cols + 1) / 2 : cols};
  DSV3_CHECK(t.shape == want, "tensor ", name, " in ", ckpt.dir(), " has shape ", t.shape_str(), ", config.json implies ",
             shape_string(want), w.dtype == DType::I4 ? " (int4: two weights per byte)" : "");
  switch (w.dtype) {
    case DType::F32: case DType::F16: case DType::BF16: break;
    case DType::F8_E4M3:
      attach_scales(ckpt, name, q ? q->block_rows : 128, q ? q->block_cols : 128, w, owned_scales);
      break;
    case DType::I8: case DType::I4:
      DSV3_CHECK(method == "int8" || method == "int4", "tensor ", name, " in ", ckpt.dir(), " is ",
                 dtype_name(t.dtype), " but config.json has no int8/int4 quantization_config (group_size)");
      attach_scales(ckpt, name, 1, q->group_size, w, owned_scales);
      break;
    default:
      fail("tensor ", name, " in ", ckpt.dir(), " has unsupported dtype ", dtype_name(t.dtype),
           t.dtype == DType::U8 ? " (U8 weights are int4 only with quantization_config.quant_method \"int4\")" : "");
  }
  return w;
}

namespace {

class Loader {
 public:
  Loader(const Checkpoint& ckpt, const ModelConfig& cfg, ModelWeights& out)
      : ckpt_(ckpt), cfg_(cfg), out_(out) {
    for (auto& s : weight_specs(cfg)) specs_.emplace(s.name, std::move(s));
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
    auto it = specs_.find(name);
    DSV3_CHECK(it != specs_.end() && it->second.shape.size() == 2, "internal: no matrix spec for tensor ", name);
    return weight_view(ckpt_, cfg_, name, it->second.shape[0], it->second.shape[1], out_.owned_scales);
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
  const Checkpoint& ckpt_;
  const ModelConfig& cfg_;
  ModelWeights& out_;
  std::map<std::string, WeightSpec> specs_;
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
