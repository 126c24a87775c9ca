// matmul at every SIMD level this CPU supports, both paths (rows, tiles) and auto, against
// the scalar twin matmul_ref over many shapes, every weight dtype, FP8 block sizes with
// partial edge blocks, misaligned x and y, and guard values around y.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "core/error.h"
#include "kernels/quant.h"

namespace dsv3 {
namespace {

constexpr float kGuard = -12345.678f;

// A weight in its stored dtype plus the FP8 scales, owning its storage.
struct TestWeight {
  std::vector<uint8_t> bytes;
  std::vector<float> scales;
  WeightMatrix w;
};

TestWeight make_weight(DType dt, int64_t N, int64_t K, std::mt19937& rng, int64_t br = 128, int64_t bc = 128) {
  TestWeight tw;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n = N * K;
  tw.bytes.resize(size_t(std::max<int64_t>(1, n) * 4) + 64);
  uint8_t* p = tw.bytes.data();
  switch (dt) {
    case DType::F32:
      for (int64_t i = 0; i < n; ++i) reinterpret_cast<float*>(p)[i] = normal(rng);
      break;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) reinterpret_cast<uint16_t*>(p)[i] = f32_to_f16(normal(rng));
      break;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) reinterpret_cast<uint16_t*>(p)[i] = f32_to_bf16(normal(rng));
      break;
    case DType::F8_E4M3: {
      // Every finite code, subnormals included; the NaN codes 0x7f/0xff are left out.
      std::uniform_int_distribution<int> code(0, 253);
      for (int64_t i = 0; i < n; ++i) {
        int c = code(rng);
        p[i] = uint8_t(c >= 127 ? c + 1 : c);
      }
      const int64_t sr = (N + br - 1) / br, sc = (K + bc - 1) / bc;
      std::uniform_real_distribution<float> mant(0.5f, 1.0f);
      std::uniform_int_distribution<int> ex(-12, -4);
      tw.scales.resize(size_t(std::max<int64_t>(1, sr * sc)));
      for (auto& s : tw.scales) s = std::ldexp(mant(rng), ex(rng));
      tw.w.scale_inv = tw.scales.data();
      tw.w.block_rows = br;
      tw.w.block_cols = bc;
      break;
    }
    default: break;
  }
  tw.w.dtype = dt;
  tw.w.rows = N;
  tw.w.cols = K;
  tw.w.data = p;
  tw.w.name = std::string(dtype_name(dt)) + "[" + std::to_string(N) + "x" + std::to_string(K) + "]";
  return tw;
}

std::vector<float> random_x(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& f : v) f = normal(rng);
  return v;
}

const char* path_name(MatmulPath p) {
  return p == MatmulPath::kRows ? "rows" : p == MatmulPath::kTiles ? "tiles" : "auto";
}

// Runs matmul_with(isa, path) on x shifted by one float and y shifted by one float inside
// guard-filled buffers, and compares with matmul_ref within 1e-5·Σ_k|x_k·w_k|.
void check_matmul(const WeightMatrix& w, int64_t T, Isa isa, MatmulPath path, ThreadPool& pool,
                  std::mt19937& rng) {
  const int64_t N = w.rows, K = w.cols;
  std::vector<float> xbuf(static_cast<size_t>(T * K + 1));
  {
    auto xv = random_x(T * K, rng);
    std::copy(xv.begin(), xv.end(), xbuf.begin() + 1);
  }
  const float* x = xbuf.data() + 1;  // misaligned by one float
  std::vector<float> ref(static_cast<size_t>(T * N));
  matmul_ref(x, T, w, ref.data());

  // Σ|x·w| per output from the dequantised rows (scalar level: the plain decode).
  std::vector<double> mag(size_t(T * N), 0.0);
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t n = 0; n < N; ++n) {
    dequantize_row_with(Isa::kScalar, w, n, row.data());
    for (int64_t t = 0; t < T; ++t) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += std::fabs(double(x[t * K + k]) * row[size_t(k)]);
      mag[size_t(t * N + n)] = s;
    }
  }

  constexpr int64_t kPad = 17;
  std::vector<float> ybuf(size_t(T * N + 2 * kPad + 1), kGuard);
  float* y = ybuf.data() + kPad + 1;
  matmul_with(isa, path, x, T, w, y, pool);
  for (int64_t i = 0; i < kPad + 1; ++i) ASSERT_EQ(ybuf[size_t(i)], kGuard) << "write before y";
  for (int64_t i = 0; i < kPad; ++i) ASSERT_EQ(y[T * N + i], kGuard) << "write past y[" << T * N + i << "]";
  int bad = 0;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n) {
      const size_t i = size_t(t * N + n);
      const double tol = 1e-5 * mag[i] + 1e-30;
      const double err = std::fabs(double(y[i]) - double(ref[i]));
      if (!(err <= tol) && ++bad <= 3)
        ADD_FAILURE() << w.name << " isa=" << isa_name(isa) << " path=" << path_name(path) << " T=" << T
                      << " t=" << t << " n=" << n << ": got " << y[i] << " want " << ref[i] << " tol " << tol;
    }
  ASSERT_EQ(bad, 0) << w.name << " isa=" << isa_name(isa) << " path=" << path_name(path) << " T=" << T;
}

