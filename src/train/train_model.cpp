#include "train/train_model.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "format/safetensors.h"
#include "kernels/matmul.h"
#include "train/balance_loss.h"

namespace dsv3 {

// ------------------------------------------------------------------------------------------
// ParamSet
// ------------------------------------------------------------------------------------------

template <class F>
ParamSet<F>::ParamSet(const ModelConfig& c) : specs_(weight_specs(c)) {
  offsets_.push_back(0);
  for (size_t i = 0; i < specs_.size(); ++i) {
    int64_t n = 1;
    for (int64_t d : specs_[i].shape) n *= d;
    offsets_.push_back(offsets_.back() + n);
    index_.emplace(specs_[i].name, i);
  }
  data_.assign(size_t(offsets_.back()), F(0));
}

template <class F>
size_t ParamSet<F>::index(const std::string& name) const {
  auto it = index_.find(name);
  DSV3_CHECK(it != index_.end(), "training parameters have no tensor ", name);
  return it->second;
}

template <class F>
F* ParamSet<F>::find(const std::string& name) {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : tensor(it->second);
}

template <class F>
const F* ParamSet<F>::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : tensor(it->second);
}

template <class F>
void ParamSet<F>::zero() {
  std::fill(data_.begin(), data_.end(), F(0));
}

ModelConfig training_config(const Model& m) {
  ModelConfig c = m.config();
  c.num_nextn_predict_layers = m.num_mtp();
  return c;
}

namespace {

// Where each Hugging Face tensor of a loaded model lives in ModelWeights (the registry's
// names, walked as model_weights.cpp loads them).
struct Sources {
  std::map<std::string, const WeightMatrix*> matrices;
  std::map<std::string, const std::vector<float>*> vectors;

  void mlp(const std::string& p, const MlpWeights& w) {
    matrices[p + "gate_proj.weight"] = &w.gate;
    matrices[p + "up_proj.weight"] = &w.up;
    matrices[p + "down_proj.weight"] = &w.down;
  }
  void block(const std::string& p, const LayerWeights& L) {
    vectors[p + "input_layernorm.weight"] = &L.input_norm;
    vectors[p + "post_attention_layernorm.weight"] = &L.post_attention_norm;
    const AttentionWeights& a = L.attn;
    const std::string s = p + "self_attn.";
    matrices[s + "q_a_proj.weight"] = &a.q_a;
    vectors[s + "q_a_layernorm.weight"] = &a.q_a_norm;
    matrices[s + "q_b_proj.weight"] = &a.q_b;
    matrices[s + "q_proj.weight"] = &a.q;
    matrices[s + "kv_a_proj_with_mqa.weight"] = &a.kv_a;
    vectors[s + "kv_a_layernorm.weight"] = &a.kv_a_norm;
    matrices[s + "kv_b_proj.weight"] = &a.kv_b;
    matrices[s + "o_proj.weight"] = &a.o;
    if (L.is_moe) {
      matrices[p + "mlp.gate.weight"] = &L.moe.gate;
      vectors[p + "mlp.gate.e_score_correction_bias"] = &L.moe.bias;
      for (size_t e = 0; e < L.moe.experts.size(); ++e) mlp(p + "mlp.experts." + std::to_string(e) + ".", L.moe.experts[e]);
      if (L.moe.has_shared) mlp(p + "mlp.shared_experts.", L.moe.shared);
    } else {
      mlp(p + "mlp.", L.mlp);
    }
  }
  Sources(const ModelWeights& w, const ModelConfig& c) {
    matrices["model.embed_tokens.weight"] = &w.embed;
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) block(layer_prefix(l), w.layers[size_t(l)]);
    vectors["model.norm.weight"] = &w.final_norm;
    matrices["lm_head.weight"] = &w.lm_head;
    for (size_t k = 0; k < w.mtp.size(); ++k) {
      const MtpWeights& m = w.mtp[k];
      const std::string p = layer_prefix(c.num_hidden_layers + int64_t(k));
      matrices[p + "embed_tokens.weight"] = &m.embed;  // the main one when the layer has none
      vectors[p + "enorm.weight"] = &m.enorm;
      vectors[p + "hnorm.weight"] = &m.hnorm;
      matrices[p + "eh_proj.weight"] = &m.eh_proj;
      block(p, m.block);
      vectors[p + "shared_head.norm.weight"] = &m.head_norm;
      matrices[p + "shared_head.head.weight"] = &m.head;
    }
  }
};

}  // namespace

