#include "core/file_text.h"

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace dsv3 {

std::string read_file_text(const std::string& path, const std::string& what) {
  std::ifstream f(path, std::ios::binary);
  DSV3_CHECK(f.good(), "cannot read ", what, path);
  std::ostringstream os;
  os << f.rdbuf();
  DSV3_CHECK(!f.bad(), "cannot read ", what, path);
  return os.str();
}

}  // namespace dsv3
