#include "model/mla.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/latent_attention.h"
#include "kernels/matmul.h"
#include "kernels/vec_ops.h"
#include "model/ops.h"

namespace dsv3 {

namespace {

struct Dims {
  int64_t D, H, Dn, Dr, Dv, Dq, Rkv, W;
  explicit Dims(const ModelConfig& c)
      : D(c.hidden_size), H(c.num_attention_heads), Dn(c.qk_nope_head_dim), Dr(c.qk_rope_head_dim),
        Dv(c.v_head_dim), Dq(Dn + Dr), Rkv(c.kv_lora_rank), W(Rkv + Dr) {}
};

// ya = x·Waᵀ and yb = x·Wbᵀ (the two projections of the same input): prefill rows on the
// tiled path, the decode rows of both in one grouped pass (as matmul_split would compute them).
void matmul_split_pair(const float* x, int64_t T, int64_t n_prefill, const WeightMatrix& a, float* ya,
                       const WeightMatrix& b, float* yb) {
  if (n_prefill > 0) {
    matmul_split(x, n_prefill, n_prefill, a, ya);
    matmul_split(x, n_prefill, n_prefill, b, yb);
  }
  const int64_t nd = T - n_prefill, K = a.cols;
  if (nd <= 0) return;
  const MatmulProduct products[2] = {{x + n_prefill * K, nd, &a, ya + n_prefill * a.rows},
                                     {x + n_prefill * K, nd, &b, yb + n_prefill * b.rows}};
  matmul_rows_grouped(products, 2);
}

// Naive path: expand every cached latent to per-head keys and values with W_UK/W_UV.
// The expansion always takes the tiled matmul path, so a query's keys do not depend on how
// its prompt was chunked. Each head then runs as blocks of kQueryBlock query rows through the
// latent attention kernels (kernels/latent_attention.h: one pass over the keys per block,
// causal lengths per row); key row s of head h is [k_nope ; k_pe] (one Dn+Dr dot), its value
// row the Dv values. A row's result depends only on its own query and keys (the kernels are
// batch-invariant), so chunking and blocking do not change it.
constexpr int64_t kQueryBlock = 64;

void attend_naive(const AttentionWeights& w, const Dims& d, float scale, const float* q, int64_t T,
                  int64_t pos0, const LatentRows& stored, float* o) {
  const int64_t S = pos0 + T;
  DecodedLatents decoded;  // an f32 cache is read in place; fp8 rows are decoded once here
  decode_latent_rows(stored, S, decoded);
  const LatentRows& cache = decoded.view;
  std::vector<float> latent(size_t(S * d.Rkv));
  for (int64_t s = 0; s < S; ++s) std::memcpy(&latent[size_t(s * d.Rkv)], cache.row(s), sizeof(float) * d.Rkv);
  const int64_t KV = d.Dn + d.Dv;
  std::vector<float> kv(size_t(S * d.H * KV));  // [S, H, Dn+Dv]
  matmul_split(latent.data(), S, S, w.kv_b, kv.data());
  const int64_t blocks = (T + kQueryBlock - 1) / kQueryBlock;
  // Items are (head, block) head-major, so a thread's range covers few heads (whole heads
  // when H divides evenly); the head's key rows are built when its first item comes up.
  ThreadPool::global().parallel_for(d.H * blocks, [&](int64_t b, int64_t e) {
    std::vector<const float*> krows(static_cast<size_t>(S)), vrows(static_cast<size_t>(S));
    std::vector<float> keys(size_t(S * d.Dq)), qb(size_t(kQueryBlock * d.Dq)), ob(size_t(kQueryBlock * d.Dv)),
        scores(size_t(kQueryBlock * S));
    std::vector<int64_t> n(static_cast<size_t>(kQueryBlock));
    int64_t table_head = -1;
    for (int64_t item = b; item < e; ++item) {
      const int64_t h = item / blocks, t0 = item % blocks * kQueryBlock, nt = std::min(kQueryBlock, T - t0);
      if (h != table_head) {  // key row s of head h: [k_nope ; k_pe], one Dn+Dr dot per score
        for (int64_t s = 0; s < S; ++s) {
          float* k = &keys[size_t(s * d.Dq)];
          std::memcpy(k, &kv[size_t((s * d.H + h) * KV)], sizeof(float) * d.Dn);
          std::memcpy(k + d.Dn, cache.row(s) + d.Rkv, sizeof(float) * d.Dr);
          krows[size_t(s)] = k;
          vrows[size_t(s)] = &kv[size_t((s * d.H + h) * KV + d.Dn)];
        }
        table_head = h;
      }
      for (int64_t i = 0; i < nt; ++i) {
        std::memcpy(&qb[size_t(i * d.Dq)], q + ((t0 + i) * d.H + h) * d.Dq, sizeof(float) * d.Dq);
        n[size_t(i)] = pos0 + t0 + i + 1;
      }
      const int64_t ld = pos0 + t0 + nt;  // the block's longest row
      latent_scores(qb.data(), nt, n.data(), krows.data(), d.Dq, scale, scores.data(), ld);
      for (int64_t i = 0; i < nt; ++i) softmax_inplace(&scores[size_t(i * ld)], n[size_t(i)]);
      latent_weighted_sum(scores.data(), ld, nt, n.data(), vrows.data(), d.Dv, ob.data());
      for (int64_t i = 0; i < nt; ++i)
        std::memcpy(o + ((t0 + i) * d.H + h) * d.Dv, &ob[size_t(i * d.Dv)], sizeof(float) * d.Dv);
    }
  });
}

// A query row of the absorbed path: the f32 cache rows it attends to (one pointer per row;
// rows of one sequence share the table) and how many of them.
struct QueryRow {
  const float* const* rows;
  int64_t n;
};

// Absorbed path: fold W_UK into the query and W_UV into the output, attend in latent space.
// A thread takes a range of heads; all rows share one pass over each head's slice of kv_b.
// MLA is multi-query in latent space (every head attends to the same rows [c_kv ; k_pe]), so
// all of a thread's heads and all rows of one sequence (a speculative step's verification
// rows) are query rows of one pass over that sequence's cache, as FlashMLA batches heads.
void attend_absorbed(const AttentionWeights& w, const Dims& d, float scale, const float* q,
                     const std::vector<QueryRow>& rows, float* o) {
  const int64_t T = int64_t(rows.size()), KV = d.Dn + d.Dv;
  // Groups of consecutive rows on one cache: rows [starts[g], starts[g + 1]).
  std::vector<int64_t> starts;
  int64_t S = 0, group = 0;  // longest cache; most rows in a group
  for (int64_t t = 0; t < T; ++t) {
    S = std::max(S, rows[size_t(t)].n);
    if (t == 0 || rows[size_t(t)].rows != rows[size_t(t - 1)].rows) starts.push_back(t);
  }
  starts.push_back(T);
  for (size_t g = 0; g + 1 < starts.size(); ++g) group = std::max(group, starts[g + 1] - starts[g]);
  ThreadPool::global().parallel_for(d.H, [&](int64_t b, int64_t e) {
    // Query row (t, h) is row t·Hl + (h − b) of q_cat: [W_UK,hᵀ q_nope ; q_pe], one W-long dot
    // with each cache row. Rows of one sequence are then contiguous. Scores hold one sequence's
    // rows at a time (a batch of long contexts would not fit all at once).
    const int64_t Hl = e - b, Q = T * Hl;
    std::vector<float> wrow(size_t(d.Rkv)), q_cat(size_t(Q * d.W), 0.0f), o_lat(size_t(Q * d.Rkv)),
        scores(size_t(group * Hl * S));
    std::vector<int64_t> n(static_cast<size_t>(Q));
    for (int64_t h = b; h < e; ++h) {
      // W_UK,hᵀ q_nope: the head's Dn rows of kv_b weighted by q_nope, read in their stored dtype.
      for (int64_t t = 0; t < T; ++t)
        weighted_row_sum(w.kv_b, h * KV, d.Dn, q + (t * d.H + h) * d.Dq, &q_cat[size_t((t * Hl + h - b) * d.W)]);
      for (int64_t t = 0; t < T; ++t) {
        std::memcpy(&q_cat[size_t((t * Hl + h - b) * d.W + d.Rkv)], q + (t * d.H + h) * d.Dq + d.Dn,
                    sizeof(float) * d.Dr);
        n[size_t(t * Hl + h - b)] = rows[size_t(t)].n;
      }
    }
    for (size_t g = 0; g + 1 < starts.size(); ++g) {  // one pass over each group's cache
      const int64_t t0 = starts[g], t1 = starts[g + 1];
      const float* const* table = rows[size_t(t0)].rows;
      const int64_t r0 = t0 * Hl, nr = (t1 - t0) * Hl;
      latent_scores(&q_cat[size_t(r0 * d.W)], nr, &n[size_t(r0)], table, d.W, scale, scores.data(), S);
      for (int64_t r = 0; r < nr; ++r) softmax_inplace(&scores[size_t(r * S)], n[size_t(r0 + r)]);
      latent_weighted_sum(scores.data(), S, nr, &n[size_t(r0)], table, d.Rkv, &o_lat[size_t(r0 * d.Rkv)]);
    }
    // o[t] = W_UV,h o_lat[t]: the head's Dv rows of kv_b as a matrix of their own, multiplied
    // in their stored dtype by the rows kernel (no f32 copy of the weights; with int8
    // activations for I4/I8 as every other product), unless a scale block straddles them.
    std::vector<float> x_t(size_t(T * d.Rkv)), y_t(size_t(T * d.Dv));
    for (int64_t h = b; h < e; ++h) {
      WeightMatrix uv;
      if (weight_row_slice(w.kv_b, h * KV + d.Dn, d.Dv, &uv)) {
        for (int64_t t = 0; t < T; ++t)
          std::memcpy(&x_t[size_t(t * d.Rkv)], &o_lat[size_t((t * Hl + h - b) * d.Rkv)], sizeof(float) * d.Rkv);
        matmul_rows_serial(x_t.data(), T, uv, y_t.data());
        for (int64_t t = 0; t < T; ++t)
          std::memcpy(o + (t * d.H + h) * d.Dv, &y_t[size_t(t * d.Dv)], sizeof(float) * d.Dv);
        continue;
      }
      for (int64_t i = 0; i < d.Dv; ++i) {
        dequantize_row(w.kv_b, h * KV + d.Dn + i, wrow.data());
        for (int64_t t = 0; t < T; ++t)
          o[(t * d.H + h) * d.Dv + i] = dot_f32(wrow.data(), &o_lat[size_t((t * Hl + h - b) * d.Rkv)], d.Rkv);
      }
    }
  });
}

}  // namespace

void mla_forward_batch(const AttentionWeights& w, const ModelConfig& c, const Rope& rope, const float* x,
                       int64_t T, int64_t n_prefill, const std::vector<MlaSlice>& slices, float* out) {
  const Dims d(c);
  DSV3_CHECK(n_prefill >= 0 && n_prefill <= T, "mla: ", n_prefill, " prefill rows of ", T);
  // transformers builds q_a_layernorm / kv_a_layernorm without passing rms_norm_eps, and the
  // official code uses 1e-6 for every norm: the latent norms are 1e-6 whatever the config says.
  const float eps = 1e-6f;
  std::vector<float> q(size_t(T * d.H * d.Dq));  // [T, H, Dn+Dr]
  std::vector<float> kv(size_t(T * d.W));         // [T, Rkv + Dr]
  if (c.q_lora_rank) {
    const int64_t Rq = *c.q_lora_rank;
    std::vector<float> qa(size_t(T * Rq));
    matmul_split_pair(x, T, n_prefill, w.q_a, qa.data(), w.kv_a, kv.data());
    for (int64_t t = 0; t < T; ++t) rmsnorm(&qa[size_t(t * Rq)], w.q_a_norm.data(), eps, Rq, &qa[size_t(t * Rq)]);
    matmul_split(qa.data(), T, n_prefill, w.q_b, q.data());
  } else {
    matmul_split_pair(x, T, n_prefill, w.q, q.data(), w.kv_a, kv.data());
  }
  std::vector<float> fresh_row(size_t(d.W)), cs(size_t(d.Dr));
  for (const MlaSlice& sl : slices) {
    DSV3_CHECK(sl.row0 >= 0 && sl.len > 0 && sl.row0 + sl.len <= T, "mla: slice rows out of range");
    DSV3_CHECK(sl.row0 + sl.len <= n_prefill || sl.row0 >= n_prefill, "mla: a slice straddles the prefill rows");
    DSV3_CHECK(sl.cache.layout.rkv + sl.cache.layout.dr == d.W && (sl.cache.is_f32() || sl.cache.layout.rkv == d.Rkv),
               "mla: cache rows of ", sl.cache.width(), " values, the layer needs ", d.Rkv, " + ", d.Dr);
    for (int64_t i = 0; i < sl.len; ++i) {
      const int64_t t = sl.row0 + i, pos = sl.pos0 + i;
      // The row [RMSNorm(c_kv) ; RoPE(k_pe)] is built in place in an f32 cache, else in a
      // scratch row that write_latent_row quantises (from this token's values alone, so
      // batching cannot change it).
      float* row = sl.cache.is_f32() ? sl.cache.row(pos) : fresh_row.data();
      rmsnorm(&kv[size_t(t * d.W)], w.kv_a_norm.data(), eps, d.Rkv, row);
      std::memcpy(row + d.Rkv, &kv[size_t(t * d.W + d.Rkv)], sizeof(float) * d.Dr);
      rope.cos_sin(pos, cs.data());  // once for k_pe and every head's q_pe
      rope.rotate(row + d.Rkv, cs.data());
      if (!sl.cache.is_f32()) write_latent_row(sl.cache, pos, row);
      for (int64_t h = 0; h < d.H; ++h) rope.rotate(&q[size_t((t * d.H + h) * d.Dq + d.Dn)], cs.data());
    }
  }
  std::vector<float> o(size_t(T * d.H * d.Dv));  // [T, H, Dv]
  const float scale = rope.softmax_scale();
  std::vector<QueryRow> decode_rows;
  for (const MlaSlice& sl : slices) {
    if (sl.row0 < n_prefill) {
      attend_naive(w, d, scale, &q[size_t(sl.row0 * d.H * d.Dq)], sl.len, sl.pos0, sl.cache,
                   &o[size_t(sl.row0 * d.H * d.Dv)]);
    }
  }
  // Decode rows are contiguous from n_prefill; order them by row. A quantised cache is
  // decoded once per slice here, not once per head in attend_absorbed.
  decode_rows.resize(size_t(T - n_prefill), QueryRow{nullptr, 0});
  std::vector<DecodedLatents> decoded(slices.size());  // sized once: views point into it
  std::vector<std::vector<const float*>> tables(slices.size());
  for (size_t k = 0; k < slices.size(); ++k) {
    const MlaSlice& sl = slices[k];
    if (sl.row0 < n_prefill) continue;
    const int64_t n = sl.pos0 + sl.len;
    decode_latent_rows(sl.cache, n, decoded[k]);
    tables[k].resize(size_t(n));
    for (int64_t s = 0; s < n; ++s) tables[k][size_t(s)] = decoded[k].view.row(s);
    for (int64_t i = 0; i < sl.len; ++i)
      decode_rows[size_t(sl.row0 + i - n_prefill)] = {tables[k].data(), sl.pos0 + i + 1};
  }
  for (const QueryRow& r : decode_rows) DSV3_CHECK(r.rows, "mla: decode row without a slice");
  if (!decode_rows.empty())
    attend_absorbed(w, d, scale, &q[size_t(n_prefill * d.H * d.Dq)], decode_rows, &o[size_t(n_prefill * d.H * d.Dv)]);
  matmul_split(o.data(), T, n_prefill, w.o, out);
}

void mla_forward(const AttentionWeights& w, const ModelConfig& c, const Rope& rope, const float* x,
                 int64_t T, int64_t pos0, const LatentRows& cache, float* out, MlaPath path) {
  if (path == MlaPath::kAuto) path = T > 1 ? MlaPath::kNaive : MlaPath::kAbsorbed;
  const std::vector<MlaSlice> one{MlaSlice{0, T, pos0, cache}};
  mla_forward_batch(w, c, rope, x, T, path == MlaPath::kNaive ? T : 0, one, out);
}

}  // namespace dsv3