template <class F>
ParamSet<F> load_params(const Model& m) {
  const ModelConfig c = training_config(m);
  ParamSet<F> p(c);
  const Sources src(m.weights(), c);
  std::vector<float> row;
  for (size_t i = 0; i < p.size(); ++i) {
    const WeightSpec& s = p.specs()[i];
    F* dst = p.tensor(i);
    if (auto it = src.matrices.find(s.name); it != src.matrices.end() && it->second->data) {
      const WeightMatrix& w = *it->second;
      DSV3_CHECK(s.shape.size() == 2 && w.rows == s.shape[0] && w.cols == s.shape[1], "tensor ", s.name,
                 ": loaded shape does not match the registry");
      row.resize(size_t(w.cols));
      for (int64_t r = 0; r < w.rows; ++r) {
        dequantize_row(w, r, row.data());
        std::copy(row.begin(), row.end(), dst + r * w.cols);
      }
    } else if (auto iv = src.vectors.find(s.name); iv != src.vectors.end()) {
      const std::vector<float>& v = *iv->second;
      DSV3_CHECK(int64_t(v.size()) == p.numel(i), "tensor ", s.name, ": loaded size ", v.size(), " != ", p.numel(i));
      std::copy(v.begin(), v.end(), dst);
    } else {
      fail("internal: tensor ", s.name, " of the registry was not loaded");
    }
  }
  return p;
}

template <class F>
void save_params_f32(const ParamSet<F>& p, const std::string& path, const std::map<std::string, std::string>& metadata) {
  std::vector<std::vector<float>> f32(p.size());
  std::vector<TensorToWrite> out;
  for (size_t i = 0; i < p.size(); ++i) {
    f32[i].assign(p.tensor(i), p.tensor(i) + p.numel(i));
    const WeightSpec& s = p.specs()[i];
    out.push_back({s.name, DType::F32, s.shape, f32[i].data(), f32[i].size() * sizeof(float)});
  }
  write_safetensors(path, out, metadata);
}

// ------------------------------------------------------------------------------------------
// Per-layer views of a ParamSet (parameters: const F*, gradients: F*)
// ------------------------------------------------------------------------------------------

