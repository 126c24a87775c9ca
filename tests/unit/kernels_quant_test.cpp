// Block-scaled integer weights (I8, I4): every SIMD level and path against the scalar twin
// matmul_ref and against matmul on the dequantised f32 twin, over odd shapes (partial
// groups, K not a multiple of the group or of 2, several block heights), batch invariance
// of both paths, bit-exact dequantize_row, the quantisers' error bounds, and bad groups.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"

namespace dsv3 {
namespace {

constexpr float kGuard = -12345.678f;

// Random codes (every byte, I4 pad nibbles included) and random positive/negative scales.
struct IntWeight {
  std::vector<uint8_t> bytes;
  std::vector<float> scales;
  WeightMatrix w;
};

IntWeight make_int_weight(DType dt, int64_t N, int64_t K, int64_t group, int64_t br, std::mt19937& rng) {
  IntWeight iw;
  const int64_t rb = weight_row_bytes(dt, K);
  iw.bytes.resize(size_t(N * rb + 1));
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : iw.bytes) b = uint8_t(byte(rng));
  if (dt == DType::I8)
    for (auto& b : iw.bytes) b = b == 0x80 ? 0x81 : b;  // -128 is not a code the format uses
  const int64_t sr = (N + br - 1) / br, sc = (K + group - 1) / group;
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  iw.scales.resize(size_t(std::max<int64_t>(1, sr * sc)));
  for (auto& s : iw.scales) s = scale(rng);
  iw.w.dtype = dt;
  iw.w.rows = N;
  iw.w.cols = K;
  iw.w.data = iw.bytes.data();
  iw.w.scale_inv = iw.scales.data();
  iw.w.block_rows = br;
  iw.w.block_cols = group;
  iw.w.name = std::string(dtype_name(dt)) + "[" + std::to_string(N) + "x" + std::to_string(K) + " g" +
              std::to_string(group) + " br" + std::to_string(br) + "]";
  return iw;
}

// The dequantised f32 twin of w (scalar decode).
std::vector<float> dequantized(const WeightMatrix& w) {
  std::vector<float> d(size_t(std::max<int64_t>(1, w.rows * w.cols)));
  for (int64_t n = 0; n < w.rows; ++n) dequantize_row_with(Isa::kScalar, w, n, d.data() + n * w.cols);
  return d;
}

std::vector<float> random_vec(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& f : v) f = normal(rng);
  return v;
}

const char* path_name(MatmulPath p) {
  return p == MatmulPath::kRows ? "rows" : p == MatmulPath::kTiles ? "tiles" : "auto";
}

// matmul_with(isa, path) vs matmul_ref on w and vs matmul_ref on its f32 twin, within
// 1e-5·Σ_k|x_k·w_k|, with guard values around y.
void check(const WeightMatrix& w, int64_t T, Isa isa, MatmulPath path, ThreadPool& pool, std::mt19937& rng) {
  const int64_t N = w.rows, K = w.cols;
  const std::vector<float> x = random_vec(T * K, rng);
  const std::vector<float> d = dequantized(w);
  WeightMatrix twin;
  twin.dtype = DType::F32;
  twin.rows = N;
  twin.cols = K;
  twin.data = d.data();
  std::vector<float> ref(size_t(T * N)), ref_twin(size_t(T * N));
  matmul_ref(x.data(), T, w, ref.data());
  matmul_ref(x.data(), T, twin, ref_twin.data());
  constexpr int64_t kPad = 9;
  std::vector<float> ybuf(size_t(T * N + 2 * kPad), kGuard);
  float* y = ybuf.data() + kPad;
  matmul_with(isa, path, x.data(), T, w, y, pool);
  for (int64_t i = 0; i < kPad; ++i) {
    ASSERT_EQ(ybuf[size_t(i)], kGuard) << "write before y";
    ASSERT_EQ(y[T * N + i], kGuard) << "write past y";
  }
  int bad = 0;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n) {
      double mag = 0;
      for (int64_t k = 0; k < K; ++k) mag += std::fabs(double(x[size_t(t * K + k)]) * d[size_t(n * K + k)]);
      const size_t i = size_t(t * N + n);
      const double tol = 1e-5 * mag + 1e-30;
      EXPECT_EQ(ref[i], ref_twin[i]) << "matmul_ref disagrees with its dequantised twin";
      if (!(std::fabs(double(y[i]) - ref[i]) <= tol) && ++bad <= 3)
        ADD_FAILURE() << w.name << " isa=" << isa_name(isa) << " path=" << path_name(path) << " T=" << T
                      << " t=" << t << " n=" << n << ": got " << y[i] << " want " << ref[i] << " tol " << tol;
    }
  ASSERT_EQ(bad, 0) << w.name << " isa=" << isa_name(isa) << " path=" << path_name(path) << " T=" << T;
}

