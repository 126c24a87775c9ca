// read_file_text: whole files byte for byte (binary, embedded NUL, empty), and one-line errors
// naming the role and the path for a missing file and a directory.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/file_text.h"
#include "test_util.h"

namespace dsv3 {
namespace {

TEST(FileText, ReadsWholeFilesVerbatim) {
  const std::string dir = test::make_temp_dir("file_text");
  const std::string body = std::string("line 1\r\nline 2\n") + '\0' + "\xff tail";
  {
    std::ofstream(dir + "/a.bin", std::ios::binary) << body;
    std::ofstream(dir + "/empty.txt", std::ios::binary);
  }
  EXPECT_EQ(read_file_text(dir + "/a.bin"), body);
  EXPECT_EQ(read_file_text(dir + "/empty.txt"), "");
}

TEST(FileText, ErrorsNameTheRoleAndThePath) {
  const std::string dir = test::make_temp_dir("file_text_err");
  test::expect_error([&] { read_file_text(dir + "/missing.json", "training config "); },
                     {"cannot read training config", "missing.json"});
  test::expect_error([&] { read_file_text(dir); }, {"cannot read", "directory"});
}

}  // namespace
}  // namespace dsv3