namespace {

template <class Set>
auto mla_view(Set& s, const std::string& p, const ModelConfig& c) {
  using P = decltype(s.get(std::string()));
  MlaTensors<P> t;
  const std::string a = p + "self_attn.";
  if (c.q_lora_rank) {
    t.q_a_proj = s.get(a + "q_a_proj.weight");
    t.q_a_layernorm = s.get(a + "q_a_layernorm.weight");
    t.q_b_proj = s.get(a + "q_b_proj.weight");
  } else {
    t.q_proj = s.get(a + "q_proj.weight");
  }
  t.kv_a_proj_with_mqa = s.get(a + "kv_a_proj_with_mqa.weight");
  t.kv_a_layernorm = s.get(a + "kv_a_layernorm.weight");
  t.kv_b_proj = s.get(a + "kv_b_proj.weight");
  t.o_proj = s.get(a + "o_proj.weight");
  return t;
}

template <class F>
MlpParams<F> mlp_params(const ParamSet<F>& s, const std::string& p, int64_t D, int64_t I) {
  return {s.get(p + "gate_proj.weight"), s.get(p + "up_proj.weight"), s.get(p + "down_proj.weight"), D, I};
}

template <class F>
MlpGrads<F> mlp_grads(ParamSet<F>& s, const std::string& p) {
  return {s.get(p + "gate_proj.weight"), s.get(p + "up_proj.weight"), s.get(p + "down_proj.weight")};
}

// fp8: FP8 GEMM operands for the routed and shared experts; the router (mlp.gate) stays f32.
template <class F>
MoeParams<F> moe_params(const ParamSet<F>& s, const std::string& p, const ModelConfig& c, const float* bias, bool fp8) {
  MoeParams<F> m;
  m.gate = s.get(p + "mlp.gate.weight");
  m.bias = bias;
  for (int64_t e = 0; e < c.n_routed_experts; ++e) {
    m.experts.push_back(mlp_params(s, p + "mlp.experts." + std::to_string(e) + ".", c.hidden_size, c.moe_intermediate_size));
    m.experts.back().fp8 = fp8;
  }
  m.has_shared = c.n_shared_experts > 0;
  if (m.has_shared) {
    m.shared = mlp_params(s, p + "mlp.shared_experts.", c.hidden_size, c.moe_intermediate_size * c.n_shared_experts);
    m.shared.fp8 = fp8;
  }
  return m;
}

template <class F>
MoeGrads<F> moe_grads(ParamSet<F>& s, const std::string& p, const ModelConfig& c) {
  MoeGrads<F> m;
  m.gate = s.get(p + "mlp.gate.weight");
  for (int64_t e = 0; e < c.n_routed_experts; ++e) m.experts.push_back(mlp_grads(s, p + "mlp.experts." + std::to_string(e) + "."));
  if (c.n_shared_experts > 0) m.shared = mlp_grads(s, p + "mlp.shared_experts.");
  return m;
}

}  // namespace

// ------------------------------------------------------------------------------------------
// Decoder block: h += MLA(RMSNorm(h)) per sequence; h += FFN(RMSNorm(h)) over all rows.
// ------------------------------------------------------------------------------------------

template <class F>
struct TrainModel<F>::Block {
  int64_t layer = 0, B = 0, T = 0;
  bool is_moe = false;
  bool fp8 = false;             // FP8 GEMM operands in MLA, MLP and experts (TrainModel's fp8_activations)
  const float* bias = nullptr;  // e_score_correction_bias as f32 (noaux_tc), else null
  std::vector<F> h_in, rstd1, h_mid, rstd2;
  std::vector<MlaSaved<F>> mla;  // [B]
  MlpSaved<F> mlp;
  MoeSaved<F> moe;
};

template <class F>
struct TrainModel<F>::Mtp {
  int64_t k = 0, Tk = 0;         // module k (1-based) runs on Tk = T - k rows per sequence
  std::vector<int32_t> tok;      // [B·Tk] t_{i+k}
  std::vector<F> e, rstd_e;      // embeddings [B·Tk, D]
  std::vector<F> hp, rstd_hp;    // previous depth's hidden rows [B·Tk, D]
  std::vector<F> cat;            // [B·Tk, 2D] = [enorm(e) ; hnorm(hp)]
  std::unique_ptr<Block> block;
  std::vector<F> x_out, rstd_head, xn, d_logits;  // block output, shared_head.norm(x_out), head gradient
};

template <class F>
TrainModel<F>::TrainModel(const ModelConfig& c, bool fp8_activations)
    : cfg_(c), rope_(c), fp8_activations_(fp8_activations) {}

template <class F>
TrainModel<F>::~TrainModel() = default;

