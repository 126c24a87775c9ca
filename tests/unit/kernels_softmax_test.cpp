// softmax_f32 at every SIMD level against the std::exp reference: many lengths (every tail of
// the vector loops), wide value ranges, values far below the maximum (exactly 0), a single
// dominant value, and guard values after the row.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/softmax.h"

namespace dsv3 {
namespace {

constexpr float kGuard = 777.25f;

void expect_matches_ref(const std::vector<float>& in, const char* what) {
  const int64_t n = int64_t(in.size());
  std::vector<float> want = in;
  softmax_f32_ref(want.data(), n);
  for (Isa isa : supported_isas()) {
    std::vector<float> got = in;
    got.push_back(kGuard);
    softmax_f32_with(isa, got.data(), n);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_NEAR(got[size_t(i)], want[size_t(i)], 3e-6 * want[size_t(i)] + 1e-37)
          << what << " n=" << n << " i=" << i << " isa=" << isa_name(isa);
      sum += got[size_t(i)];
    }
    EXPECT_NEAR(sum, 1.0, 1e-5) << what << " n=" << n << " isa=" << isa_name(isa);
    EXPECT_EQ(got[size_t(n)], kGuard) << "wrote past the row, n=" << n;
  }
}

TEST(Softmax, MatchesReferenceEveryLevel) {
  std::mt19937 rng(21);
  std::vector<int64_t> lengths;
  for (int64_t n = 1; n <= 40; ++n) lengths.push_back(n);
  for (int64_t n : {63, 64, 65, 127, 128, 129, 1000, 4097}) lengths.push_back(n);
  for (float spread : {0.1f, 3.0f, 30.0f})
    for (int64_t n : lengths) {
      std::normal_distribution<float> normal(0.5f, spread);
      std::vector<float> x(static_cast<size_t>(n));
      for (auto& v : x) v = normal(rng);
      expect_matches_ref(x, "normal");
    }
}

TEST(Softmax, ExtremeValues) {
  // Far below the max: e^(−200) underflows to exactly 0 at every level.
  std::vector<float> x = {0.0f, -200.0f, -87.0f, -88.0f, 5.0f, -1e30f, -INFINITY, 4.9f, 1e-3f};
  expect_matches_ref(x, "extremes");
  for (Isa isa : supported_isas()) {
    std::vector<float> y = x;
    softmax_f32_with(isa, y.data(), int64_t(y.size()));
    EXPECT_EQ(y[1], 0.0f) << isa_name(isa);
    EXPECT_EQ(y[5], 0.0f) << isa_name(isa);
    EXPECT_EQ(y[6], 0.0f) << isa_name(isa);
  }
  expect_matches_ref(std::vector<float>(37, 2.5f), "all equal");      // 1/37 each
  expect_matches_ref({1000.0f, 0.0f, -1000.0f, 999.0f}, "large magnitudes");
  expect_matches_ref({42.0f}, "single value");
  // A long row of near-equal scores (a 200k-token context): the sum is kept in double, so each
  // probability stays within float rounding of 1/n.
  std::vector<float> flat(200000);
  for (size_t i = 0; i < flat.size(); ++i) flat[i] = 0.25f + 1e-4f * float(i % 7);
  expect_matches_ref(flat, "long flat row");
}

TEST(Softmax, EmptyRowIsANoOp) {
  float x[1] = {kGuard};
  softmax_f32(x, 0);
  EXPECT_EQ(x[0], kGuard);
}

}  // namespace
}  // namespace dsv3
