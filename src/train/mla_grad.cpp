#include "train/mla_grad.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/gemm.h"
#include "train/fp8_quant.h"

namespace dsv3 {

namespace {

struct Dims {
  int64_t D, H, Dn, Dr, Dv, Dq, Rq, Rkv, W, KV;
  explicit Dims(const ModelConfig& c)
      : D(c.hidden_size), H(c.num_attention_heads), Dn(c.qk_nope_head_dim), Dr(c.qk_rope_head_dim),
        Dv(c.v_head_dim), Dq(Dn + Dr), Rq(c.q_lora_rank.value_or(0)), Rkv(c.kv_lora_rank), W(Rkv + Dr),
        KV(Dn + Dv) {}
};

// Latent norms: 1e-6 whatever the config says (see src/model/mla.cpp).
constexpr double kLatentEps = 1e-6;

// Per-head contiguous copies: Q_h [T, Dq], K_h [T, Dq] = [k_nope_h ; k_pe], V_h [T, Dv].
template <class F>
void gather_head(const Dims& d, const MlaSaved<F>& s, int64_t h, F* Qh, F* Kh, F* Vh) {
  const int64_t T = s.T;
  for (int64_t t = 0; t < T; ++t) {
    std::memcpy(Qh + t * d.Dq, &s.q[size_t((t * d.H + h) * d.Dq)], sizeof(F) * size_t(d.Dq));
    const F* kv = &s.kv[size_t((t * d.H + h) * d.KV)];
    std::memcpy(Kh + t * d.Dq, kv, sizeof(F) * size_t(d.Dn));
    std::memcpy(Kh + t * d.Dq + d.Dn, &s.k_pe[size_t(t * d.Dr)], sizeof(F) * size_t(d.Dr));
    std::memcpy(Vh + t * d.Dv, kv + d.Dn, sizeof(F) * size_t(d.Dv));
  }
}

}  // namespace

template <class F>
void mla_train_forward(const MlaParams<F>& p, const ModelConfig& c, const RopeTable<F>& rope, const F* x,
                       int64_t T, F* out, MlaSaved<F>& s) {
  const Dims d(c);
  DSV3_CHECK(T <= rope.positions, "MLA: sequence of ", T, " tokens exceeds the RoPE table (", rope.positions, ")");
  s.T = T;
  s.x.assign(x, x + T * d.D);
  const bool q8 = p.fp8;
  if (q8) quantize_tiles_e4m3(s.x.data(), T, d.D);
  x = s.x.data();  // the projections' input (fp8: quantised)
  // Queries [T, H, Dq].
  s.q.resize(size_t(T * d.H * d.Dq));
  if (c.q_lora_rank) {
    s.qa.resize(size_t(T * d.Rq));
    s.qa_n.resize(size_t(T * d.Rq));
    linear_forward(x, p.q_a_proj, T, d.D, d.Rq, s.qa.data());
    rmsnorm_forward(s.qa.data(), p.q_a_layernorm, F(kLatentEps), T, d.Rq, s.qa_n.data(), s.qa_rstd);
    if (q8) quantize_tiles_e4m3(s.qa_n.data(), T, d.Rq);
    linear_forward(s.qa_n.data(), p.q_b_proj, T, d.Rq, d.H * d.Dq, s.q.data());
  } else {
    linear_forward(x, p.q_proj, T, d.D, d.H * d.Dq, s.q.data());
  }
  // Latent and shared rope key.
  std::vector<F> kva(size_t(T * d.W));
  linear_forward(x, p.kv_a_proj_with_mqa, T, d.D, d.W, kva.data());
  s.kv_c.resize(size_t(T * d.Rkv));
  s.c_kv.resize(size_t(T * d.Rkv));
  s.k_pe.resize(size_t(T * d.Dr));
  for (int64_t t = 0; t < T; ++t) {
    std::memcpy(&s.kv_c[size_t(t * d.Rkv)], &kva[size_t(t * d.W)], sizeof(F) * size_t(d.Rkv));
    F* kpe = &s.k_pe[size_t(t * d.Dr)];
    std::memcpy(kpe, &kva[size_t(t * d.W + d.Rkv)], sizeof(F) * size_t(d.Dr));
    rope.forward(kpe, t);
    for (int64_t h = 0; h < d.H; ++h) rope.forward(&s.q[size_t((t * d.H + h) * d.Dq + d.Dn)], t);
  }
  rmsnorm_forward(s.kv_c.data(), p.kv_a_layernorm, F(kLatentEps), T, d.Rkv, s.c_kv.data(), s.kv_rstd);
  if (q8) quantize_tiles_e4m3(s.c_kv.data(), T, d.Rkv);
  // Naive path: expand the latent to per-head keys and values.
  s.kv.resize(size_t(T * d.H * d.KV));
  linear_forward(s.c_kv.data(), p.kv_b_proj, T, d.Rkv, d.H * d.KV, s.kv.data());
  // Causal softmax attention per head.
  s.probs.assign(size_t(d.H * T * T), F(0));
  s.o.resize(size_t(T * d.H * d.Dv));
  std::vector<F> Qh(size_t(T * d.Dq)), Kh(size_t(T * d.Dq)), Vh(size_t(T * d.Dv)), Oh(size_t(T * d.Dv));
  for (int64_t h = 0; h < d.H; ++h) {
    gather_head(d, s, h, Qh.data(), Kh.data(), Vh.data());
    F* P = &s.probs[size_t(h * T * T)];
    gemm(Trans::kNo, Trans::kYes, T, T, d.Dq, Qh.data(), Kh.data(), P);  // [T, T] raw scores
    for (int64_t t = 0; t < T; ++t) {
      F* row = P + t * T;
      F m = row[0] * rope.softmax_scale;
      for (int64_t u = 0; u <= t; ++u) m = std::max(m, row[u] * rope.softmax_scale);
      double sum = 0.0;
      for (int64_t u = 0; u <= t; ++u) {
        row[u] = F(std::exp(row[u] * rope.softmax_scale - m));
        sum += double(row[u]);
      }
      const F inv = F(1.0 / sum);
      for (int64_t u = 0; u <= t; ++u) row[u] *= inv;
      std::fill(row + t + 1, row + T, F(0));
    }
    gemm(Trans::kNo, Trans::kNo, T, d.Dv, T, P, Vh.data(), Oh.data());
    for (int64_t t = 0; t < T; ++t)
      std::memcpy(&s.o[size_t((t * d.H + h) * d.Dv)], &Oh[size_t(t * d.Dv)], sizeof(F) * size_t(d.Dv));
  }
  if (q8) quantize_tiles_e4m3(s.o.data(), T, d.H * d.Dv);
  linear_forward(s.o.data(), p.o_proj, T, d.H * d.Dv, d.D, out);
}

template <class F>
void mla_train_backward(const MlaParams<F>& p, const ModelConfig& c, const RopeTable<F>& rope, const F* d_out,
                        const MlaSaved<F>& s, const MlaGrads<F>& g, F* dx) {
  const Dims d(c);
  const int64_t T = s.T;
  const bool q8 = p.fp8;
  // out = o·o_projᵀ
  std::vector<F> d_o(size_t(T * d.H * d.Dv), F(0));
  linear_backward(d_out, s.o.data(), p.o_proj, T, d.H * d.Dv, d.D, d_o.data(), g.o_proj, q8);
  // Attention, per head: with S = scale·Q·Kᵀ, P = softmax(S) (causal), O = P·V:
  //   dP = dO·Vᵀ, dV = Pᵀ·dO, dS = P∘(dP − rowsum(P∘dP)), dQ = scale·dS·K, dK = scale·dSᵀ·Q.
  std::vector<F> d_q(size_t(T * d.H * d.Dq)), d_kv(size_t(T * d.H * d.KV)), d_kpe(size_t(T * d.Dr), F(0));
  std::vector<F> Qh(size_t(T * d.Dq)), Kh(size_t(T * d.Dq)), Vh(size_t(T * d.Dv)), dOh(size_t(T * d.Dv));
  std::vector<F> dS(size_t(T * T)), dQh(size_t(T * d.Dq)), dKh(size_t(T * d.Dq)), dVh(size_t(T * d.Dv));
  for (int64_t h = 0; h < d.H; ++h) {
    gather_head(d, s, h, Qh.data(), Kh.data(), Vh.data());
    for (int64_t t = 0; t < T; ++t)
      std::memcpy(&dOh[size_t(t * d.Dv)], &d_o[size_t((t * d.H + h) * d.Dv)], sizeof(F) * size_t(d.Dv));
    const F* P = &s.probs[size_t(h * T * T)];
    gemm(Trans::kNo, Trans::kYes, T, T, d.Dv, dOh.data(), Vh.data(), dS.data());  // dP
    gemm(Trans::kYes, Trans::kNo, T, d.Dv, T, P, dOh.data(), dVh.data());
    for (int64_t t = 0; t < T; ++t) {
      const F* pr = P + t * T;
      F* r = &dS[size_t(t * T)];
      double dot = 0.0;
      for (int64_t u = 0; u <= t; ++u) dot += double(pr[u]) * double(r[u]);
      for (int64_t u = 0; u <= t; ++u) r[u] = pr[u] * (r[u] - F(dot)) * rope.softmax_scale;
      std::fill(r + t + 1, r + T, F(0));
    }
    gemm(Trans::kNo, Trans::kNo, T, d.Dq, T, dS.data(), Kh.data(), dQh.data());
    gemm(Trans::kYes, Trans::kNo, T, d.Dq, T, dS.data(), Qh.data(), dKh.data());
    for (int64_t t = 0; t < T; ++t) {
      std::memcpy(&d_q[size_t((t * d.H + h) * d.Dq)], &dQh[size_t(t * d.Dq)], sizeof(F) * size_t(d.Dq));
      F* dkv = &d_kv[size_t((t * d.H + h) * d.KV)];
      std::memcpy(dkv, &dKh[size_t(t * d.Dq)], sizeof(F) * size_t(d.Dn));
      std::memcpy(dkv + d.Dn, &dVh[size_t(t * d.Dv)], sizeof(F) * size_t(d.Dv));
      F* dk = &d_kpe[size_t(t * d.Dr)];
      for (int64_t i = 0; i < d.Dr; ++i) dk[i] += dKh[size_t(t * d.Dq + d.Dn + i)];  // k_pe is shared by all heads
    }
  }
  // RoPE backward: the inverse rotation, on q_pe of every head and on the shared k_pe.
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t h = 0; h < d.H; ++h) rope.backward(&d_q[size_t((t * d.H + h) * d.Dq + d.Dn)], t);
    rope.backward(&d_kpe[size_t(t * d.Dr)], t);
  }
  // kv = c_kv·kv_bᵀ, c_kv = RMSNorm(kv_c); kva = [kv_c ; kr] = x·kv_aᵀ.
  std::vector<F> d_ckv(size_t(T * d.Rkv), F(0)), d_kvc(size_t(T * d.Rkv), F(0));
  linear_backward(d_kv.data(), s.c_kv.data(), p.kv_b_proj, T, d.Rkv, d.H * d.KV, d_ckv.data(), g.kv_b_proj, q8);
  rmsnorm_backward(d_ckv.data(), s.kv_c.data(), p.kv_a_layernorm, s.kv_rstd.data(), T, d.Rkv, d_kvc.data(),
                   g.kv_a_layernorm);
  std::vector<F> d_kva(size_t(T * d.W));
  for (int64_t t = 0; t < T; ++t) {
    std::memcpy(&d_kva[size_t(t * d.W)], &d_kvc[size_t(t * d.Rkv)], sizeof(F) * size_t(d.Rkv));
    std::memcpy(&d_kva[size_t(t * d.W + d.Rkv)], &d_kpe[size_t(t * d.Dr)], sizeof(F) * size_t(d.Dr));
  }
  // x feeds kv_a and the query projection: quantised along tokens once for both Wgrads.
  thread_local std::vector<F> x_tok_buf;
  const F* x_tok = q8 && (g.kv_a_proj_with_mqa || g.q_a_proj || g.q_proj)
                       ? fp8_token_tiles(s.x.data(), T, d.D, x_tok_buf) : nullptr;
  linear_backward(d_kva.data(), s.x.data(), p.kv_a_proj_with_mqa, T, d.D, d.W, dx, g.kv_a_proj_with_mqa, q8, x_tok);
  // Queries.
  if (c.q_lora_rank) {
    std::vector<F> d_qan(size_t(T * d.Rq), F(0)), d_qa(size_t(T * d.Rq), F(0));
    linear_backward(d_q.data(), s.qa_n.data(), p.q_b_proj, T, d.Rq, d.H * d.Dq, d_qan.data(), g.q_b_proj, q8);
    rmsnorm_backward(d_qan.data(), s.qa.data(), p.q_a_layernorm, s.qa_rstd.data(), T, d.Rq, d_qa.data(),
                     g.q_a_layernorm);
    linear_backward(d_qa.data(), s.x.data(), p.q_a_proj, T, d.D, d.Rq, dx, g.q_a_proj, q8, x_tok);
  } else {
    linear_backward(d_q.data(), s.x.data(), p.q_proj, T, d.D, d.H * d.Dq, dx, g.q_proj, q8, x_tok);
  }
}

template void mla_train_forward<float>(const MlaParams<float>&, const ModelConfig&, const RopeTable<float>&,
                                       const float*, int64_t, float*, MlaSaved<float>&);
template void mla_train_forward<double>(const MlaParams<double>&, const ModelConfig&, const RopeTable<double>&,
                                        const double*, int64_t, double*, MlaSaved<double>&);
template void mla_train_backward<float>(const MlaParams<float>&, const ModelConfig&, const RopeTable<float>&,
                                        const float*, const MlaSaved<float>&, const MlaGrads<float>&, float*);
template void mla_train_backward<double>(const MlaParams<double>&, const ModelConfig&, const RopeTable<double>&,
                                         const double*, const MlaSaved<double>&, const MlaGrads<double>&, double*);

}  // namespace dsv3