// How far a product with activations quantised per group to [-qmax, qmax] may be from the
// exact one: ½ Σ_groups (max_{k∈g}|x_k| / qmax) Σ_{k∈g}|w_k| (the rounding of each xq, at
// most half a step), plus f32 rounding. x: one token, w: one dequantised row, K long.
double activation_rounding_bound(const float* x, const float* w, int64_t K, int64_t group, double qmax) {
  double bound = 0, mag = 0;
  for (int64_t g0 = 0; g0 < K; g0 += group) {
    double amax = 0, wsum = 0;
    for (int64_t k = g0; k < std::min(K, g0 + group); ++k) {
      amax = std::max(amax, std::fabs(double(x[k])));
      wsum += std::fabs(double(w[k]));
      mag += std::fabs(double(x[k]) * w[k]);
    }
    bound += 0.5 * amax / qmax * wsum;
  }
  return bound * 1.001 + 1e-5 * mag + 1e-30;
}

// T >= 3 tokens of K >= 256 random activations, except: token 0's first 128 are tiny (below
// kInt8ActTinyMax), token 1 holds a NaN and token 2 a -inf (the quantised paths' edges).
std::vector<float> edge_activations(int64_t T, int64_t K, std::mt19937& rng) {
  std::vector<float> x = random_vec(T * K, rng);
  for (int64_t k = 0; k < 128; ++k) x[size_t(k)] = 1e-35f;
  x[size_t(K + 200)] = std::numeric_limits<float>::quiet_NaN();
  x[size_t(2 * K + 3)] = -std::numeric_limits<float>::infinity();
  return x;
}

struct Shape {
  int64_t N, K, group, br;
};
// Partial groups, odd K, K < one chunk, several groups, groups taller than one row.
const std::vector<Shape> kShapes = {
    {1, 1, 32, 1},    {3, 7, 32, 1},    {5, 31, 32, 1},   {4, 32, 32, 1},    {7, 33, 32, 1},
    {9, 63, 64, 1},   {16, 100, 32, 1}, {17, 129, 128, 1}, {33, 255, 128, 1}, {8, 256, 128, 1},
    {40, 300, 96, 1}, {31, 513, 64, 1}, {12, 77, 32, 3},  {70, 2049, 128, 1}, {6, 640, 128, 128},
};
const std::vector<int64_t> kTokens = {1, 2, 3, 5, 17};
const std::vector<MatmulPath> kPaths = {MatmulPath::kRows, MatmulPath::kTiles, MatmulPath::kAuto};

// The exact (f32-activation) kernels; Int8Activations* below cover the int8-activation paths.
class IntMatmul : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override {
    set_int8_activations(Int8Activations::kOff);
    set_int16_activations(false);
  }
  void TearDown() override {
    set_int8_activations(Int8Activations::kInt4);
    set_int16_activations(true);
  }
};