namespace {

template <class F, class Block>
void block_forward_train(const ParamSet<F>& p, const ModelConfig& c, const RopeTable<F>& rope, F* h, Block& s,
                         double alpha, LossValues& loss) {
  const int64_t D = c.hidden_size, N = s.B * s.T;
  const F eps = F(c.rms_norm_eps);
  const std::string pre = layer_prefix(s.layer);
  std::vector<F> normed(size_t(N * D)), delta(size_t(N * D));
  s.h_in.assign(h, h + N * D);
  rmsnorm_forward(h, p.get(pre + "input_layernorm.weight"), eps, N, D, normed.data(), s.rstd1);
  s.mla.resize(size_t(s.B));
  auto attn = mla_view(p, pre, c);
  attn.fp8 = s.fp8;
  for (int64_t b = 0; b < s.B; ++b)
    mla_train_forward(attn, c, rope, &normed[size_t(b * s.T * D)], s.T, &delta[size_t(b * s.T * D)], s.mla[size_t(b)]);
  for (int64_t i = 0; i < N * D; ++i) h[i] += delta[size_t(i)];
  s.h_mid.assign(h, h + N * D);
  rmsnorm_forward(h, p.get(pre + "post_attention_layernorm.weight"), eps, N, D, normed.data(), s.rstd2);
  if (s.is_moe) {
    loss.moe.push_back(moe_forward(moe_params(p, pre, c, s.bias, s.fp8), c, normed.data(), N, delta.data(), s.moe));
    if (alpha != 0.0)
      loss.balance += double(balance_loss_forward(s.moe.scores.data(), s.moe.expert.data(), s.B, s.T,
                                                  c.n_routed_experts, c.num_experts_per_tok, alpha));
  } else {
    MlpParams<F> mlp = mlp_params(p, pre + "mlp.", D, c.intermediate_size);
    mlp.fp8 = s.fp8;
    mlp_forward(mlp, normed.data(), N, delta.data(), s.mlp);
  }
  for (int64_t i = 0; i < N * D; ++i) h[i] += delta[size_t(i)];
}

// dh [N, D]: on entry ∂loss/∂(block output); on return ∂loss/∂(block input).
template <class F, class Block>
void block_backward_train(const ParamSet<F>& p, ParamSet<F>& g, const ModelConfig& c, const RopeTable<F>& rope,
                          const Block& s, double alpha, F* dh) {
  const int64_t D = c.hidden_size, N = s.B * s.T;
  const std::string pre = layer_prefix(s.layer);
  std::vector<F> d_normed(size_t(N * D), F(0));
  if (s.is_moe) {
    std::vector<F> d_scores;
    if (alpha != 0.0) {
      d_scores.assign(size_t(N * c.n_routed_experts), F(0));
      balance_loss_backward(s.moe.scores.data(), s.moe.expert.data(), s.B, s.T, c.n_routed_experts,
                            c.num_experts_per_tok, alpha, F(1), d_scores.data());
    }
    moe_backward(moe_params(p, pre, c, s.bias, s.fp8), c, s.moe, dh, d_scores.empty() ? nullptr : d_scores.data(),
                 moe_grads(g, pre, c), d_normed.data());
  } else {
    MlpParams<F> mlp = mlp_params(p, pre + "mlp.", D, c.intermediate_size);
    mlp.fp8 = s.fp8;
    mlp_backward(mlp, s.mlp, dh, mlp_grads(g, pre + "mlp."), d_normed.data());
  }
  const std::string post = pre + "post_attention_layernorm.weight";
  rmsnorm_backward(d_normed.data(), s.h_mid.data(), p.get(post), s.rstd2.data(), N, D, dh, g.get(post));
  std::fill(d_normed.begin(), d_normed.end(), F(0));
  auto attn = mla_view(p, pre, c);
  attn.fp8 = s.fp8;
  const auto d_attn = mla_view(g, pre, c);
  for (int64_t b = 0; b < s.B; ++b)
    mla_train_backward(attn, c, rope, dh + b * s.T * D, s.mla[size_t(b)], d_attn, &d_normed[size_t(b * s.T * D)]);
  const std::string in = pre + "input_layernorm.weight";
  rmsnorm_backward(d_normed.data(), s.h_in.data(), p.get(in), s.rstd1.data(), N, D, dh, g.get(in));
}

// The lm_head (or shared_head.head) of the main model / an MTP module.
template <class F>
const F* head_of(const ParamSet<F>& p, const ModelConfig& c, const std::string& name) {
  return c.tie_word_embeddings && name == "lm_head.weight" ? p.get("model.embed_tokens.weight") : p.get(name);
}
template <class F>
F* head_grad_of(ParamSet<F>& g, const ModelConfig& c, const std::string& name) {
  return c.tie_word_embeddings && name == "lm_head.weight" ? g.get("model.embed_tokens.weight") : g.get(name);
}

}  // namespace