const std::vector<int64_t> kDims = {1, 3, 15, 16, 17, 31, 64, 127, 128, 129, 200, 300, 513};
const std::vector<int64_t> kTokens = {1, 2, 3, 5, 8, 17, 64};
const std::vector<DType> kDtypes = {DType::F32, DType::F16, DType::BF16, DType::F8_E4M3};
const std::vector<MatmulPath> kPaths = {MatmulPath::kRows, MatmulPath::kTiles, MatmulPath::kAuto};

class MatmulDtype : public ::testing::TestWithParam<DType> {};

// Every (N, K) pair of kDims, T cycling through kTokens, every level and path.
TEST_P(MatmulDtype, AllShapesAllLevels) {
  const DType dt = GetParam();
  std::mt19937 rng(1234 + int(dt));
  ThreadPool pool(3);  // more parts than cores: exercises uneven splits
  size_t i = 0;
  for (int64_t N : kDims)
    for (int64_t K : kDims) {
      const int64_t T = kTokens[i++ % kTokens.size()];
      TestWeight tw = make_weight(dt, N, K, rng);
      for (Isa isa : supported_isas())
        for (MatmulPath path : kPaths) {
          check_matmul(tw.w, T, isa, path, pool, rng);
          if (HasFatalFailure()) return;
        }
    }
}

// Every T on a few shapes that cross the panel/tile and K-block boundaries.
TEST_P(MatmulDtype, AllTokenCounts) {
  const DType dt = GetParam();
  std::mt19937 rng(99 + int(dt));
  ThreadPool pool(2);
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{17, 129}, {64, 300}, {129, 513}, {200, 31}, {33, 257}};
  for (auto [N, K] : shapes) {
    TestWeight tw = make_weight(dt, N, K, rng);
    for (int64_t T : kTokens)
      for (Isa isa : supported_isas())
        for (MatmulPath path : kPaths) {
          check_matmul(tw.w, T, isa, path, pool, rng);
          if (HasFatalFailure()) return;
        }
  }
}

// Single-threaded pool and the global pool give the same contract.
TEST_P(MatmulDtype, PoolSizes) {
  const DType dt = GetParam();
  std::mt19937 rng(7 + int(dt));
  ThreadPool one(1);
  TestWeight tw = make_weight(dt, 300, 200, rng);
  for (Isa isa : supported_isas())
    for (MatmulPath path : kPaths)
      for (int64_t T : {int64_t(1), int64_t(20)}) {
        check_matmul(tw.w, T, isa, path, one, rng);
        check_matmul(tw.w, T, isa, path, ThreadPool::global(), rng);
      }
}

