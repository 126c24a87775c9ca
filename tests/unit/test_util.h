// Shared helpers for unit tests: temp dirs, random tiny checkpoints, asset lookup.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <string>

#include "format/model_config.h"

namespace dsv3::test {

// A fresh empty directory under the system temp dir, removed by the caller or left for CI.
inline std::string make_temp_dir(const std::string& tag) {
  std::string tmpl = (std::filesystem::temp_directory_path() / ("dsv3-" + tag + "-XXXXXX")).string();
  char* p = mkdtemp(tmpl.data());
  if (!p) std::abort();
  return tmpl;
}

// The folder of test assets installed by scripts/fetch_test_assets.sh.
inline std::string cache_dir() {
  if (const char* c = std::getenv("DSV3_CACHE")) return c;
  return std::string(DSV3_SOURCE_DIR) + "/.cache";
}

}  // namespace dsv3::test
