#include "core/file_text.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace dsv3 {

std::string read_file_text(const std::string& path, const std::string& what) {
  std::error_code ec;
  DSV3_CHECK(!std::filesystem::is_directory(path, ec), "cannot read ", what, path, ": it is a directory");
  std::ifstream f(path, std::ios::binary);
  DSV3_CHECK(f.good(), "cannot read ", what, path);
  std::ostringstream os;
  os << f.rdbuf();
  return os.str();
}

}  // namespace dsv3
