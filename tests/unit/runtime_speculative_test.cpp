// MTP speculative decoding: greedy output identical to plain decoding for every draft length,
// sampling with the rejection rule keeps the output distribution (checked statistically on a
// tiny vocabulary), and errors for models without MTP.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "model/presets.h"
#include "model/random_checkpoint.h"
#include "runtime/generator.h"
#include "runtime/speculative.h"
#include "test_util.h"

namespace dsv3 {
namespace {

const Model& tiny_mtp() {
  static const std::unique_ptr<Model> m = [] {
    const std::string dir = test::make_temp_dir("spec_tiny");
    write_random_checkpoint(dir, preset_config("tiny", 1, false), {5});
    return Model::load(dir);
  }();
  return *m;
}

GenerateRequest request(int64_t n, int64_t draft, float temperature = 0, uint64_t seed = 0, int64_t top_k = 0) {
  GenerateRequest r;
  r.sampling.top_k = top_k;
  r.prompt = {5, 17, 99, 3, 250, 41, 7};
  r.max_new_tokens = n;
  r.sampling.temperature = temperature;
  r.sampling.seed = seed;
  r.speculative_draft = draft;
  return r;
}

TEST(Speculative, GreedyOutputEqualsPlainDecoding) {
  const GenerateResult plain = generate(tiny_mtp(), request(40, 0));
  for (int64_t draft : {1, 2, 3, 5}) {
    const GenerateResult spec = generate(tiny_mtp(), request(40, draft));
    EXPECT_EQ(spec.tokens, plain.tokens) << "draft " << draft;
    EXPECT_EQ(spec.finish_reason, plain.finish_reason);
    EXPECT_GT(spec.verify_steps, 0);
    EXPECT_LE(spec.accepted, spec.drafted);
    EXPECT_LE(spec.verify_steps, 40);
  }
}

TEST(Speculative, StopsAtStopIdsAndLengthLikePlainDecoding) {
  GenerateRequest r = request(30, 0);
  const GenerateResult plain = generate(tiny_mtp(), r);
  ASSERT_GE(plain.tokens.size(), 10u);
  r.stop_ids = {plain.tokens[6]};
  const GenerateResult stopped = generate(tiny_mtp(), r);
  r.speculative_draft = 3;
  const GenerateResult spec = generate(tiny_mtp(), r);
  EXPECT_EQ(spec.tokens, stopped.tokens);
  EXPECT_EQ(spec.finish_reason, "stop");
  for (int64_t n : {1, 2, 7}) EXPECT_EQ(generate(tiny_mtp(), request(n, 4)).tokens.size(), size_t(n));
}

// The rejection rule leaves the output distribution unchanged: the empirical joint
// distribution of the first three tokens (top-3 sampling, so at most 27 outcomes) with and
// without speculation agrees up to sampling noise (total variation; two plain runs with
// different seeds give about 0.05 here).
TEST(Speculative, SamplingKeepsTheDistribution) {
  std::map<int64_t, int> plain, spec;
  const int runs = 800;
  int64_t accepted = 0, drafted = 0;
  for (int s = 0; s < runs; ++s) {
    const GenerateResult a = generate(tiny_mtp(), request(3, 0, 1.0f, uint64_t(s), 3));
    const GenerateResult b = generate(tiny_mtp(), request(3, 2, 1.0f, uint64_t(s) + 100000, 3));
    ASSERT_EQ(a.tokens.size(), 3u);
    ASSERT_EQ(b.tokens.size(), 3u);
    ++plain[(int64_t(a.tokens[0]) * 1000 + a.tokens[1]) * 1000 + a.tokens[2]];
    ++spec[(int64_t(b.tokens[0]) * 1000 + b.tokens[1]) * 1000 + b.tokens[2]];
    accepted += b.accepted;
    drafted += b.drafted;
  }
  std::map<int64_t, int> keys = plain;
  for (auto& [k, v] : spec) keys[k] += 0;
  double tv = 0;
  for (auto& [k, v] : keys) tv += std::abs(double(plain[k]) - double(spec[k])) / runs;
  EXPECT_LT(tv / 2, 0.12) << "speculative sampling changed the output distribution";
  EXPECT_GT(drafted, 0);
  EXPECT_GT(accepted, 0) << "no draft was ever accepted: the acceptance branch is untested";
}

// The relaxed rule on hand-made logits: rank among the top k (ties in the draft's favour) and
// probability within delta of the top-1's.
TEST(Speculative, RelaxedRuleOnOneRow) {
  const std::vector<float> lg = {2.0f, 1.9f, 0.5f, 1.9f, -1.0f};
  double z = 0;
  for (float v : lg) z += std::exp(double(v));
  const double p0 = std::exp(2.0) / z, p1 = std::exp(1.9) / z, p2 = std::exp(0.5) / z;
  const float gap1 = float(p0 - p1), gap2 = float(p0 - p2);
  EXPECT_TRUE(relaxed_accepts(lg.data(), 5, 0, 1, 0.0f));  // the argmax always passes
  EXPECT_FALSE(relaxed_accepts(lg.data(), 5, 1, 1, 1.0f));  // one token ranks above it
  EXPECT_TRUE(relaxed_accepts(lg.data(), 5, 1, 2, gap1 * 1.01f));
  EXPECT_FALSE(relaxed_accepts(lg.data(), 5, 1, 2, gap1 * 0.99f));
  EXPECT_TRUE(relaxed_accepts(lg.data(), 5, 3, 2, gap1 * 1.01f));  // tied with token 1: same rank
  EXPECT_FALSE(relaxed_accepts(lg.data(), 5, 2, 3, 1.0f));         // three tokens rank above it
  EXPECT_TRUE(relaxed_accepts(lg.data(), 5, 2, 4, gap2 * 1.01f));
  EXPECT_FALSE(relaxed_accepts(lg.data(), 5, 2, 4, gap2 * 0.99f));
  EXPECT_FALSE(relaxed_accepts(lg.data(), 5, 7, 5, 1.0f));  // not a token
  EXPECT_FALSE(relaxed_accepts(lg.data(), 5, -1, 5, 1.0f));
}

// Ids that neither the prompt nor the plain greedy output contains, to act as <think> / </think>.
std::pair<int32_t, int32_t> unused_ids(const GenerateRequest& r, const GenerateResult& plain) {
  std::vector<int32_t> ids;
  for (int32_t id = int32_t(tiny_mtp().vocab_size()) - 1; ids.size() < 2; --id)
    if (std::count(r.prompt.begin(), r.prompt.end(), id) == 0 && std::count(plain.tokens.begin(), plain.tokens.end(), id) == 0)
      ids.push_back(id);
  return {ids[0], ids[1]};
}

TEST(Speculative, RelaxedOutsideReasoningIsExactGreedy) {
  GenerateRequest r = request(40, 2);
  const GenerateResult plain = generate(tiny_mtp(), request(40, 0));
  std::tie(r.think_begin, r.think_end) = unused_ids(r, plain);
  r.relaxed_topk = 8;
  r.relaxed_delta = 1.0f;
  const GenerateResult spec = generate(tiny_mtp(), r);
  EXPECT_EQ(spec.tokens, plain.tokens);
  EXPECT_EQ(spec.accepted_relaxed, 0);
}

TEST(Speculative, RelaxedInsideReasoningAcceptsMore) {
  const GenerateResult plain = generate(tiny_mtp(), request(40, 0));
  GenerateRequest strict = request(40, 3);
  const auto [begin, end] = unused_ids(strict, plain);
  strict.prompt.push_back(begin);  // the prompt opens a reasoning block, as R1's template does
  strict.think_begin = begin;
  strict.think_end = end;
  const GenerateResult exact = generate(tiny_mtp(), strict);
  GenerateRequest loose = strict;
  loose.relaxed_topk = tiny_mtp().vocab_size();
  loose.relaxed_delta = 1.0f;  // every draft qualifies
  const GenerateResult relaxed = generate(tiny_mtp(), loose);
  ASSERT_GT(relaxed.drafted, 0);
  EXPECT_EQ(relaxed.accepted, relaxed.drafted) << "with top-V and delta 1 every draft passes";
  EXPECT_GT(relaxed.accepted_relaxed, 0);
  EXPECT_LT(relaxed.verify_steps, exact.verify_steps);
  EXPECT_EQ(relaxed.tokens.size(), 40u);
  // top-k 1 is the exact rule, even inside reasoning.
  loose.relaxed_topk = 1;
  EXPECT_EQ(generate(tiny_mtp(), loose).tokens, exact.tokens);
}

TEST(Speculative, RelaxedNeedsGreedyAndThinkTokens) {
  GenerateRequest r = request(4, 2, 1.0f, 1);
  r.relaxed_topk = 3;
  r.think_begin = 1;
  r.think_end = 2;
  test::expect_error([&] { generate(tiny_mtp(), r); }, {"greedy"});
  r = request(4, 2);
  r.relaxed_topk = 3;
  test::expect_error([&] { generate(tiny_mtp(), r); }, {"<think>"});
  r.think_begin = 1;
  r.think_end = int32_t(tiny_mtp().vocab_size());
  test::expect_error([&] { generate(tiny_mtp(), r); }, {"<think>"});
  r.think_end = 2;
  r.relaxed_delta = 1.5f;
  test::expect_error([&] { generate(tiny_mtp(), r); }, {"relaxed-delta"});
}

TEST(Speculative, NeedsAnMtpModule) {
  const std::string dir = test::make_temp_dir("spec_nomtp");
  write_random_checkpoint(dir, preset_config("tiny", 0, false), {5});
  auto m = Model::load(dir);
  test::expect_error([&] { generate(*m, request(4, 2)); }, {"MTP"});
  test::expect_error([&] { generate(tiny_mtp(), request(4, 99)); }, {"draft"});
}

}  // namespace
}  // namespace dsv3
