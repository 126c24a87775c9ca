#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/rng.h"
#include "kernels/gemm.h"

#include <cblas.h>  // openblas_get_num_threads

namespace dsv3 {
namespace {

std::vector<float> random_vec(size_t n, uint64_t seed) {
  Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = float(r.uniform() * 2 - 1);
  return v;
}

// gemm.cpp's initialiser keeps OpenBLAS from starting its spinning workers (CMakeLists.txt).
TEST(Gemm, OpenBlasStartedNoWorkers) { EXPECT_EQ(openblas_get_num_threads(), 1); }

TEST(Gemm, MatchesScalarTwinInEveryLayout) {
  for (Trans ta : {Trans::kNo, Trans::kYes})
    for (Trans tb : {Trans::kNo, Trans::kYes})
      for (bool acc : {false, true}) {
        const int64_t M = 37, N = 29, K = 131;
        auto A = random_vec(size_t(M * K), 1), B = random_vec(size_t(K * N), 2);
        auto C = random_vec(size_t(M * N), 3), R = C;
        gemm(ta, tb, M, N, K, A.data(), B.data(), C.data(), acc);
        gemm_ref(ta, tb, M, N, K, A.data(), B.data(), R.data(), acc);
        for (size_t i = 0; i < C.size(); ++i) ASSERT_NEAR(C[i], R[i], 1e-4f) << int(ta) << int(tb) << acc << " at " << i;
      }
}

// Shapes large enough to be cut into panels, along N (N >= M) and along M, with partial
// last panels; results match the scalar twin and do not depend on the pool size.
TEST(Gemm, PanelsMatchScalarTwinAndThreadCount) {
  const int64_t shapes[][3] = {{37, 700, 50}, {700, 37, 50}, {300, 300, 128}, {129, 2000, 3}};
  for (const auto& sh : shapes)
    for (Trans ta : {Trans::kNo, Trans::kYes})
      for (Trans tb : {Trans::kNo, Trans::kYes})
        for (bool acc : {false, true}) {
          const int64_t M = sh[0], N = sh[1], K = sh[2];
          auto A = random_vec(size_t(M * K), 4), B = random_vec(size_t(K * N), 5);
          auto C = random_vec(size_t(M * N), 6), R = C;
          gemm(ta, tb, M, N, K, A.data(), B.data(), C.data(), acc);
          gemm_ref(ta, tb, M, N, K, A.data(), B.data(), R.data(), acc);
          for (size_t i = 0; i < C.size(); ++i)
            ASSERT_NEAR(C[i], R[i], 2e-4f) << M << "x" << N << "x" << K << " " << int(ta) << int(tb) << acc << " at " << i;
        }
}

TEST(Gemm, TransposeMeansTranspose) {
  // A = [[1,2],[3,4]], B = [[5,6],[7,8]]: AᵀB = [[26,30],[38,44]], ABᵀ = [[17,23],[39,53]].
  const float A[] = {1, 2, 3, 4}, B[] = {5, 6, 7, 8};
  float C[4];
  gemm(Trans::kYes, Trans::kNo, 2, 2, 2, A, B, C);
  EXPECT_EQ(C[0], 26);
  EXPECT_EQ(C[1], 30);
  EXPECT_EQ(C[2], 38);
  EXPECT_EQ(C[3], 44);
  gemm(Trans::kNo, Trans::kYes, 2, 2, 2, A, B, C);
  EXPECT_EQ(C[0], 17);
  EXPECT_EQ(C[1], 23);
  EXPECT_EQ(C[2], 39);
  EXPECT_EQ(C[3], 53);
}

TEST(Gemm, EmptyInnerDimensionZeroesOrKeeps) {
  float C[2] = {5, 6};
  gemm(Trans::kNo, Trans::kNo, 1, 2, 0, nullptr, nullptr, C, true);
  EXPECT_EQ(C[0], 5);
  gemm(Trans::kNo, Trans::kNo, 1, 2, 0, nullptr, nullptr, C, false);
  EXPECT_EQ(C[0], 0);
}

}  // namespace
}  // namespace dsv3
