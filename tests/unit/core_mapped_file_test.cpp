// MappedFile: the copied residency (private huge-page memory) holds exactly the file's bytes,
// 2 MB aligned, for sizes around page and huge-page boundaries; the auto residency rule; the
// DSV3_WEIGHTS_MEMORY setting.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/residency_policy.h"
#include "test_util.h"

namespace dsv3 {
namespace {

std::string write_random_file(const std::string& path, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string bytes(n, '\0');
  for (auto& c : bytes) c = char(rng() & 0xff);
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(n));
  return bytes;
}

TEST(MappedFile, CopiedEqualsMappedAtEverySize) {
  const std::string dir = test::make_temp_dir("mapped");
  const size_t sizes[] = {1, 4095, 4096, 4097, (size_t(2) << 20) - 1, size_t(2) << 20, (size_t(2) << 20) + 3};
  uint32_t seed = 1;
  for (size_t n : sizes) {
    const std::string path = dir + "/f" + std::to_string(n);
    const std::string bytes = write_random_file(path, n, seed++);
    const MappedFile mapped(path, Residency::kMapped), copied(path, Residency::kCopied);
    EXPECT_EQ(mapped.residency(), Residency::kMapped);
    EXPECT_EQ(copied.residency(), Residency::kCopied);
    ASSERT_EQ(copied.size(), n);
    ASSERT_EQ(mapped.size(), n);
    EXPECT_EQ(std::memcmp(copied.data(), bytes.data(), n), 0) << n;
    EXPECT_EQ(std::memcmp(mapped.data(), bytes.data(), n), 0) << n;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(copied.data()) % (size_t(2) << 20), 0u) << n;
  }
}

TEST(MappedFile, EmptyFileAndMoves) {
  const std::string dir = test::make_temp_dir("mapped");
  write_random_file(dir + "/empty", 0, 1);
  const MappedFile empty(dir + "/empty", Residency::kCopied);
  EXPECT_EQ(empty.size(), 0u);
  const std::string bytes = write_random_file(dir + "/f", 5000, 2);
  MappedFile a(dir + "/f", Residency::kCopied);
  MappedFile b(std::move(a));
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(b.residency(), Residency::kCopied);
  MappedFile c;
  c = std::move(b);
  ASSERT_EQ(c.size(), 5000u);
  EXPECT_EQ(std::memcmp(c.data(), bytes.data(), 5000), 0);
}

TEST(MappedFile, ErrorsNameThePath) {
  const std::string dir = test::make_temp_dir("mapped");
  for (Residency r : {Residency::kMapped, Residency::kCopied}) {
    test::expect_error([&] { MappedFile f(dir + "/missing", r); }, {"cannot open", dir + "/missing"});
    test::expect_error([&] { MappedFile f(dir, r); }, {dir, "is a directory"});
  }
}

TEST(ResidencyPolicy, AutoCopiesWhenTheWeightsTakeAtMostHalfTheAvailableMemory) {
  const uint64_t gib = uint64_t(1) << 30;
  EXPECT_EQ(resolve_residency(ResidencyPolicy::kAuto, 6 * gib, 22 * gib), Residency::kCopied);
  EXPECT_EQ(resolve_residency(ResidencyPolicy::kAuto, 11 * gib, 22 * gib), Residency::kCopied);
  EXPECT_EQ(resolve_residency(ResidencyPolicy::kAuto, 11 * gib + 1, 22 * gib), Residency::kMapped);
  EXPECT_EQ(resolve_residency(ResidencyPolicy::kAuto, 1, 0), Residency::kMapped);  // unknown: map
  EXPECT_EQ(resolve_residency(ResidencyPolicy::kMapped, 1, 22 * gib), Residency::kMapped);
  EXPECT_EQ(resolve_residency(ResidencyPolicy::kCopied, 100 * gib, 22 * gib), Residency::kCopied);
  EXPECT_GT(available_memory_bytes(), 0u);  // Linux reports MemAvailable
}

TEST(ResidencyPolicy, FromEnvironment) {
  const char* old = std::getenv("DSV3_WEIGHTS_MEMORY");
  const std::string saved = old ? old : "";
  const std::pair<const char*, ResidencyPolicy> good[] = {
      {"", ResidencyPolicy::kAuto}, {"auto", ResidencyPolicy::kAuto}, {"mmap", ResidencyPolicy::kMapped},
      {"copy", ResidencyPolicy::kCopied}};
  for (auto [v, p] : good) {
    ::setenv("DSV3_WEIGHTS_MEMORY", v, 1);
    EXPECT_EQ(residency_policy_from_env(), p) << v;
  }
  ::unsetenv("DSV3_WEIGHTS_MEMORY");
  EXPECT_EQ(residency_policy_from_env(), ResidencyPolicy::kAuto);
  ::setenv("DSV3_WEIGHTS_MEMORY", "hugepages", 1);
  test::expect_error([] { residency_policy_from_env(); }, {"DSV3_WEIGHTS_MEMORY", "auto, mmap or copy", "'hugepages'"});
  if (old) ::setenv("DSV3_WEIGHTS_MEMORY", saved.c_str(), 1);
  else ::unsetenv("DSV3_WEIGHTS_MEMORY");
}

}  // namespace
}  // namespace dsv3
