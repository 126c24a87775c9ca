// Gradient checks of the attention-side training ops (src/train/grad_ops.h, mla_grad.h):
// double-precision analytic gradients of every parameter and the input against central
// finite differences, on random small shapes (YaRN on, both q paths). The scalar loss is
// Σ out∘R for a fixed random R, so d_out = R. Plus: the float training forwards equal the
// inference forwards of src/model on the same weights.
//
// Tolerance: ‖g − fd‖ / ‖fd‖ ≤ 1e-6 per tensor (central differences with h = 1e-5 have
// O(h²) ≈ 1e-10 truncation error relative to the curvature; 1e-6 leaves a wide margin while
// still catching any missing term, which shows up at ≥ 1e-2).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/rng.h"
#include "model/latent_cache.h"
#include "model/mla.h"
#include "model/ops.h"
#include "model/rope.h"
#include "train/grad_ops.h"
#include "train/mla_grad.h"

namespace dsv3 {
namespace {

using Vec = std::vector<double>;

Vec random_vec(Rng& rng, size_t n, double scale, double offset = 0.0) {
  Vec v(n);
  for (auto& x : v) x = offset + scale * (2.0 * double(rng.uniform()) - 1.0);
  return v;
}

double rel_err(const Vec& a, const Vec& b) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-300);
}

// Central finite differences of loss() with respect to every element of p.
Vec finite_diff(Vec& p, const std::function<double()>& loss, double h = 1e-5) {
  Vec g(p.size());
  for (size_t i = 0; i < p.size(); ++i) {
    const double keep = p[i];
    p[i] = keep + h;
    const double lp = loss();
    p[i] = keep - h;
    const double lm = loss();
    p[i] = keep;
    g[i] = (lp - lm) / (2.0 * h);
  }
  return g;
}