TEST_P(IntMatmul, AllShapesAllLevelsAllPaths) {
  std::mt19937 rng(7);
  ThreadPool pool(2);
  size_t i = 0;
  for (const Shape& s : kShapes) {
    IntWeight iw = make_int_weight(GetParam(), s.N, s.K, s.group, s.br, rng);
    for (Isa isa : supported_isas())
      for (MatmulPath path : kPaths) {
        check(iw.w, kTokens[i++ % kTokens.size()], isa, path, pool, rng);
        if (HasFatalFailure()) return;
      }
  }
}

// Each path's result for a token must not depend on the other tokens in the call
// (matmul_split / the serving engine rely on it): T = 1 and T = 13 give identical bits.
TEST_P(IntMatmul, RowsIndependentOfBatch) {
  std::mt19937 rng(11);
  ThreadPool pool(2);
  IntWeight iw = make_int_weight(GetParam(), 37, 301, 64, 1, rng);
  const int64_t T = 13, N = iw.w.rows, K = iw.w.cols;
  const std::vector<float> x = random_vec(T * K, rng);
  for (Isa isa : supported_isas())
    for (MatmulPath path : {MatmulPath::kRows, MatmulPath::kTiles}) {
      std::vector<float> all(static_cast<size_t>(T * N)), one(static_cast<size_t>(N));
      matmul_with(isa, path, x.data(), T, iw.w, all.data(), pool);
      for (int64_t t = 0; t < T; ++t) {
        matmul_with(isa, path, x.data() + t * K, 1, iw.w, one.data(), pool);
        for (int64_t n = 0; n < N; ++n)
          ASSERT_EQ(one[size_t(n)], all[size_t(t * N + n)]) << isa_name(isa) << " " << path_name(path) << " t=" << t;
      }
    }
}

TEST_P(IntMatmul, DequantizeRowBitExact) {
  std::mt19937 rng(3);
  for (const Shape& s : kShapes) {
    IntWeight iw = make_int_weight(GetParam(), s.N, s.K, s.group, s.br, rng);
    const std::vector<float> d = dequantized(iw.w);
    std::vector<float> row(size_t(s.K));
    for (Isa isa : supported_isas())
      for (int64_t n = 0; n < s.N; ++n) {
        dequantize_row_with(isa, iw.w, n, row.data());
        for (int64_t k = 0; k < s.K; ++k)
          ASSERT_EQ(row[size_t(k)], d[size_t(n * s.K + k)]) << iw.w.name << " " << isa_name(isa) << " n=" << n << " k=" << k;
      }
  }
}

