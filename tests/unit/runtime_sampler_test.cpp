#include <gtest/gtest.h>

#include <map>

#include "runtime/sampler.h"

namespace dsv3 {
namespace {

TEST(Sampler, GreedyPicksArgmaxLowestIdOnTies) {
  SamplingParams p;
  p.temperature = 0;
  Sampler s(p);
  std::vector<float> l{1, 5, 5, 2};
  EXPECT_EQ(s.sample(l.data(), 4), 1);
}

TEST(Sampler, TopKKeepsKMostLikely) {
  SamplingParams p;
  p.top_k = 2;
  Sampler s(p);
  std::vector<float> l{0, 3, 1, 2};
  auto d = s.distribution(l.data(), 4);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].first, 1);
  EXPECT_EQ(d[1].first, 3);
  EXPECT_NEAR(d[0].second, std::exp(3.0) / (std::exp(3.0) + std::exp(2.0)), 1e-6);
}

TEST(Sampler, TopPKeepsSmallestPrefixReachingMass) {
  SamplingParams p;
  p.top_p = 0.7f;
  Sampler s(p);
  std::vector<float> l{std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  auto d = s.distribution(l.data(), 3);
  ASSERT_EQ(d.size(), 2u);  // 0.5 < 0.7 <= 0.8
  EXPECT_NEAR(d[0].second, 0.5 / 0.8, 1e-6);
}

TEST(Sampler, MinPDropsTokensBelowFractionOfTop) {
  SamplingParams p;
  p.min_p = 0.5f;
  Sampler s(p);
  std::vector<float> l{std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  auto d = s.distribution(l.data(), 3);
  ASSERT_EQ(d.size(), 2u);  // 0.2 < 0.25
}

TEST(Sampler, TemperatureSharpens) {
  SamplingParams p;
  p.temperature = 0.5f;
  Sampler s(p);
  std::vector<float> l{0, 1};
  auto d = s.distribution(l.data(), 2);
  EXPECT_NEAR(d[0].second, std::exp(2.0) / (1 + std::exp(2.0)), 1e-6);
}

TEST(Sampler, SeedReproducesAndFrequenciesMatch) {
  SamplingParams p;
  p.seed = 42;
  std::vector<float> l{std::log(0.6f), std::log(0.3f), std::log(0.1f)};
  Sampler a(p), b(p);
  std::map<int32_t, int> counts;
  for (int i = 0; i < 20000; ++i) {
    int32_t x = a.sample(l.data(), 3);
    ASSERT_EQ(x, b.sample(l.data(), 3));
    counts[x]++;
  }
  EXPECT_NEAR(counts[0] / 20000.0, 0.6, 0.02);
  EXPECT_NEAR(counts[2] / 20000.0, 0.1, 0.01);
}

TEST(Sampler, RejectsBadParameters) {
  SamplingParams p;
  p.top_p = 0;
  EXPECT_THROW(p.validate(), std::exception);
  p = {};
  p.temperature = -1;
  EXPECT_THROW(p.validate(), std::exception);
}

}  // namespace
}  // namespace dsv3