// Each path's result for a token must not depend on the other tokens in the call (the
// serving engine's batch invariance): T = 1 and T = 19 (the rows path's groups of 4 tokens
// and a partial one; the tiles path's micro-kernel blocks) give identical bits at every level.
TEST_P(MatmulDtype, RowsIndependentOfBatch) {
  const DType dt = GetParam();
  std::mt19937 rng(5 + int(dt));
  ThreadPool pool(2);
  TestWeight tw = make_weight(dt, 37, 301, rng);
  const int64_t T = 19, N = tw.w.rows, K = tw.w.cols;
  const std::vector<float> x = random_x(T * K, rng);
  for (Isa isa : supported_isas())
    for (MatmulPath path : {MatmulPath::kRows, MatmulPath::kTiles}) {
      std::vector<float> all(static_cast<size_t>(T * N)), one(static_cast<size_t>(N));
      matmul_with(isa, path, x.data(), T, tw.w, all.data(), pool);
      for (int64_t t = 0; t < T; ++t) {
        matmul_with(isa, path, x.data() + t * K, 1, tw.w, one.data(), pool);
        for (int64_t n = 0; n < N; ++n)
          ASSERT_EQ(std::bit_cast<uint32_t>(one[size_t(n)]), std::bit_cast<uint32_t>(all[size_t(t * N + n)]))
              << tw.w.name << " " << isa_name(isa) << " " << path_name(path) << " t=" << t << " n=" << n;
      }
    }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, MatmulDtype, ::testing::ValuesIn(kDtypes),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// bf16 weights take their own panel pack (a 16-bit transpose, rows stored even-then-odd and
// put back in order by the micro-kernel): the tiles path must give the bits of the same
// values stored as f32, at every level, over partial panels, partial K blocks and every
// micro-kernel height.
TEST(MatmulBf16, TilesEqualTheirF32TwinBitwise) {
  std::mt19937 rng(77);
  ThreadPool pool(2);
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{37, 31}, {16, 256}, {129, 300}, {200, 513}, {17, 1}};
  for (auto [N, K] : shapes) {
    TestWeight b = make_weight(DType::BF16, N, K, rng);
    TestWeight f = make_weight(DType::F32, N, K, rng);
    for (int64_t i = 0; i < N * K; ++i)
      reinterpret_cast<float*>(f.bytes.data())[i] = bf16_to_f32(reinterpret_cast<const uint16_t*>(b.bytes.data())[i]);
    for (int64_t T : {1, 5, 6, 7, 19, 64}) {
      const std::vector<float> x = random_x(T * K, rng);
      std::vector<float> yb(size_t(T * N)), yf(size_t(T * N));
      for (Isa isa : supported_isas()) {
        matmul_with(isa, MatmulPath::kTiles, x.data(), T, b.w, yb.data(), pool);
        matmul_with(isa, MatmulPath::kTiles, x.data(), T, f.w, yf.data(), pool);
        for (int64_t i = 0; i < T * N; ++i)
          ASSERT_EQ(std::bit_cast<uint32_t>(yb[size_t(i)]), std::bit_cast<uint32_t>(yf[size_t(i)]))
              << isa_name(isa) << " N=" << N << " K=" << K << " T=" << T << " i=" << i;
      }
    }
  }
}

// FP8 with block sizes that do not divide the matrix (partial edge blocks), blocks larger
// than the matrix, and blocks not multiples of the SIMD width.
TEST(MatmulFp8, BlockSizes) {
  std::mt19937 rng(42);
  ThreadPool pool(2);
  const std::vector<std::pair<int64_t, int64_t>> blocks = {{128, 128}, {1, 1}, {3, 5}, {16, 16}, {7, 128},
                                                           {128, 7}, {64, 32}, {600, 600}, {2, 65}};
  const std::vector<int64_t> dims = {1, 17, 129, 300};
  size_t i = 0;
  for (auto [br, bc] : blocks)
    for (int64_t N : dims)
      for (int64_t K : dims) {
        const int64_t T = kTokens[i++ % kTokens.size()];
        TestWeight tw = make_weight(DType::F8_E4M3, N, K, rng, br, bc);
        for (Isa isa : supported_isas())
          for (MatmulPath path : kPaths) {
            check_matmul(tw.w, T, isa, path, pool, rng);
            if (HasFatalFailure()) return;
          }
      }
}