// Rows and tiles paths with int8 activations (AVX-512 VNNI or AVX2, groups % 64 == 0): within the
// bound of matmul.h, ½ Σ_g (max_{k∈g}|x_k| / 127) Σ_{k∈g}|w_k|, plus f32 rounding;
// batch-invariant; the tiles GEMM bit-identical to matmul_int8_activations_ref.
TEST_P(IntMatmul, Int8ActivationsWithinBound) {
  set_int8_activations(Int8Activations::kAll);
  if (int8_activations() == Int8Activations::kOff) GTEST_SKIP() << "no int8-activation kernels (AVX2) on this CPU";
  std::mt19937 rng(13);
  ThreadPool pool(2);
  const std::vector<Shape> shapes = {{1, 1, 64, 1},    {3, 63, 64, 1},   {5, 64, 64, 1},  {7, 65, 64, 1},
                                     {9, 129, 128, 1}, {33, 255, 128, 1}, {17, 300, 192, 1}, {70, 2049, 128, 1},
                                     {12, 77, 64, 3},  {6, 640, 128, 128}, {40, 2300, 1088, 1},
                                     {70, 300, 64, 3},  {33, 2000, 192, 1}, {9, 700, 1088, 1},
                                     {5, 1100, 256, 1},  {4, 640, 64, 1}};
  for (const Shape& s : shapes) {
    IntWeight iw = make_int_weight(GetParam(), s.N, s.K, s.group, s.br, rng);
    const std::vector<float> d = dequantized(iw.w);
    for (int64_t T : {1, 2, 3, 4, 5, 10, 13}) {
      std::vector<float> x = random_vec(T * s.K, rng);
      if (T == 3) x[0] = 0, x[1] = 40.0f;  // an outlier widens its group's activation step
      constexpr int64_t kPad = 9;  // guard values on both sides of y
      std::vector<float> ref(size_t(T * s.N)), ybuf(size_t(T * s.N + 2 * kPad)), one(size_t(s.N)),
          twin(size_t(T * s.N));
      float* y = ybuf.data() + kPad;
      matmul_ref(x.data(), T, iw.w, ref.data());
      matmul_int8_activations_ref(x.data(), T, iw.w, twin.data());
      for (Isa isa : supported_isas()) {
        if (isa < Isa::kAvx2) continue;
        for (MatmulPath path : {MatmulPath::kRows, MatmulPath::kTiles}) {
          std::fill(ybuf.begin(), ybuf.end(), -7.5f);
          matmul_with(isa, path, x.data(), T, iw.w, y, pool);
          for (int64_t i = 0; i < kPad; ++i)
            ASSERT_TRUE(ybuf[size_t(i)] == -7.5f && y[T * s.N + i] == -7.5f) << "write outside y " << iw.w.name;
          // The tiles path (prefill GEMM) runs the scalar twin's operations exactly, and so
          // do the AVX2 rows (decode) kernels; only VNNI's rows split sums over lanes.
          const bool vnni_rows = path == MatmulPath::kRows && isa >= Isa::kAvx512 && cpu_has_avx512_vnni();
          if (!vnni_rows) {
            for (size_t i = 0; i < twin.size(); ++i)
              ASSERT_EQ(y[i], twin[i]) << iw.w.name << " " << isa_name(isa) << " " << path_name(path) << " vs twin, T=" << T
                                        << " i=" << i;
          }
          for (int64_t t = 0; t < T; ++t) {
            matmul_with(isa, path, x.data() + t * s.K, 1, iw.w, one.data(), pool);
            for (int64_t n = 0; n < s.N; ++n) {
              const size_t i = size_t(t * s.N + n);
              ASSERT_LE(std::fabs(double(y[i]) - ref[i]),
                        activation_rounding_bound(&x[size_t(t * s.K)], &d[size_t(n * s.K)], s.K, s.group, 127.0))
                  << iw.w.name << " " << isa_name(isa) << " " << path_name(path) << " T=" << T << " t=" << t
                  << " n=" << n;
              ASSERT_EQ(one[size_t(n)], y[i]) << "batch invariance " << iw.w.name << " " << path_name(path) << " t=" << t;
            }
          }
        }
      }
    }
  }
}