double dot(const Vec& a, const Vec& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

constexpr double kTol = 1e-6;

void expect_grad(const std::string& what, Vec& p, const Vec& analytic, const std::function<double()>& loss) {
  const Vec fd = finite_diff(p, loss);
  const double e = rel_err(analytic, fd);
  EXPECT_LT(e, kTol) << what << ": relative error " << e;
  if (std::getenv("DSV3_GRADCHECK_VERBOSE")) std::printf("  %-40s rel err %.2e\n", what.c_str(), e);
  double n = 0.0;
  for (double v : fd) n += v * v;
  EXPECT_GT(n, 0.0) << what << ": finite-difference gradient is zero (test does not exercise it)";
}

ModelConfig attn_config(bool q_lora, bool yarn) {
  ModelConfig c;
  c.architecture = "DeepseekV3ForCausalLM";
  c.hidden_size = 24;
  c.num_attention_heads = 3;
  c.qk_nope_head_dim = 6;
  c.qk_rope_head_dim = 8;
  c.v_head_dim = 5;
  c.kv_lora_rank = 10;
  if (q_lora) c.q_lora_rank = 12;
  c.rope_theta = 10000.0;
  c.max_position_embeddings = 64;
  if (yarn) {
    c.rope_scaling.type = "yarn";
    c.rope_scaling.factor = 8.0;
    c.rope_scaling.original_max_position_embeddings = 8;
    c.rope_scaling.beta_fast = 32.0;
    c.rope_scaling.beta_slow = 1.0;
    c.rope_scaling.mscale = 0.9;         // differs from mscale_all_dim: cos/sin get a factor too
    c.rope_scaling.mscale_all_dim = 1.0;
  }
  return c;
}

// ---------------------------------------------------------------- single ops

TEST(TrainGradcheck, Linear) {
  Rng rng(1);
  const int64_t T = 4, K = 7, N = 5;
  Vec x = random_vec(rng, T * K, 1.0), W = random_vec(rng, N * K, 0.5), R = random_vec(rng, T * N, 1.0);
  auto loss = [&] {
    Vec y(size_t(T * N));
    linear_forward(x.data(), W.data(), T, K, N, y.data());
    return dot(y, R);
  };
  Vec dx(x.size(), 0.0), dW(W.size(), 0.0);
  linear_backward(R.data(), x.data(), W.data(), T, K, N, dx.data(), dW.data());
  expect_grad("linear dx", x, dx, loss);
  expect_grad("linear dW", W, dW, loss);
}

TEST(TrainGradcheck, RmsNorm) {
  Rng rng(2);
  const int64_t T = 5, n = 9;
  Vec x = random_vec(rng, T * n, 2.0), w = random_vec(rng, n, 0.2, 1.0), R = random_vec(rng, T * n, 1.0);
  auto loss = [&] {
    Vec y(size_t(T * n));
    std::vector<double> rstd;
    rmsnorm_forward(x.data(), w.data(), 1e-6, T, n, y.data(), rstd);
    return dot(y, R);
  };
  Vec y(size_t(T * n)), dx(x.size(), 0.0), dw(w.size(), 0.0);
  std::vector<double> rstd;
  rmsnorm_forward(x.data(), w.data(), 1e-6, T, n, y.data(), rstd);
  rmsnorm_backward(R.data(), x.data(), w.data(), rstd.data(), T, n, dx.data(), dw.data());
  expect_grad("rmsnorm dx", x, dx, loss);
  expect_grad("rmsnorm dw", w, dw, loss);
}

TEST(TrainGradcheck, Embedding) {
  Rng rng(3);
  const int64_t V = 6, D = 4, T = 5;
  const std::vector<int32_t> ids{3, 0, 3, 5, 1};  // a repeated id: rows must add up
  Vec table = random_vec(rng, V * D, 1.0), R = random_vec(rng, T * D, 1.0);
  auto loss = [&] {
    Vec y(size_t(T * D));
    embedding_forward(table.data(), V, D, ids.data(), T, y.data());
    return dot(y, R);
  };
  Vec dt(table.size(), 0.0);
  embedding_backward(R.data(), ids.data(), T, D, dt.data());
  Vec fd = finite_diff(table, loss);
  EXPECT_LT(rel_err(dt, fd), kTol);
  EXPECT_DOUBLE_EQ(dt[size_t(2 * D)], 0.0);  // id 2 unused
}

TEST(TrainGradcheck, RopeYarn) {
  const ModelConfig c = attn_config(true, true);
  const Rope rope(c);
  const RopeTable<double> table(rope, 12);
  Rng rng(4);
  const int64_t Dr = c.qk_rope_head_dim, T = 12;
  Vec x = random_vec(rng, T * Dr, 1.0), R = random_vec(rng, T * Dr, 1.0);
  auto loss = [&] {
    Vec y = x;
    for (int64_t t = 0; t < T; ++t) table.forward(&y[size_t(t * Dr)], t);
    return dot(y, R);
  };
  Vec dx = R;
  for (int64_t t = 0; t < T; ++t) table.backward(&dx[size_t(t * Dr)], t);
  expect_grad("rope dx", x, dx, loss);
}

TEST(TrainGradcheck, CrossEntropy) {
  Rng rng(5);
  const int64_t T = 5, V = 7;
  const std::vector<int32_t> targets{2, -1, 6, 0, 2};  // one position does not count
  Vec z = random_vec(rng, T * V, 3.0);
  auto loss = [&] { return cross_entropy<double>(z.data(), targets.data(), T, V, 1.0, nullptr); };
  Vec dz(z.size());
  const double l = cross_entropy<double>(z.data(), targets.data(), T, V, 0.5, dz.data());
  EXPECT_NEAR(l, loss(), 1e-15);
  for (double& v : dz) v *= 2.0;  // grad_scale 0.5 scales the gradient only
  expect_grad("cross-entropy dlogits", z, dz, loss);
  for (int64_t v = 0; v < V; ++v) EXPECT_EQ(dz[size_t(V + v)], 0.0);
}

// ---------------------------------------------------------------- MLA

// Parameters of one MLA layer, by Hugging Face name.
struct MlaSetup {
  ModelConfig c;
  std::map<std::string, Vec> w;
  explicit MlaSetup(ModelConfig cfg, uint64_t seed) : c(std::move(cfg)) {
    Rng rng(seed);
    const int64_t D = c.hidden_size, H = c.num_attention_heads, Dq = c.qk_head_dim();
    const int64_t Dv = c.v_head_dim, Rkv = c.kv_lora_rank, Dr = c.qk_rope_head_dim;
    const double sd = 1.0 / std::sqrt(double(D));
    if (c.q_lora_rank) {
      const int64_t Rq = *c.q_lora_rank;
      w["q_a_proj"] = random_vec(rng, size_t(Rq * D), sd);
      w["q_a_layernorm"] = random_vec(rng, size_t(Rq), 0.2, 1.0);
      w["q_b_proj"] = random_vec(rng, size_t(H * Dq * Rq), 1.0 / std::sqrt(double(Rq)));
    } else {
      w["q_proj"] = random_vec(rng, size_t(H * Dq * D), sd);
    }
    w["kv_a_proj_with_mqa"] = random_vec(rng, size_t((Rkv + Dr) * D), sd);
    w["kv_a_layernorm"] = random_vec(rng, size_t(Rkv), 0.2, 1.0);
    w["kv_b_proj"] = random_vec(rng, size_t(H * (c.qk_nope_head_dim + Dv) * Rkv), 1.0 / std::sqrt(double(Rkv)));
    w["o_proj"] = random_vec(rng, size_t(D * H * Dv), 1.0 / std::sqrt(double(H * Dv)));
  }
  template <class P, class M>
  static MlaTensors<P> tensors(M& m) {
    MlaTensors<P> t;
    auto get = [&](const char* n) -> P { return m.count(n) ? m.at(n).data() : nullptr; };
    t.q_a_proj = get("q_a_proj");
    t.q_a_layernorm = get("q_a_layernorm");
    t.q_b_proj = get("q_b_proj");
    t.q_proj = get("q_proj");
    t.kv_a_proj_with_mqa = get("kv_a_proj_with_mqa");
    t.kv_a_layernorm = get("kv_a_layernorm");
    t.kv_b_proj = get("kv_b_proj");
    t.o_proj = get("o_proj");
    return t;
  }
};

void check_mla(const ModelConfig& cfg, int64_t T, uint64_t seed) {
  MlaSetup m(cfg, seed);
  const Rope rope(m.c);
  const RopeTable<double> table(rope, T);
  Rng rng(seed + 100);
  const int64_t D = m.c.hidden_size;
  Vec x = random_vec(rng, size_t(T * D), 1.0), R = random_vec(rng, size_t(T * D), 1.0);
  auto loss = [&] {
    Vec out(size_t(T * D));
    MlaSaved<double> s;
    mla_train_forward(MlaSetup::tensors<const double*>(m.w), m.c, table, x.data(), T, out.data(), s);
    return dot(out, R);
  };
  std::map<std::string, Vec> grads;
  for (auto& [name, v] : m.w) grads[name] = Vec(v.size(), 0.0);
  Vec dx(x.size(), 0.0), out(size_t(T * D));
  MlaSaved<double> s;
  const auto params = MlaSetup::tensors<const double*>(m.w);
  mla_train_forward(params, m.c, table, x.data(), T, out.data(), s);
  mla_train_backward(params, m.c, table, R.data(), s, MlaSetup::tensors<double*>(grads), dx.data());
  for (auto& [name, v] : m.w) expect_grad("MLA " + name, v, grads[name], loss);
  expect_grad("MLA input", x, dx, loss);
}

TEST(TrainGradcheck, MlaLowRankQYarn) { check_mla(attn_config(true, true), 7, 11); }
TEST(TrainGradcheck, MlaFullRankQYarn) { check_mla(attn_config(false, true), 6, 12); }
TEST(TrainGradcheck, MlaLowRankQPlainRope) { check_mla(attn_config(true, false), 5, 13); }

// ---------------------------------------------------------------- float training forward == inference

template <class T>
std::vector<float> to_float(const std::vector<T>& v) {
  return std::vector<float>(v.begin(), v.end());
}

WeightMatrix f32_matrix(const std::vector<float>& v, int64_t rows, int64_t cols, const std::string& name) {
  WeightMatrix w;
  w.dtype = DType::F32;
  w.rows = rows;
  w.cols = cols;
  w.data = v.data();
  w.name = name;
  return w;
}

double max_rel_diff(const std::vector<float>& a, const std::vector<float>& ref) {
  double m = 0.0, scale = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    m = std::max(m, std::fabs(double(a[i]) - double(ref[i])));
    scale = std::max(scale, std::fabs(double(ref[i])));
  }
  return m / scale;
}