// dequantize_row is bit-identical at every level: one rounding of code value × scale.
TEST(DequantizeRow, BitExactEveryLevel) {
  std::mt19937 rng(5);
  for (DType dt : kDtypes)
    for (auto [br, bc] : std::vector<std::pair<int64_t, int64_t>>{{128, 128}, {3, 5}, {1, 17}})
      for (int64_t K : {int64_t(1), int64_t(15), int64_t(64), int64_t(129), int64_t(513)}) {
        const int64_t N = 9;
        TestWeight tw = make_weight(dt, N, K, rng, br, bc);
        std::vector<float> want(static_cast<size_t>(K)), got(size_t(K) + 8, kGuard);
        for (int64_t r = 0; r < N; ++r) {
          for (int64_t k = 0; k < K; ++k) {
            const size_t i = size_t(r * K + k);
            const uint8_t* p = tw.bytes.data();
            switch (dt) {
              case DType::F32: want[size_t(k)] = reinterpret_cast<const float*>(p)[i]; break;
              case DType::F16: want[size_t(k)] = f16_to_f32(reinterpret_cast<const uint16_t*>(p)[i]); break;
              case DType::BF16: want[size_t(k)] = bf16_to_f32(reinterpret_cast<const uint16_t*>(p)[i]); break;
              default: {
                const int64_t sc = (K + bc - 1) / bc;
                want[size_t(k)] = fp8e4m3_to_f32(p[i]) * tw.scales[size_t((r / br) * sc + k / bc)];
              }
            }
          }
          for (Isa isa : supported_isas()) {
            dequantize_row_with(isa, tw.w, r, got.data());
            ASSERT_EQ(0, std::memcmp(want.data(), got.data(), size_t(K) * 4))
                << tw.w.name << " row " << r << " isa " << isa_name(isa);
            for (int j = 0; j < 8; ++j) ASSERT_EQ(got[size_t(K + j)], kGuard) << "write past row end";
          }
        }
      }
}

// Every FP8 code (NaN codes included at the levels that decode them by table).
TEST(DequantizeRow, AllFp8Codes) {
  std::vector<uint8_t> codes(256);
  for (int i = 0; i < 256; ++i) codes[size_t(i)] = uint8_t(i);
  float scale = 0.75f;
  WeightMatrix w;
  w.dtype = DType::F8_E4M3;
  w.rows = 1;
  w.cols = 256;
  w.data = codes.data();
  w.scale_inv = &scale;
  w.block_cols = 256;  // one scale block
  w.name = "all_codes";
  std::vector<float> got(256);
  for (Isa isa : supported_isas()) {
    dequantize_row_with(isa, w, 0, got.data());
    for (int c = 0; c < 256; ++c) {
      const float want = fp8e4m3_to_f32(uint8_t(c)) * scale;
      if (std::isnan(want)) {
        // AVX2 (f32 bit moves) and AVX-512 without VBMI (f16 bit moves): NaN codes become ±480.
        if (isa == Isa::kScalar || isa == Isa::kAvx512Vbmi) {
          EXPECT_TRUE(std::isnan(got[size_t(c)])) << isa_name(isa);
        }
        continue;
      }
      EXPECT_EQ(std::bit_cast<uint32_t>(want), std::bit_cast<uint32_t>(got[size_t(c)]))
          << "code " << c << " isa " << isa_name(isa);
    }
  }
}

