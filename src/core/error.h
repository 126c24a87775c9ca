// Errors are exceptions carrying a message that names the file, tensor or field at fault
// (STYLE.md habit 6). The CLI turns them into a one-line message and exit code 1.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace dsv3 {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class... Args>
[[noreturn]] void fail(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  throw Error(os.str());
}

}  // namespace dsv3

#define DSV3_CHECK(cond, ...)                  \
  do {                                         \
    if (!(cond)) ::dsv3::fail(__VA_ARGS__);    \
  } while (0)