template <class F>
LossValues TrainModel<F>::forward(const ParamSet<F>& p, const int32_t* ids, int64_t B, int64_t T,
                                  const LossOptions& o) {
  const ModelConfig& c = cfg_;
  const int64_t D = c.hidden_size, V = c.vocab_size, N = B * T;
  DSV3_CHECK(B >= 1 && T >= 2, "training needs at least one sequence of 2 or more tokens (got ", B, " x ", T, ")");
  DSV3_CHECK(c.max_position_embeddings == 0 || T <= c.max_position_embeddings, "sequence of ", T,
             " tokens exceeds max_position_embeddings ", c.max_position_embeddings);
  opt_ = o;
  B_ = B;
  T_ = T;
  ids_.assign(ids, ids + N);
  if (!table_ || table_->positions < T) table_ = std::make_unique<RopeTable<F>>(rope_, T);
  const F eps = F(c.rms_norm_eps);
  LossValues loss;
  bias_f32_.clear();
  auto make_block = [&](int64_t layer, int64_t rows) {
    auto b = std::make_unique<Block>();
    b->layer = layer;
    b->B = B;
    b->T = rows;
    b->is_moe = c.is_moe_layer(layer);
    b->fp8 = fp8_activations_;
    if (const F* bias = b->is_moe ? p.find(layer_prefix(layer) + "mlp.gate.e_score_correction_bias") : nullptr) {
      bias_f32_.emplace_back(bias, bias + c.n_routed_experts);
      b->bias = bias_f32_.back().data();
    }
    return b;
  };

  // Main model.
  std::vector<F> h(size_t(N * D));
  embedding_forward(p.get("model.embed_tokens.weight"), V, D, ids, N, h.data());
  blocks_.clear();
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    blocks_.push_back(make_block(l, T));
    block_forward_train(p, c, *table_, h.data(), *blocks_.back(), o.aux_alpha, loss);
  }
  h_final_ = h;
  hn_.resize(size_t(N * D));
  rmsnorm_forward(h.data(), p.get("model.norm.weight"), eps, N, D, hn_.data(), final_rstd_);
  std::vector<F> logits(size_t(N * V));
  std::vector<int32_t> targets(static_cast<size_t>(N));
  linear_forward(hn_.data(), head_of(p, c, "lm_head.weight"), N, D, V, logits.data());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) targets[size_t(b * T + t)] = t + 1 < T ? ids[b * T + t + 1] : -1;
  d_logits_.resize(size_t(N * V));
  loss.ce = cross_entropy(logits.data(), targets.data(), N, V, F(1), d_logits_.data());

  // MTP modules (report 2.2): module k combines the previous depth's hidden h_i (module 1: the
  // final-normed main hidden) with Emb(t_{i+k}) and predicts t_{i+k+1}; rows i = 0..T-k-1.
  mtp_.clear();
  const int64_t Dm = c.num_nextn_predict_layers;
  const F mtp_scale = Dm > 0 ? F(o.mtp_lambda / double(Dm)) : F(0);
  const std::vector<F>* prev = &hn_;
  int64_t prev_rows = T;
  for (int64_t k = 1; k <= Dm && T - k >= 1; ++k) {
    auto m = std::make_unique<Mtp>();
    const int64_t Tk = T - k, Nk = B * Tk, L = c.num_hidden_layers + k - 1;
    const std::string pre = layer_prefix(L);
    m->k = k;
    m->Tk = Tk;
    m->tok.resize(size_t(Nk));
    m->hp.resize(size_t(Nk * D));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < Tk; ++i) {
        m->tok[size_t(b * Tk + i)] = ids[b * T + i + k];
        std::memcpy(&m->hp[size_t((b * Tk + i) * D)], &(*prev)[size_t((b * prev_rows + i) * D)], sizeof(F) * size_t(D));
      }
    m->e.resize(size_t(Nk * D));
    embedding_forward(p.get(pre + "embed_tokens.weight"), V, D, m->tok.data(), Nk, m->e.data());
    std::vector<F> en(size_t(Nk * D)), hpn(size_t(Nk * D));
    rmsnorm_forward(m->e.data(), p.get(pre + "enorm.weight"), eps, Nk, D, en.data(), m->rstd_e);
    rmsnorm_forward(m->hp.data(), p.get(pre + "hnorm.weight"), eps, Nk, D, hpn.data(), m->rstd_hp);
    m->cat.resize(size_t(Nk * 2 * D));
    for (int64_t r = 0; r < Nk; ++r) {  // published checkpoints: [enorm(embedding) ; hnorm(hidden)]
      std::memcpy(&m->cat[size_t(r * 2 * D)], &en[size_t(r * D)], sizeof(F) * size_t(D));
      std::memcpy(&m->cat[size_t(r * 2 * D + D)], &hpn[size_t(r * D)], sizeof(F) * size_t(D));
    }
    m->x_out.resize(size_t(Nk * D));
    linear_forward(m->cat.data(), p.get(pre + "eh_proj.weight"), Nk, 2 * D, D, m->x_out.data());
    m->block = make_block(L, Tk);
    block_forward_train(p, c, *table_, m->x_out.data(), *m->block, o.aux_alpha, loss);
    m->xn.resize(size_t(Nk * D));
    rmsnorm_forward(m->x_out.data(), p.get(pre + "shared_head.norm.weight"), eps, Nk, D, m->xn.data(), m->rstd_head);
    logits.resize(size_t(Nk * V));
    linear_forward(m->xn.data(), p.get(pre + "shared_head.head.weight"), Nk, D, V, logits.data());
    targets.resize(size_t(Nk));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < Tk; ++i) targets[size_t(b * Tk + i)] = i + k + 1 < T ? ids[b * T + i + k + 1] : -1;
    m->d_logits.resize(size_t(Nk * V));
    loss.mtp += cross_entropy(logits.data(), targets.data(), Nk, V, mtp_scale, m->d_logits.data());
    prev = &m->x_out;  // the next depth takes this module's block output (transformer.cpp)
    prev_rows = Tk;
    mtp_.push_back(std::move(m));
  }
  if (Dm > 0) loss.mtp /= double(Dm);
  loss.total = loss.ce + o.mtp_lambda * loss.mtp + loss.balance;
  return loss;
}