// FP8 with scales and activations far from 1: the AVX2 kernels decode e4m3 to value·2^-120
// and apply the 2^120 to x and the sums (rows) or to the weights (tiles), never folding it
// into a scale; every level stays within f32 rounding of the double reference for |x·scale|
// from 2^-60 to 2^24, the smallest codes (subnormals) included.
TEST(Matmul, Fp8ExtremeScales) {
  const int64_t N = 8, K = 256;
  std::vector<uint8_t> codes(size_t(N * K));
  for (size_t i = 0; i < codes.size(); ++i) {
    const uint8_t c = uint8_t(i * 37 % 256);
    codes[i] = (c & 0x7f) == 0x7f ? uint8_t(c ^ 1) : c;  // no NaN codes
  }
  ThreadPool pool(2);
  for (float scale : {std::ldexp(1.0f, -40), 1.0f, std::ldexp(1.0f, 12)})
    for (float xmag : {std::ldexp(1.0f, -20), 1.0f, std::ldexp(1.0f, 12)}) {
      std::vector<float> scales(size_t(2), scale);  // 128×128 blocks: one row block, two column blocks
      WeightMatrix w;
      w.dtype = DType::F8_E4M3;
      w.rows = N;
      w.cols = K;
      w.data = codes.data();
      w.scale_inv = scales.data();
      w.block_rows = 128;
      w.block_cols = 128;
      w.name = "fp8_extreme";
      for (int64_t T : {1, 7}) {
        std::vector<float> x(size_t(T * K)), ref(size_t(T * N)), y(size_t(T * N));
        for (size_t i = 0; i < x.size(); ++i) x[i] = xmag * float(int(i * 13 % 31) - 15) / 15.0f;
        matmul_ref(x.data(), T, w, ref.data());
        for (Isa isa : supported_isas())
          for (MatmulPath path : {MatmulPath::kRows, MatmulPath::kTiles}) {
            matmul_with(isa, path, x.data(), T, w, y.data(), pool);
            for (int64_t t = 0; t < T; ++t)
              for (int64_t n = 0; n < N; ++n) {
                double mag = 0;
                for (int64_t k = 0; k < K; ++k)
                  mag += std::fabs(double(x[size_t(t * K + k)]) * fp8e4m3_to_f32(codes[size_t(n * K + k)]) * scale);
                const size_t i = size_t(t * N + n);
                ASSERT_TRUE(std::isfinite(y[i])) << isa_name(isa) << " scale " << scale << " x " << xmag;
                ASSERT_LE(std::fabs(double(y[i]) - ref[i]), 1e-5 * mag)
                    << isa_name(isa) << " path " << int(path) << " scale " << scale << " x " << xmag << " n " << n;
              }
          }
      }
    }
}

TEST(Matmul, EmptyShapes) {
  std::mt19937 rng(1);
  TestWeight tw = make_weight(DType::BF16, 5, 0, rng);
  std::vector<float> y(10, kGuard);
  float x = 1.0f;
  matmul(&x, 2, tw.w, y.data());
  for (float v : y) EXPECT_EQ(v, 0.0f);  // K = 0: sums are empty
  TestWeight none = make_weight(DType::BF16, 0, 7, rng);
  std::vector<float> y2(4, kGuard);
  matmul(&x, 1, none.w, y2.data());  // N = 0: nothing written
  for (float v : y2) EXPECT_EQ(v, kGuard);
  matmul(&x, 0, tw.w, y2.data());  // T = 0
  for (float v : y2) EXPECT_EQ(v, kGuard);
}

TEST(Matmul, RejectsBadWeights) {
  std::mt19937 rng(1);
  TestWeight tw = make_weight(DType::F8_E4M3, 4, 4, rng);
  std::vector<float> x(4, 1.0f), y(4);
  WeightMatrix w = tw.w;
  w.scale_inv = nullptr;
  EXPECT_THROW(matmul(x.data(), 1, w, y.data()), std::exception);
  w = tw.w;
  w.block_cols = 0;
  EXPECT_THROW(matmul(x.data(), 1, w, y.data()), std::exception);
  w = tw.w;
  w.dtype = DType::I32;
  EXPECT_THROW(matmul(x.data(), 1, w, y.data()), std::exception);
  EXPECT_THROW(dequantize_row(tw.w, 4, y.data()), std::exception);
}

TEST(Isa, NamesAndLevels) {
  for (Isa isa : supported_isas()) {
    Isa back;
    ASSERT_TRUE(parse_isa(isa_name(isa), &back));
    EXPECT_EQ(back, isa);
  }
  Isa dummy;
  EXPECT_FALSE(parse_isa("sse9", &dummy));
  EXPECT_LE(active_isa(), cpu_isa());
  EXPECT_STREQ(matmul_isa(), isa_name(active_isa()));
  EXPECT_EQ(supported_isas().back(), cpu_isa());
  // DSV3_ISA caps the level (run e.g. `DSV3_ISA=avx2 dsv3_unit_tests` to test the defaults).
  if (const char* env = std::getenv("DSV3_ISA")) {
    Isa want;
    if (parse_isa(env, &want)) {
      EXPECT_EQ(active_isa(), want < cpu_isa() ? want : cpu_isa());
    }
  }
  std::printf("cpu_isa=%s active=%s\n", isa_name(cpu_isa()), matmul_isa());
}

}  // namespace
}  // namespace dsv3