void check_mla_matches_inference(const ModelConfig& cfg, int64_t T) {
  MlaSetup m(cfg, 21);
  std::map<std::string, std::vector<float>> wf;
  for (auto& [n, v] : m.w) wf[n] = to_float(v);
  const ModelConfig& c = m.c;
  const int64_t D = c.hidden_size, H = c.num_attention_heads, Dq = c.qk_head_dim(), Dv = c.v_head_dim;
  const int64_t Rkv = c.kv_lora_rank, Dr = c.qk_rope_head_dim;
  AttentionWeights aw;
  if (c.q_lora_rank) {
    const int64_t Rq = *c.q_lora_rank;
    aw.q_a = f32_matrix(wf["q_a_proj"], Rq, D, "q_a_proj");
    aw.q_a_norm = wf["q_a_layernorm"];
    aw.q_b = f32_matrix(wf["q_b_proj"], H * Dq, Rq, "q_b_proj");
  } else {
    aw.q = f32_matrix(wf["q_proj"], H * Dq, D, "q_proj");
  }
  aw.kv_a = f32_matrix(wf["kv_a_proj_with_mqa"], Rkv + Dr, D, "kv_a_proj_with_mqa");
  aw.kv_a_norm = wf["kv_a_layernorm"];
  aw.kv_b = f32_matrix(wf["kv_b_proj"], H * (c.qk_nope_head_dim + Dv), Rkv, "kv_b_proj");
  aw.o = f32_matrix(wf["o_proj"], D, H * Dv, "o_proj");
  Rng rng(22);
  const std::vector<float> x = to_float(random_vec(rng, size_t(T * D), 1.0));
  const Rope rope(c);
  ContiguousLatentCache cache(1, Rkv + Dr, T);
  std::vector<float> ref(size_t(T * D)), ours(size_t(T * D));
  mla_forward(aw, c, rope, x.data(), T, 0, cache.layer(0), ref.data(), MlaPath::kNaive);
  const RopeTable<float> table(rope, T);
  MlaSaved<float> s;
  mla_train_forward(MlaSetup::tensors<const float*>(wf), c, table, x.data(), T, ours.data(), s);
  EXPECT_LT(max_rel_diff(ours, ref), 1e-5);
  // The saved latent rows are the inference cache rows [c_kv ; k_pe].
  std::vector<float> rows, cached;
  for (int64_t t = 0; t < T; ++t) {
    rows.insert(rows.end(), s.c_kv.begin() + t * Rkv, s.c_kv.begin() + (t + 1) * Rkv);
    rows.insert(rows.end(), s.k_pe.begin() + t * Dr, s.k_pe.begin() + (t + 1) * Dr);
    cached.insert(cached.end(), cache.layer(0).row(t), cache.layer(0).row(t) + Rkv + Dr);
  }
  EXPECT_LT(max_rel_diff(rows, cached), 1e-6);
}