// Int8 activations at the edges: a group whose activations are all tiny (below
// kInt8ActTinyMax) contributes 0; a NaN or infinite activation makes its token's outputs NaN
// (as the f32 path would), never a finite garbage value; other tokens are unaffected.
TEST_P(IntMatmul, Int8ActivationsTinyAndNonFinite) {
  set_int8_activations(Int8Activations::kAll);
  if (int8_activations() == Int8Activations::kOff) GTEST_SKIP() << "no int8-activation kernels (AVX2) on this CPU";
  std::mt19937 rng(21);
  ThreadPool pool(2);
  IntWeight iw = make_int_weight(GetParam(), 40, 256, 128, 1, rng);
  const int64_t T = 4, N = 40, K = 256;
  const std::vector<float> x = edge_activations(T, K, rng);
  std::vector<float> twin(size_t(T * N)), y(size_t(T * N));
  matmul_int8_activations_ref(x.data(), T, iw.w, twin.data());
  // Token 0 equals the same token with group 0 zeroed; token 3 stays finite.
  std::vector<float> x0(x.begin(), x.begin() + K), y0(static_cast<size_t>(N));
  std::fill(x0.begin(), x0.begin() + 128, 0.0f);
  matmul_int8_activations_ref(x0.data(), 1, iw.w, y0.data());
  for (int64_t n = 0; n < N; ++n) {
    EXPECT_EQ(twin[size_t(n)], y0[size_t(n)]);
    EXPECT_TRUE(std::isnan(twin[size_t(N + n)]) && std::isnan(twin[size_t(2 * N + n)]));
    EXPECT_TRUE(std::isfinite(twin[size_t(3 * N + n)]));
  }
  for (Isa isa : supported_isas()) {
    if (isa < Isa::kAvx2) continue;
    for (MatmulPath path : {MatmulPath::kRows, MatmulPath::kTiles}) {
      matmul_with(isa, path, x.data(), T, iw.w, y.data(), pool);
      for (int64_t n = 0; n < N; ++n) {
        ASSERT_TRUE(std::isfinite(y[size_t(n)]) && std::isfinite(y[size_t(3 * N + n)])) << path_name(path);
        ASSERT_TRUE(std::isnan(y[size_t(N + n)]) && std::isnan(y[size_t(2 * N + n)])) << path_name(path) << " n=" << n;
        if (path == MatmulPath::kTiles || !(isa >= Isa::kAvx512 && cpu_has_avx512_vnni())) {
          ASSERT_EQ(y[size_t(n)], twin[size_t(n)]) << path_name(path);
        }
      }
    }
  }
}

// I8/I4 rows with int16 activations (AVX2, groups % 32 == 0 and <= 256): bit-identical to
// matmul_int16_activations_ref at the AVX2 level, within ½ Σ_g (max_{k∈g}|x_k| / 32767)
// Σ_{k∈g}|w_k| (+ f32 rounding) of the exact product at every level, batch-invariant.
class Int16Activations : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override {
    set_int8_activations(Int8Activations::kOff);  // I4 takes int16 activations only then
    set_int16_activations(true);
  }
  void TearDown() override { set_int8_activations(Int8Activations::kInt4); }
};

TEST_P(Int16Activations, BitIdenticalAndWithinBound) {
  if (!int16_activations()) GTEST_SKIP() << "no int16-activation kernel (AVX2) on this CPU";
  std::mt19937 rng(17);
  ThreadPool pool(2);
  // Partial and single chunks, partial last groups, fewer and more than 8 groups, the
  // unrolled group sizes (64, 128, 256) and generic ones (32, 96, 160), tall scale blocks.
  const std::vector<Shape> shapes = {{1, 1, 32, 1},     {3, 7, 32, 1},    {5, 31, 32, 1},   {7, 33, 32, 1},
                                     {9, 63, 64, 1},    {17, 129, 128, 1}, {33, 255, 128, 1}, {40, 300, 96, 1},
                                     {31, 513, 64, 1},  {12, 77, 32, 3},  {70, 2049, 128, 1}, {6, 640, 128, 128},
                                     {5, 1100, 256, 1}, {9, 2000, 160, 1}, {3, 4100, 64, 1}};
  for (const Shape& s : shapes) {
    IntWeight iw = make_int_weight(GetParam(), s.N, s.K, s.group, s.br, rng);
    const std::vector<float> d = dequantized(iw.w);
    for (int64_t T : {1, 2, 3, 5}) {
      std::vector<float> x = random_vec(T * s.K, rng);
      if (T == 3) x[0] = 0, x[1] = 40.0f;  // an outlier widens its group's activation step
      std::vector<float> ref(size_t(T * s.N)), twin(size_t(T * s.N)), y(size_t(T * s.N)), one(size_t(s.N));
      matmul_ref(x.data(), T, iw.w, ref.data());
      matmul_int16_activations_ref(x.data(), T, iw.w, twin.data());
      for (Isa isa : supported_isas()) {
        matmul_with(isa, MatmulPath::kRows, x.data(), T, iw.w, y.data(), pool);
        if (isa == Isa::kAvx2) {
          for (size_t i = 0; i < twin.size(); ++i)
            ASSERT_EQ(y[i], twin[i]) << iw.w.name << " vs twin, T=" << T << " i=" << i;
        }
        for (int64_t t = 0; t < T; ++t) {
          matmul_with(isa, MatmulPath::kRows, x.data() + t * s.K, 1, iw.w, one.data(), pool);
          for (int64_t n = 0; n < s.N; ++n) {
            const size_t i = size_t(t * s.N + n);
            ASSERT_LE(std::fabs(double(y[i]) - ref[i]),
                      activation_rounding_bound(&x[size_t(t * s.K)], &d[size_t(n * s.K)], s.K, s.group, 32767.0))
                << iw.w.name << " " << isa_name(isa) << " T=" << T << " t=" << t << " n=" << n;
            ASSERT_EQ(one[size_t(n)], y[i]) << "batch invariance " << iw.w.name << " " << isa_name(isa) << " t=" << t;
          }
        }
      }
    }
  }
}