namespace dsv3 {
namespace {

// matmul_rows_grouped equals each product's own rows-path matmul bit for bit, for every
// weight dtype (block-scaled FP8/I8/I4 with int8 activations on), mixed shapes, token counts
// and empty products, on a 1- and a 2-thread pool, and writes nothing outside each y.
TEST(MatmulRowsGrouped, EqualsEachProductAlone) {
  std::mt19937 rng(11);
  const Int8Activations saved = int8_activations();
  set_int8_activations(Int8Activations::kAll);
  std::vector<TestWeight> tws;
  std::vector<QuantizedMatrix> qms;
  std::vector<WeightMatrix> qviews;
  qms.reserve(2);  // ws keeps pointers into both
  qviews.reserve(2);
  for (DType dt : kDtypes) tws.push_back(make_weight(dt, 300, 200, rng));
  tws.push_back(make_weight(DType::F8_E4M3, 129, 200, rng, 7, 64));
  tws.push_back(make_weight(DType::BF16, 17, 200, rng));
  tws.push_back(make_weight(DType::F32, 0, 200, rng));
  std::vector<const WeightMatrix*> ws;
  for (const auto& tw : tws) ws.push_back(&tw.w);
  for (DType dt : {DType::I8, DType::I4}) {
    qms.push_back(quantize_weight(tws[0].w, dt, 64));
    qviews.push_back(qms.back().view(std::string(dtype_name(dt))));
    ws.push_back(&qviews.back());
  }
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    for (int64_t T : {1, 3, 6, 9}) {  // 9: I8/I4 products take the int8 GEMM on AVX2 (matmul.cpp)
      const int64_t K = 200;
      std::vector<std::vector<float>> xs, ys, want;
      std::vector<MatmulProduct> products;
      for (size_t i = 0; i < ws.size(); ++i) {
        const int64_t Ti = i % 3 == 2 ? 1 : T;  // mixed token counts
        xs.push_back(random_x(Ti * K, rng));
        ys.emplace_back(size_t(Ti * ws[i]->rows + 8), kGuard);
        want.emplace_back(size_t(Ti * ws[i]->rows + 8), kGuard);
        matmul_with(active_isa(), MatmulPath::kRows, xs.back().data(), Ti, *ws[i], want.back().data(), pool);
      }
      for (size_t i = 0; i < ws.size(); ++i)
        products.push_back({xs[i].data(), int64_t(xs[i].size()) / K, ws[i], ys[i].data()});
      products.push_back({xs[0].data(), 0, ws[0], nullptr});  // no tokens: nothing written
      matmul_rows_grouped(products.data(), products.size(), pool);
      for (size_t i = 0; i < ws.size(); ++i) {
        for (size_t j = 0; j < ys[i].size(); ++j) {
          ASSERT_EQ(std::bit_cast<uint32_t>(ys[i][j]), std::bit_cast<uint32_t>(want[i][j]))
              << ws[i]->name << " T=" << T << " threads=" << threads << " j=" << j;
        }
      }
    }
  }
  set_int8_activations(saved);
}

// weight_row_slice views rows [r0, r0 + n) in their stored dtype (data and scale rows
// offset): its rows-path product equals those rows of the whole matrix's product bit for bit,
// matmul_rows_serial equals matmul_with(kRows), and a cut inside a scale block is refused.
TEST(MatmulRowSlice, SliceProductEqualsRowsOfTheWhole) {
  std::mt19937 rng(23);
  const Int8Activations saved = int8_activations();
  set_int8_activations(Int8Activations::kAll);
  ThreadPool pool(2);
  const int64_t N = 256, K = 192, T = 3;
  std::vector<TestWeight> tws;
  for (DType dt : kDtypes) tws.push_back(make_weight(dt, N, K, rng, 64, 64));
  std::vector<QuantizedMatrix> qms;
  for (DType dt : {DType::I8, DType::I4}) qms.push_back(quantize_weight(tws[0].w, dt, 64));
  std::vector<WeightMatrix> ws;
  for (const auto& tw : tws) ws.push_back(tw.w);
  for (const auto& q : qms) ws.push_back(q.view("q"));
  const std::vector<float> x = random_x(T * K, rng);
  for (const WeightMatrix& w : ws) {
    std::vector<float> whole(size_t(T * N)), part;
    matmul_with(active_isa(), MatmulPath::kRows, x.data(), T, w, whole.data(), pool);
    for (int64_t r0 : {int64_t(0), int64_t(64), int64_t(128)}) {
      const int64_t n = 64;
      WeightMatrix s;
      ASSERT_TRUE(weight_row_slice(w, r0, n, &s)) << w.name << " r0=" << r0;
      part.assign(size_t(T * n), kGuard);
      matmul_rows_serial(x.data(), T, s, part.data());
      for (int64_t t = 0; t < T; ++t)
        for (int64_t i = 0; i < n; ++i)
          ASSERT_EQ(std::bit_cast<uint32_t>(part[size_t(t * n + i)]), std::bit_cast<uint32_t>(whole[size_t(t * N + r0 + i)]))
              << w.name << " r0=" << r0 << " t=" << t << " i=" << i;
    }
    WeightMatrix s;
    const bool blocked = w.dtype == DType::F8_E4M3;  // 64-row scale blocks; I8/I4 rows have their own
    EXPECT_EQ(weight_row_slice(w, 32, 16, &s), !blocked) << w.name;
    EXPECT_THROW(weight_row_slice(w, 250, 16, &s), Error) << w.name;
  }
  set_int8_activations(saved);
}

// weighted_row_sum (absorbed MLA's W_UKᵀ q) at every SIMD level equals its twin (dequantize
// each row, then fma) to a few ulps of Σ|a·w| per column, for every stored dtype, odd K,
// partial and straddled scale blocks, 1..9 rows, and adds into y without touching past K.
TEST(WeightedRowSum, EqualsDequantizedTwin) {
  std::mt19937 rng(29);
  std::vector<TestWeight> tws;
  std::vector<QuantizedMatrix> qms;
  std::vector<WeightMatrix> ws;
  for (int64_t K : {int64_t(7), int64_t(200), int64_t(517)}) {
    for (DType dt : kDtypes) tws.push_back(make_weight(dt, 19, K, rng, 3, 48));
    for (DType dt : {DType::I8, DType::I4}) qms.push_back(quantize_weight(tws[tws.size() - 4].w, dt, 64));
  }
  for (const auto& tw : tws) ws.push_back(tw.w);
  for (const auto& q : qms) ws.push_back(q.view("q"));
  std::uniform_real_distribution<float> coef(-2.0f, 2.0f);
  for (const WeightMatrix& w : ws) {
    const int64_t K = w.cols;
    std::vector<float> row(static_cast<size_t>(K));
    for (auto [r0, n] : {std::pair<int64_t, int64_t>{0, 1}, {2, 4}, {5, 9}, {0, 19}}) {
      std::vector<float> a(static_cast<size_t>(n));
      for (auto& v : a) v = coef(rng);
      std::vector<float> y0 = random_x(K, rng), want = y0, mag(size_t(K), 0.0f);
      y0.push_back(kGuard);
      weighted_row_sum_ref(w, r0, n, a.data(), want.data());
      for (int64_t i = 0; i < n; ++i) {
        dequantize_row_with(Isa::kScalar, w, r0 + i, row.data());
        for (int64_t c = 0; c < K; ++c) mag[size_t(c)] += std::fabs(a[size_t(i)] * row[size_t(c)]);
      }
      for (Isa isa : supported_isas()) {
        std::vector<float> y = y0;
        weighted_row_sum_with(isa, w, r0, n, a.data(), y.data());
        ASSERT_EQ(y[size_t(K)], kGuard) << w.name << " " << isa_name(isa) << ": wrote past K";
        for (int64_t c = 0; c < K; ++c)
          ASSERT_NEAR(y[size_t(c)], want[size_t(c)], 1e-6f * (mag[size_t(c)] + std::fabs(y0[size_t(c)])) + 1e-30f)
              << w.name << " " << isa_name(isa) << " r0=" << r0 << " n=" << n << " c=" << c;
      }
    }
    float y = 0;
    EXPECT_THROW(weighted_row_sum(w, 18, 2, &y, &y), Error) << w.name;
  }
}

}  // namespace
}  // namespace dsv3