TEST(TrainForwardMatchesInference, MlaLowRankQ) { check_mla_matches_inference(attn_config(true, true), 9); }
TEST(TrainForwardMatchesInference, MlaFullRankQ) { check_mla_matches_inference(attn_config(false, true), 9); }

TEST(TrainForwardMatchesInference, RmsNormAndRope) {
  const ModelConfig c = attn_config(true, true);
  Rng rng(31);
  const int64_t T = 6, n = 24, Dr = c.qk_rope_head_dim;
  const std::vector<float> x = to_float(random_vec(rng, size_t(T * n), 3.0));
  const std::vector<float> w = to_float(random_vec(rng, size_t(n), 0.2, 1.0));
  std::vector<float> ours(x.size()), ref(x.size()), rstd;
  rmsnorm_forward(x.data(), w.data(), 1e-6f, T, n, ours.data(), rstd);
  for (int64_t t = 0; t < T; ++t) rmsnorm(&x[size_t(t * n)], w.data(), 1e-6f, n, &ref[size_t(t * n)]);
  EXPECT_EQ(ours, ref);  // same arithmetic, bit-identical
  const Rope rope(c);
  const RopeTable<float> table(rope, T);
  std::vector<float> a(x.begin(), x.begin() + T * Dr), b = a;
  for (int64_t t = 0; t < T; ++t) {
    table.forward(&a[size_t(t * Dr)], t);
    rope.apply(&b[size_t(t * Dr)], t);
  }
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace dsv3
