// latent_scores / latent_weighted_sum at every SIMD level against their scalar twins (double
// sums as the judge), over widths that hit every tail of the vector loops, ragged row counts
// per query row, and guard values; and batch invariance: a query row computed in a group gives
// the same bits as that row computed alone.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/latent_attention.h"

namespace dsv3 {
namespace {

constexpr float kGuard = 777.25f;

struct Case {
  int64_t T, W;
  std::vector<int64_t> n;
  std::vector<float> q, cache;  // cache: max n rows of W values (plus slack for misalignment)
  std::vector<const float*> rows;
};

Case make_case(std::mt19937& rng, int64_t T, int64_t W, int64_t max_rows, int64_t offset) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int64_t> count(1, max_rows);
  Case c{T, W, {}, {}, {}, {}};
  for (int64_t t = 0; t < T; ++t) c.n.push_back(count(rng));
  c.q.resize(size_t(T * W));
  for (auto& v : c.q) v = normal(rng);
  // Rows in reverse order with a gap: the kernels must go through the table, not assume a stride.
  const int64_t stride = W + 3;
  c.cache.resize(size_t(max_rows * stride + offset));
  for (auto& v : c.cache) v = normal(rng);
  for (int64_t s = 0; s < max_rows; ++s) c.rows.push_back(&c.cache[size_t((max_rows - 1 - s) * stride + offset)]);
  return c;
}

double score_exact(const Case& c, int64_t t, int64_t s, double* mag) {
  double e = 0;
  *mag = 0;
  for (int64_t i = 0; i < c.W; ++i) {
    e += double(c.q[size_t(t * c.W + i)]) * c.rows[size_t(s)][i];
    *mag += std::fabs(double(c.q[size_t(t * c.W + i)]) * c.rows[size_t(s)][i]);
  }
  return e;
}

TEST(LatentAttention, ScoresMatchScalarEveryLevel) {
  std::mt19937 rng(11);
  const float scale = 0.125f;
  for (int64_t W : {1, 5, 15, 16, 17, 31, 32, 33, 48, 64, 80, 100, 576, 577})
    for (int64_t T : {1, 2, 3, 5, 9}) {
      const Case c = make_case(rng, T, W, 13, W % 3);
      const int64_t ld = 15;
      std::vector<float> want(size_t(T * ld), kGuard);
      latent_scores_ref(c.q.data(), T, c.n.data(), c.rows.data(), W, scale, want.data(), ld);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t s = 0; s < c.n[size_t(t)]; ++s) {
          double mag;
          const double exact = score_exact(c, t, s, &mag) * scale;
          EXPECT_NEAR(want[size_t(t * ld + s)], exact, 1e-6 * mag * scale * std::sqrt(double(W)) + 1e-30);
        }
      for (Isa isa : supported_isas()) {
        std::vector<float> got(size_t(T * ld), kGuard);
        latent_scores_with(isa, c.q.data(), T, c.n.data(), c.rows.data(), W, scale, got.data(), ld);
        for (int64_t t = 0; t < T; ++t)
          for (int64_t s = 0; s < ld; ++s) {
            const size_t k = size_t(t * ld + s);
            if (s >= c.n[size_t(t)]) {
              EXPECT_EQ(got[k], kGuard) << "wrote past row " << t << "'s " << c.n[size_t(t)] << " scores";
              continue;
            }
            double mag;
            score_exact(c, t, s, &mag);
            EXPECT_NEAR(got[k], want[k], 2e-6 * mag * scale * std::sqrt(double(W)) + 1e-30)
                << "W=" << W << " T=" << T << " t=" << t << " s=" << s << " isa=" << isa_name(isa);
          }
      }
    }
}