template <class F>
void TrainModel<F>::backward(const ParamSet<F>& p, ParamSet<F>& g) {
  const ModelConfig& c = cfg_;
  const int64_t D = c.hidden_size, V = c.vocab_size, B = B_, T = T_, N = B * T;
  DSV3_CHECK(!blocks_.empty() || c.num_hidden_layers == 0, "TrainModel::backward called before forward");
  std::vector<F> d_hn(size_t(N * D), F(0));
  // MTP modules, deepest first: each passes ∂loss/∂(its input hidden) to the previous depth.
  std::vector<F> d_next;  // ∂loss/∂(module k's block output) coming from module k+1
  for (size_t j = mtp_.size(); j-- > 0;) {
    const Mtp& m = *mtp_[j];
    const int64_t Tk = m.Tk, Nk = B * Tk;
    const std::string pre = layer_prefix(c.num_hidden_layers + m.k - 1);
    std::vector<F> dx(size_t(Nk * D), F(0)), d_xn(size_t(Nk * D), F(0));
    if (!d_next.empty()) dx = d_next;
    linear_backward(m.d_logits.data(), m.xn.data(), p.get(pre + "shared_head.head.weight"), Nk, D, V, d_xn.data(),
                    g.get(pre + "shared_head.head.weight"));
    const std::string hn = pre + "shared_head.norm.weight";
    rmsnorm_backward(d_xn.data(), m.x_out.data(), p.get(hn), m.rstd_head.data(), Nk, D, dx.data(), g.get(hn));
    block_backward_train(p, g, c, *table_, *m.block, opt_.aux_alpha, dx.data());
    std::vector<F> d_cat(size_t(Nk * 2 * D), F(0));
    linear_backward(dx.data(), m.cat.data(), p.get(pre + "eh_proj.weight"), Nk, 2 * D, D, d_cat.data(),
                    g.get(pre + "eh_proj.weight"));
    std::vector<F> d_en(size_t(Nk * D)), d_hpn(size_t(Nk * D)), d_e(size_t(Nk * D), F(0)), d_hp(size_t(Nk * D), F(0));
    for (int64_t r = 0; r < Nk; ++r) {
      std::memcpy(&d_en[size_t(r * D)], &d_cat[size_t(r * 2 * D)], sizeof(F) * size_t(D));
      std::memcpy(&d_hpn[size_t(r * D)], &d_cat[size_t(r * 2 * D + D)], sizeof(F) * size_t(D));
    }
    rmsnorm_backward(d_en.data(), m.e.data(), p.get(pre + "enorm.weight"), m.rstd_e.data(), Nk, D, d_e.data(),
                     g.get(pre + "enorm.weight"));
    embedding_backward(d_e.data(), m.tok.data(), Nk, D, g.get(pre + "embed_tokens.weight"));
    rmsnorm_backward(d_hpn.data(), m.hp.data(), p.get(pre + "hnorm.weight"), m.rstd_hp.data(), Nk, D, d_hp.data(),
                     g.get(pre + "hnorm.weight"));
    // Scatter rows i < Tk back to the previous depth (module 1: the final-normed main hidden).
    const int64_t prev_rows = m.k == 1 ? T : mtp_[j - 1]->Tk;
    std::vector<F>& d_prev = m.k == 1 ? d_hn : d_next;
    if (m.k != 1) d_next.assign(size_t(B * prev_rows * D), F(0));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < Tk; ++i) {
        F* dst = &d_prev[size_t((b * prev_rows + i) * D)];
        const F* src = &d_hp[size_t((b * Tk + i) * D)];
        for (int64_t x = 0; x < D; ++x) dst[x] += src[x];
      }
  }
  // Main model.
  linear_backward(d_logits_.data(), hn_.data(), head_of(p, c, "lm_head.weight"), N, D, V, d_hn.data(),
                  head_grad_of(g, c, "lm_head.weight"));
  std::vector<F> dh(size_t(N * D), F(0));
  rmsnorm_backward(d_hn.data(), h_final_.data(), p.get("model.norm.weight"), final_rstd_.data(), N, D, dh.data(),
                   g.get("model.norm.weight"));
  for (size_t l = blocks_.size(); l-- > 0;) block_backward_train(p, g, c, *table_, *blocks_[l], opt_.aux_alpha, dh.data());
  embedding_backward(dh.data(), ids_.data(), N, D, g.get("model.embed_tokens.weight"));
}

template class ParamSet<float>;
template class ParamSet<double>;
template class TrainModel<float>;
template class TrainModel<double>;
template ParamSet<float> load_params<float>(const Model&);
template ParamSet<double> load_params<double>(const Model&);
template void save_params_f32<float>(const ParamSet<float>&, const std::string&, const std::map<std::string, std::string>&);
template void save_params_f32<double>(const ParamSet<double>&, const std::string&, const std::map<std::string, std::string>&);

}  // namespace dsv3