// Int16 activations at the edges, as for int8: a tiny group contributes 0, a NaN or infinite
// activation makes its token's outputs NaN, other tokens are unaffected; int8 activations,
// when set, take precedence.
TEST_P(Int16Activations, TinyAndNonFinite) {
  if (!int16_activations()) GTEST_SKIP() << "no int16-activation kernel (AVX2) on this CPU";
  std::mt19937 rng(23);
  ThreadPool pool(2);
  IntWeight iw = make_int_weight(GetParam(), 40, 256, 128, 1, rng);
  const int64_t T = 4, N = 40, K = 256;
  const std::vector<float> x = edge_activations(T, K, rng);
  std::vector<float> twin(size_t(T * N)), y(size_t(T * N)), y0(static_cast<size_t>(N));
  matmul_int16_activations_ref(x.data(), T, iw.w, twin.data());
  std::vector<float> x0(x.begin(), x.begin() + K);
  std::fill(x0.begin(), x0.begin() + 128, 0.0f);
  matmul_int16_activations_ref(x0.data(), 1, iw.w, y0.data());
  matmul_with(Isa::kAvx2, MatmulPath::kRows, x.data(), T, iw.w, y.data(), pool);
  for (int64_t n = 0; n < N; ++n) {
    EXPECT_EQ(twin[size_t(n)], y0[size_t(n)]);
    EXPECT_EQ(y[size_t(n)], twin[size_t(n)]);
    EXPECT_TRUE(std::isnan(y[size_t(N + n)]) && std::isnan(y[size_t(2 * N + n)]));
    EXPECT_TRUE(std::isfinite(y[size_t(3 * N + n)]));
    EXPECT_EQ(y[size_t(3 * N + n)], twin[size_t(3 * N + n)]);
  }
  // DSV3_INT8_ACT=all: the int8-activation kernel, bit-identical to its own twin.
  set_int8_activations(Int8Activations::kAll);
  std::vector<float> twin8(size_t(T * N));
  matmul_int8_activations_ref(x.data() + 3 * K, 1, iw.w, twin8.data());
  matmul_with(Isa::kAvx2, MatmulPath::kRows, x.data() + 3 * K, 1, iw.w, y.data(), pool);
  for (int64_t n = 0; n < N; ++n) EXPECT_EQ(y[size_t(n)], twin8[size_t(n)]);
}