TEST(LatentAttention, WeightedSumMatchesScalarEveryLevel) {
  std::mt19937 rng(12);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  for (int64_t R : {1, 7, 8, 9, 16, 17, 31, 32, 48, 63, 64, 65, 100, 512, 513})
    for (int64_t T : {1, 2, 3, 4, 5, 6, 7, 9}) {
      // Up to 11 cached rows, or up to 150: the kernels work on blocks of 64 cached rows.
      const int64_t rows = (R + T) % 3 == 0 ? 150 : 11;
      const Case c = make_case(rng, T, R, rows, R % 2);
      const int64_t ld = rows + 1;
      std::vector<float> p(size_t(T * ld));
      for (auto& v : p) v = unit(rng);
      std::vector<float> want(size_t(T * R + 4), kGuard);
      latent_weighted_sum_ref(p.data(), ld, T, c.n.data(), c.rows.data(), R, want.data());
      for (Isa isa : supported_isas()) {
        std::vector<float> got(size_t(T * R + 4), kGuard);
        latent_weighted_sum_with(isa, p.data(), ld, T, c.n.data(), c.rows.data(), R, got.data());
        for (int64_t t = 0; t < T; ++t)
          for (int64_t i = 0; i < R; ++i) {
            double exact = 0, mag = 0;
            for (int64_t s = 0; s < c.n[size_t(t)]; ++s) {
              exact += double(p[size_t(t * ld + s)]) * c.rows[size_t(s)][i];
              mag += std::fabs(double(p[size_t(t * ld + s)]) * c.rows[size_t(s)][i]);
            }
            const double tol = 2e-6 * mag * std::sqrt(double(c.n[size_t(t)])) + 1e-30;
            EXPECT_NEAR(want[size_t(t * R + i)], exact, tol);
            EXPECT_NEAR(got[size_t(t * R + i)], exact, tol)
                << "R=" << R << " T=" << T << " t=" << t << " i=" << i << " isa=" << isa_name(isa);
          }
        for (size_t k = size_t(T * R); k < got.size(); ++k) EXPECT_EQ(got[k], kGuard) << "wrote past the output";
      }
    }
}

// A speculative step verifies its rows in one group; each must equal the row decoded alone.
TEST(LatentAttention, GroupedRowsEqualRowsAloneBitwise) {
  std::mt19937 rng(13);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  for (int64_t W : {80, 576, 37})
    for (int64_t T : {2, 3, 4, 5, 7}) {
      const int64_t rows = T % 2 ? 140 : 21;  // across blocks of 64 cached rows, or within one
      const Case c = make_case(rng, T, W, rows, 1);
      const int64_t ld = rows, R = W - W / 8;
      std::vector<float> p(size_t(T * ld));
      for (auto& v : p) v = unit(rng);
      for (Isa isa : supported_isas()) {
        std::vector<float> scores(size_t(T * ld), kGuard), out(size_t(T * R));
        latent_scores_with(isa, c.q.data(), T, c.n.data(), c.rows.data(), W, 0.3f, scores.data(), ld);
        latent_weighted_sum_with(isa, p.data(), ld, T, c.n.data(), c.rows.data(), R, out.data());
        for (int64_t t = 0; t < T; ++t) {
          std::vector<float> s1(size_t(ld), kGuard), o1(static_cast<size_t>(R));
          latent_scores_with(isa, &c.q[size_t(t * W)], 1, &c.n[size_t(t)], c.rows.data(), W, 0.3f, s1.data(), ld);
          latent_weighted_sum_with(isa, &p[size_t(t * ld)], ld, 1, &c.n[size_t(t)], c.rows.data(), R, o1.data());
          for (int64_t s = 0; s < ld; ++s)
            EXPECT_EQ(s1[size_t(s)], scores[size_t(t * ld + s)]) << "isa=" << isa_name(isa) << " t=" << t << " s=" << s;
          for (int64_t i = 0; i < R; ++i)
            EXPECT_EQ(o1[size_t(i)], out[size_t(t * R + i)]) << "isa=" << isa_name(isa) << " t=" << t << " i=" << i;
        }
      }
    }
}

TEST(LatentAttention, RejectsRowsWithNothingToAttendTo) {
  const float q[4] = {1, 2, 3, 4}, row[4] = {1, 1, 1, 1};
  const float* rows[1] = {row};
  const int64_t n[1] = {0};
  float scores[1], out[4];
  EXPECT_THROW(latent_scores(q, 1, n, rows, 4, 1.0f, scores, 1), std::exception);
  EXPECT_THROW(latent_weighted_sum(q, 1, 1, n, rows, 4, out), std::exception);
}

}  // namespace
}  // namespace dsv3
