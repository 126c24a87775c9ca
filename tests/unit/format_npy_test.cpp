// .npy writer: exact v1.0 header bytes, and numpy itself loading the file back.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "format/npy.h"

namespace dsv3 {
namespace {

namespace fs = std::filesystem;

struct NpyDir {
  NpyDir() {
    std::string tmpl = (fs::temp_directory_path() / "dsv3_npy_XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~NpyDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string path;
};

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Returns the header dict text; checks magic, version, length and 64-byte alignment.
std::string check_header(const std::string& bytes, size_t numel) {
  EXPECT_GE(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 6), "\x93NUMPY");
  EXPECT_EQ(bytes[6], '\x01');
  EXPECT_EQ(bytes[7], '\x00');
  size_t hlen = uint8_t(bytes[8]) | (size_t(uint8_t(bytes[9])) << 8);
  EXPECT_EQ((10 + hlen) % 64, 0u);
  EXPECT_EQ(bytes.size(), 10 + hlen + 4 * numel);
  std::string h = bytes.substr(10, hlen);
  EXPECT_EQ(h.back(), '\n');
  return h.substr(0, h.find_last_not_of(" \n") + 1);
}

TEST(FormatNpy, HeaderAndData2D) {
  NpyDir d;
  const std::string path = d.path + "/a.npy";
  std::vector<float> v = {1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, -1e30f};
  write_npy_f32(path, v.data(), {2, 3});
  std::string bytes = read_bytes(path);
  EXPECT_EQ(check_header(bytes, 6), "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
  std::vector<float> back(6);
  std::memcpy(back.data(), bytes.data() + bytes.size() - 24, 24);
  EXPECT_EQ(back, v);
}

TEST(FormatNpy, OneDimHasTrailingComma) {
  NpyDir d;
  const std::string path = d.path + "/b.npy";
  float v[5] = {1, 2, 3, 4, 5};
  write_npy_f32(path, v, {5});
  EXPECT_EQ(check_header(read_bytes(path), 5), "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }");
}

TEST(FormatNpy, ScalarAndEmpty) {
  NpyDir d;
  float s = 4.0f;
  write_npy_f32(d.path + "/s.npy", &s, {});
  EXPECT_EQ(check_header(read_bytes(d.path + "/s.npy"), 1), "{'descr': '<f4', 'fortran_order': False, 'shape': (), }");
  write_npy_f32(d.path + "/e.npy", nullptr, {0, 7});
  EXPECT_EQ(check_header(read_bytes(d.path + "/e.npy"), 0), "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 7), }");
}

TEST(FormatNpy, AtomicAndErrors) {
  NpyDir d;
  const std::string path = d.path + "/c.npy";
  float v[2] = {1, 2};
  write_npy_f32(path, v, {2});
  write_npy_f32(path, v, {1, 2});
  EXPECT_EQ(std::distance(fs::directory_iterator(d.path), fs::directory_iterator{}), 1);
  try {
    write_npy_f32(path, v, {-1});
    ADD_FAILURE() << "negative dim accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }
  EXPECT_THROW(write_npy_f32(d.path + "/no/dir/x.npy", v, {2}), Error);
}

bool have_numpy() { return std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0; }

TEST(FormatNpy, LoadsInNumpy) {
  if (!have_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy not available (scripts/setup.sh --tests)";
  NpyDir d;
  struct Case {
    std::string name;
    std::vector<int64_t> shape;
    std::string py_shape;
  };
  const std::vector<Case> cases = {{"m", {3, 4}, "(3, 4)"}, {"v", {7}, "(7,)"}, {"t", {2, 1, 3}, "(2, 1, 3)"},
                                   {"s", {}, "()"},        {"z", {0, 5}, "(0, 5)"}};
  for (const Case& c : cases) {
    int64_t n = 1;
    for (int64_t x : c.shape) n *= x;
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[size_t(i)] = float(i) * 0.5f - 3.0f;
    const std::string path = d.path + "/" + c.name + ".npy";
    write_npy_f32(path, v.data(), c.shape);
    const std::string cmd =
        "/usr/bin/python3 -c \"import numpy as np, sys; a = np.load('" + path +
        "', allow_pickle=False); "
        "ok = a.dtype == np.float32 and a.shape == " + c.py_shape +
        " and a.flags.c_contiguous and np.array_equal(a.ravel(), np.arange(a.size, dtype=np.float32) * 0.5 - 3); "
        "sys.exit(0 if ok else 1)\"";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << c.name << ": " << cmd;
  }
}

}  // namespace
}  // namespace dsv3
