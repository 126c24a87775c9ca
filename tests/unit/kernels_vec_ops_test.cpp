// dot_f32 / axpy_f32 at every SIMD level against their scalar twins: many lengths, every
// misalignment of the inputs, guard values after the output.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/vec_ops.h"

namespace dsv3 {
namespace {

constexpr float kGuard = 777.25f;

std::vector<int64_t> lengths() {
  std::vector<int64_t> v;
  for (int64_t n = 0; n <= 70; ++n) v.push_back(n);
  for (int64_t n : {127, 128, 129, 255, 256, 257, 1000, 1023, 4096, 4097}) v.push_back(n);
  return v;
}

TEST(VecOps, DotMatchesScalarEveryLevel) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t n : lengths())
    for (int off = 0; off < 3; ++off) {
      std::vector<float> a(static_cast<size_t>(n + 3)), b(static_cast<size_t>(n + 3));
      for (auto& v : a) v = normal(rng);
      for (auto& v : b) v = normal(rng);
      const float* pa = a.data() + off;
      const float* pb = b.data() + (2 - off);
      double exact = 0, mag = 0;
      for (int64_t i = 0; i < n; ++i) {
        exact += double(pa[i]) * pb[i];
        mag += std::fabs(double(pa[i]) * pb[i]);
      }
      const double tol = 1e-6 * mag * std::sqrt(double(n) + 1) + 1e-30;
      EXPECT_NEAR(dot_f32_ref(pa, pb, n), exact, tol) << "n=" << n;
      for (Isa isa : supported_isas())
        EXPECT_NEAR(dot_f32_with(isa, pa, pb, n), exact, tol) << "n=" << n << " isa=" << isa_name(isa);
      EXPECT_NEAR(dot_f32(pa, pb, n), exact, tol);
    }
}

TEST(VecOps, AxpyMatchesScalarEveryLevel) {
  std::mt19937 rng(4);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t n : lengths())
    for (int off = 0; off < 3; ++off) {
      std::vector<float> x(static_cast<size_t>(n + 3)), y0(static_cast<size_t>(n + 8), kGuard);
      for (auto& v : x) v = normal(rng);
      for (int64_t i = 0; i < n; ++i) y0[size_t(i + off)] = normal(rng);
      const float a = normal(rng);
      std::vector<float> want = y0;
      axpy_f32_ref(a, x.data() + off, want.data() + off, n);
      for (Isa isa : supported_isas()) {
        std::vector<float> got = y0;
        axpy_f32_with(isa, a, x.data() + off, got.data() + off, n);
        for (int64_t i = 0; i < n; ++i) {
          // One fused or unfused multiply-add per element: within one rounding of the product.
          const float w = want[size_t(i + off)];
          const double tol = 2 * 6e-8 * (std::fabs(double(a) * x[size_t(i + off)]) + std::fabs(w)) + 1e-30;
          ASSERT_NEAR(got[size_t(i + off)], w, tol) << "n=" << n << " i=" << i << " isa=" << isa_name(isa);
        }
        for (int64_t i = 0; i < off; ++i) ASSERT_EQ(got[size_t(i)], kGuard) << "write before y";
        for (size_t i = size_t(n + off); i < got.size(); ++i) ASSERT_EQ(got[i], kGuard) << "write past y";
      }
    }
}

}  // namespace
}  // namespace dsv3