INSTANTIATE_TEST_SUITE_P(Types, Int16Activations, ::testing::Values(DType::I8, DType::I4),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

INSTANTIATE_TEST_SUITE_P(Types, IntMatmul, ::testing::Values(DType::I8, DType::I4),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// Quantise random f32 weights: every weight within half a step of its group's scale (I4:
// one step for clipped ones), F8 within e4m3's relative precision of its block.
TEST(Quantize, ErrorBounds) {
  std::mt19937 rng(5);
  ThreadPool pool(2);
  for (DType to : {DType::I8, DType::I4, DType::F8_E4M3})
    for (int64_t group : {32, 128}) {
      const int64_t N = 37, K = 301;
      const std::vector<float> src = random_vec(N * K, rng);
      WeightMatrix w;
      w.rows = N;
      w.cols = K;
      w.data = src.data();
      w.name = "src";
      const QuantizedMatrix q = quantize_weight(w, to, group, pool);
      EXPECT_EQ(q.data.size(), size_t(N * weight_row_bytes(to, K)));
      const std::vector<int64_t> ss = q.scale_shape();
      EXPECT_EQ(q.scales.size(), size_t(ss[0] * ss[1]));
      const WeightMatrix v = q.view("q");
      const std::vector<float> d = dequantized(v);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K; ++k) {
          const float s = std::fabs(q.scales[size_t((n / q.block_rows) * ss[1] + k / q.block_cols)]);
          const float a = src[size_t(n * K + k)], b = d[size_t(n * K + k)];
          // I4: a weight of the opposite sign to the extreme may clip from +8 to +7 steps.
          const float tol = to == DType::F8_E4M3 ? std::fabs(a) / 16 + s / 512
                            : to == DType::I4    ? s * 1.0001f
                                                 : s / 2 * 1.0001f + 1e-7f;
          ASSERT_LE(std::fabs(a - b), tol) << dtype_name(to) << " g" << group << " n=" << n << " k=" << k;
        }
    }
}

TEST(Quantize, ZeroGroupsAndOddK) {
  ThreadPool pool(1);
  std::vector<float> src(3 * 45, 0.0f);
  src[44] = -2.0f;  // last weight of row 0: partial second group, high... low nibble of byte 22
  WeightMatrix w;
  w.rows = 3;
  w.cols = 45;
  w.data = src.data();
  const QuantizedMatrix q = quantize_weight(w, DType::I4, 32, pool);
  EXPECT_EQ(q.data_shape(), (std::vector<int64_t>{3, 23}));
  EXPECT_EQ(q.scale_shape(), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(q.scales[0], 0.0f);
  EXPECT_EQ(q.scales[1], 0.25f);  // -2 maps to -8
  const std::vector<float> d = dequantized(q.view("q"));
  for (size_t i = 0; i < d.size(); ++i) EXPECT_EQ(d[i], src[i]) << i;
  EXPECT_EQ(q.data[22] >> 4, 8) << "odd-K pad nibble stores zero";
}

TEST(Quantize, RejectsBadGroups) {
  std::vector<float> src(64, 1.0f);
  WeightMatrix w;
  w.rows = 1;
  w.cols = 64;
  w.data = src.data();
  EXPECT_THROW(quantize_weight(w, DType::I8, 48), Error);
  EXPECT_THROW(quantize_weight(w, DType::I4, 0), Error);
  EXPECT_THROW(quantize_weight(w, DType::BF16, 128), Error);
  try {
    check_quant_group(DType::I4, 100);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("multiple of 32"), std::string::npos) << e.what();
  }
}

TEST(IntMatmulErrors, BadScalesOrGroups) {
  std::mt19937 rng(1);
  IntWeight iw = make_int_weight(DType::I8, 4, 64, 32, 1, rng);
  std::vector<float> x(64, 1.0f), y(4);
  WeightMatrix w = iw.w;
  w.scale_inv = nullptr;
  EXPECT_THROW(matmul(x.data(), 1, w, y.data()), Error);
  w = iw.w;
  w.block_cols = 48;
  EXPECT_THROW(matmul(x.data(), 1, w, y.data()), Error);
  w = iw.w;
  w.block_rows = 0;
  EXPECT_THROW(matmul(x.data(), 1, w, y.data()), Error);
}

}  // namespace
}  // namespace dsv3
