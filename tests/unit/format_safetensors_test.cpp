// Safetensors reader/writer: round trips for every dtype, sharded checkpoints, and one
// corrupted file per validation rule (each must fail with a one-line Error naming the file
// and, where there is one, the tensor).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "core/error.h"
#include "format/safetensors.h"
#include "test_util.h"

namespace dsv3 {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "dsv3_fmt_XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    if (!p) throw std::runtime_error("mkdtemp failed");
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return (fs::path(path_) / name).string(); }
  const std::string& str() const { return path_; }

 private:
  std::string path_;
};

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::string u64le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((v >> (8 * i)) & 0xff);
  return s;
}

// A raw file: u64 header length, header text as given, then `data_size` bytes of data.
std::string raw_file(const std::string& header, size_t data_size) {
  return u64le(header.size()) + header + std::string(data_size, '\x5a');
}

using test::expect_error;

// Writes a one-header file to DIR/bad.safetensors and expects opening it to fail.
void expect_bad_header(const std::string& header, size_t data_size, const std::vector<std::string>& needles) {
  TempDir d;
  const std::string path = d / "bad.safetensors";
  write_bytes(path, raw_file(header, data_size));
  std::vector<std::string> all = needles;
  all.push_back(path);
  expect_error([&] { SafetensorsFile f(path); }, all);
}

std::vector<std::byte> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> v(n);
  for (auto& b : v) b = std::byte(rng() & 0xff);
  return v;
}

constexpr DType kAllDTypes[] = {DType::F32, DType::F16, DType::BF16, DType::F8_E4M3, DType::F64, DType::I64,
                                DType::I32, DType::I16, DType::I8,   DType::U8,      DType::BOOL, DType::I4};

// ---------------------------------------------------------------------------------------
// Writer + reader round trips

TEST(FormatSafetensors, RoundTripEveryDtype) {
  TempDir d;
  const std::string path = d / "all.safetensors";
  std::vector<std::vector<std::byte>> bufs;
  std::vector<TensorToWrite> ts;
  uint32_t seed = 1;
  for (DType t : kAllDTypes) {
    std::vector<int64_t> shape = {3, 5};  // 15 elements: odd, so I4 needs a padded byte
    size_t n = storage_bytes(t, 15);
    bufs.push_back(random_bytes(n, seed++));
    ts.push_back({"t." + std::string(dtype_name(t)), t, shape, bufs.back().data(), n});
  }
  write_safetensors(path, ts, {{"format", "pt"}, {"note", "round trip"}});

  SafetensorsFile f(path);
  ASSERT_EQ(f.tensors().size(), ts.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    const TensorView& v = f.tensors().at(ts[i].name);
    EXPECT_EQ(v.name, ts[i].name);
    EXPECT_EQ(v.dtype, ts[i].dtype) << ts[i].name;
    EXPECT_EQ(v.shape, ts[i].shape);
    ASSERT_EQ(v.nbytes, ts[i].nbytes) << ts[i].name;
    EXPECT_EQ(std::memcmp(v.data, bufs[i].data(), v.nbytes), 0) << ts[i].name;
  }
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("note"), "round trip");
  EXPECT_EQ(f.path(), path);
}

TEST(FormatSafetensors, LayoutHeaderPaddedAndDataInGivenOrder) {
  TempDir d;
  const std::string path = d / "order.safetensors";
  std::vector<float> a = {1, 2, 3}, b = {4}, c = {5, 6};
  // Deliberately not alphabetical: data must follow the given order, not the name order.
  write_safetensors(path, {{"zeta", DType::F32, {3}, a.data(), 12},
                           {"alpha", DType::F32, {1}, b.data(), 4},
                           {"mid", DType::F32, {2}, c.data(), 8}});
  std::string bytes = read_bytes(path);
  ASSERT_GE(bytes.size(), 8u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(bytes[size_t(i)]);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + n + 24);
  std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.front(), '{');
  EXPECT_EQ(header.find_last_not_of(' '), header.find_last_of('}'));  // only spaces after '}'
  std::vector<float> data(6);
  std::memcpy(data.data(), bytes.data() + 8 + n, 24);
  EXPECT_EQ(data, (std::vector<float>{1, 2, 3, 4, 5, 6}));

  SafetensorsFile f(path);
  const auto& t = f.tensors();
  EXPECT_LT(t.at("zeta").data, t.at("alpha").data);
  EXPECT_LT(t.at("alpha").data, t.at("mid").data);
  EXPECT_EQ(to_f32_vector(t.at("mid")), (std::vector<float>{5, 6}));
}

TEST(FormatSafetensors, ScalarEmptyAndZeroSizeTensors) {
  TempDir d;
  const std::string path = d / "edge.safetensors";
  float s = 7.5f;
  write_safetensors(path, {{"scalar", DType::F32, {}, &s, 4}, {"empty", DType::BF16, {0, 4}, nullptr, 0}});
  SafetensorsFile f(path);
  EXPECT_TRUE(f.tensors().at("scalar").shape.empty());
  EXPECT_EQ(element_as_f32(f.tensors().at("scalar"), 0), 7.5f);
  EXPECT_EQ(f.tensors().at("empty").nbytes, 0u);
  EXPECT_EQ(f.tensors().at("empty").numel(), 0);
  EXPECT_TRUE(f.metadata().empty());

  const std::string none = d / "none.safetensors";
  write_safetensors(none, {});
  EXPECT_TRUE(SafetensorsFile(none).tensors().empty());
}

TEST(FormatSafetensors, WriteIsAtomicAndOverwrites) {
  TempDir d;
  const std::string path = d / "w.safetensors";
  float one = 1, two = 2;
  write_safetensors(path, {{"x", DType::F32, {1}, &one, 4}});
  write_safetensors(path, {{"y", DType::F32, {1}, &two, 4}});
  SafetensorsFile f(path);
  EXPECT_EQ(f.tensors().count("x"), 0u);
  EXPECT_EQ(element_as_f32(f.tensors().at("y"), 0), 2.0f);
  for (const auto& e : fs::directory_iterator(d.str()))
    EXPECT_EQ(e.path().filename().string(), "w.safetensors") << "stray file " << e.path();

  // A directory that does not exist: error names the path, nothing is left behind.
  const std::string bad = d / "no/such/dir/x.safetensors";
  expect_error([&] { write_safetensors(bad, {{"x", DType::F32, {1}, &one, 4}}); }, {bad});
  expect_error([&] { write_file_atomic(bad, "hello"); }, {bad});
}

TEST(FormatSafetensors, WriterRejectsInconsistentInput) {
  TempDir d;
  const std::string path = d / "w.safetensors";
  float v[4] = {};
  expect_error([&] { write_safetensors(path, {{"x", DType::F32, {3}, v, 16}}); }, {"x", "16 bytes"});
  expect_error([&] { write_safetensors(path, {{"x", DType::F32, {1}, v, 4}, {"x", DType::F32, {1}, v, 4}}); },
               {"x", "twice"});
  expect_error([&] { write_safetensors(path, {{"x", DType::F32, {-1}, v, 0}}); }, {"x", "negative"});
  expect_error([&] { write_safetensors(path, {{"__metadata__", DType::F32, {1}, v, 4}}); }, {"invalid tensor name"});
  EXPECT_FALSE(fs::exists(path));
}

TEST(FormatSafetensors, WriteFileAtomic) {
  TempDir d;
  const std::string path = d / "config.json";
  write_file_atomic(path, "{\"a\": 1}\n");
  write_file_atomic(path, "{\"b\": 2}\n");
  EXPECT_EQ(read_bytes(path), "{\"b\": 2}\n");
  EXPECT_EQ(std::distance(fs::directory_iterator(d.str()), fs::directory_iterator{}), 1);
}

// ---------------------------------------------------------------------------------------
// One test per validation rule

TEST(FormatSafetensorsValidation, FileShorterThan8Bytes) {
  TempDir d;
  const std::string path = d / "short.safetensors";
  write_bytes(path, "abcde");
  expect_error([&] { SafetensorsFile f(path); }, {path, "too short"});
  write_bytes(path, "");
  expect_error([&] { SafetensorsFile f(path); }, {path, "too short"});
}

TEST(FormatSafetensorsValidation, HeaderLengthPastEndOfFile) {
  TempDir d;
  const std::string path = d / "lying.safetensors";
  write_bytes(path, u64le(1000) + "{}");
  expect_error([&] { SafetensorsFile f(path); }, {path, "header length 1000", "past the end"});
  write_bytes(path, u64le(~uint64_t(0)) + "{}");  // must not overflow 8 + N
  expect_error([&] { SafetensorsFile f(path); }, {path, "header length"});
}

TEST(FormatSafetensorsValidation, HeaderLengthOver100MB) {
  TempDir d;
  const std::string path = d / "huge.safetensors";
  write_bytes(path, u64le(200ull * 1000 * 1000) + "{}");
  expect_error([&] { SafetensorsFile f(path); }, {path, "100 MB"});
}

TEST(FormatSafetensorsValidation, HeaderNotJson) {
  expect_bad_header("{\"a\": {\"dtype\": \"F32\", ", 0, {"not valid JSON"});
  expect_bad_header("not json at all!", 0, {"not valid JSON"});
  expect_bad_header(std::string("{\"a\xff\": 1}"), 0, {"not valid JSON"});  // invalid UTF-8
}

TEST(FormatSafetensorsValidation, HeaderNotObject) {
  expect_bad_header("[1, 2, 3]", 0, {"not a JSON object"});
  expect_bad_header("\"text\"", 0, {"not a JSON object"});
}

TEST(FormatSafetensorsValidation, EntryNotObject) {
  expect_bad_header(R"({"w": 5})", 0, {"tensor w", "must be an object"});
  expect_bad_header(R"({"w": ["F32", [1], [0, 4]]})", 4, {"tensor w", "must be an object"});
}

TEST(FormatSafetensorsValidation, EntryMissingFields) {
  expect_bad_header(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", 4, {"tensor w", "missing dtype"});
  expect_bad_header(R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})", 4, {"tensor w", "missing shape"});
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [1]}})", 4, {"tensor w", "missing data_offsets"});
}

TEST(FormatSafetensorsValidation, EntryWrongJsonTypes) {
  expect_bad_header(R"({"w": {"dtype": 7, "shape": [1], "data_offsets": [0, 4]}})", 4, {"tensor w", "dtype must be a string"});
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": "1", "data_offsets": [0, 4]}})", 4, {"tensor w", "shape must be an array"});
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}})", 4, {"tensor w", "shape[0]", "integer"});
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [true], "data_offsets": [0, 4]}})", 4, {"tensor w", "shape[0]", "integer"});
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4]}})", 4, {"tensor w", "two integers"});
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": {"a": 0}}})", 4, {"tensor w", "two integers"});
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, "4"]}})", 4, {"tensor w", "data_offsets[1]", "integer"});
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4e0]}})", 4, {"tensor w", "data_offsets[1]"});
}

TEST(FormatSafetensorsValidation, UnknownDtype) {
  expect_bad_header(R"({"w": {"dtype": "F7", "shape": [1], "data_offsets": [0, 4]}})", 4, {"tensor w", "unknown dtype F7"});
  expect_bad_header(R"({"w": {"dtype": "f32", "shape": [1], "data_offsets": [0, 4]}})", 4, {"tensor w", "unknown dtype"});
}

TEST(FormatSafetensorsValidation, NegativeDimension) {
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [2, -2], "data_offsets": [0, 16]}})", 16, {"tensor w", "negative dimension -2"});
}

TEST(FormatSafetensorsValidation, NumelOverflow) {
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}})", 4,
                    {"tensor w", "overflow"});
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [18446744073709551615], "data_offsets": [0, 4]}})", 4,
                    {"tensor w", "too large"});
  // numel fits int64 but the byte count does not.
  expect_bad_header(R"({"w": {"dtype": "F64", "shape": [4611686018427387904, 2], "data_offsets": [0, 4]}})", 4,
                    {"tensor w", "overflow"});
}

TEST(FormatSafetensorsValidation, NegativeOffsets) {
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", 4, {"tensor w", "negative data_offsets"});
}

TEST(FormatSafetensorsValidation, BeginAfterEnd) {
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})", 8, {"tensor w", "begin 8 > end 4"});
}

TEST(FormatSafetensorsValidation, EndPastDataRegion) {
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 7, {"tensor w", "past the end of the data (7 bytes)"});
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [100, 104]}})", 8, {"tensor w", "past the end"});
}

TEST(FormatSafetensorsValidation, TruncatedFile) {
  TempDir d;
  const std::string path = d / "trunc.safetensors";
  std::vector<float> v(64, 1.0f);
  write_safetensors(path, {{"a", DType::F32, {32}, v.data(), 128}, {"b", DType::F32, {32}, v.data() + 32, 128}});
  fs::resize_file(path, fs::file_size(path) - 100);
  expect_error([&] { SafetensorsFile f(path); }, {path, "tensor b", "past the end"});
}

TEST(FormatSafetensorsValidation, OverlappingTensors) {
  expect_bad_header(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                    12, {"tensors a", "and b", "overlap"});
  expect_bad_header(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                        "b": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}})",
                    4, {"overlap"});
  // Zero-size tensors and adjacent ranges are fine.
  TempDir d;
  const std::string ok = d / "ok.safetensors";
  write_bytes(ok, raw_file(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                               "e": {"dtype": "U8", "shape": [0], "data_offsets": [2, 2]},
                               "b": {"dtype": "U8", "shape": [4], "data_offsets": [4, 8]}})",
                           8));
  EXPECT_EQ(SafetensorsFile(ok).tensors().size(), 3u);
}

TEST(FormatSafetensorsValidation, ShapeDisagreesWithByteLength) {
  expect_bad_header(R"({"w": {"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 8]}})", 8,
                    {"tensor w", "[2, 3]", "needs 12 bytes", "span 8"});
  // I4 packs two per byte: 3 elements take 2 bytes, not 3 and not 1.
  expect_bad_header(R"({"w": {"dtype": "I4", "shape": [3], "data_offsets": [0, 3]}})", 3, {"tensor w", "needs 2 bytes"});
  TempDir d;
  const std::string ok = d / "i4.safetensors";
  write_bytes(ok, raw_file(R"({"w": {"dtype": "I4", "shape": [3], "data_offsets": [0, 2]}})", 2));
  EXPECT_EQ(SafetensorsFile(ok).tensors().at("w").nbytes, 2u);
}

TEST(FormatSafetensorsValidation, MetadataMustBeObjectOfStrings) {
  expect_bad_header(R"({"__metadata__": ["pt"]})", 0, {"__metadata__ must be an object"});
  expect_bad_header(R"({"__metadata__": {"format": 1}})", 0, {"__metadata__ value for key format", "string"});
}

TEST(FormatSafetensorsValidation, DuplicateTensorName) {
  expect_bad_header(R"({"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
                        "w": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}})",
                    2, {"duplicate tensor name w"});
}

TEST(FormatSafetensorsValidation, MissingFileAndDirectory) {
  TempDir d;
  expect_error([&] { SafetensorsFile f(d / "absent.safetensors"); }, {d / "absent.safetensors"});
  expect_error([&] { SafetensorsFile f(d.str()); }, {d.str(), "directory"});
}

TEST(FormatSafetensorsValidation, ControlCharactersInNamesStayOnOneLine) {
  expect_bad_header("{\"bad\\nname\": {\"dtype\": \"F7\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
                    {"bad\\x0aname"});
}

// ---------------------------------------------------------------------------------------
// Checkpoint folders

void write_f32(const std::string& path, const std::vector<std::pair<std::string, std::vector<float>>>& ts) {
  std::vector<TensorToWrite> w;
  for (const auto& [name, v] : ts) w.push_back({name, DType::F32, {int64_t(v.size())}, v.data(), v.size() * 4});
  write_safetensors(path, w);
}

TEST(FormatCheckpoint, SingleFile) {
  TempDir d;
  write_f32(d / "model.safetensors", {{"a", {1, 2}}, {"b", {3}}});
  Checkpoint c(d.str());
  EXPECT_EQ(c.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(to_f32_vector(c.get("a")), (std::vector<float>{1, 2}));
  EXPECT_EQ(c.find("zzz"), nullptr);
  EXPECT_EQ(c.dir(), d.str());
  expect_error([&] { c.get("zzz"); }, {"missing tensor zzz in " + d.str()});
}

// Copied into huge pages or mapped, a checkpoint's tensors hold the same bytes; kAuto copies
// a small checkpoint (it takes far less than half of the available memory).
TEST(FormatCheckpoint, ResidencyKeepsTheBytes) {
  TempDir d;
  write_f32(d / "a.safetensors", {{"x", {1, 2, 3}}});
  write_f32(d / "b.safetensors", {{"y", {4, 5}}});
  const Checkpoint mapped(d.str()), copied(d.str(), ResidencyPolicy::kCopied), automatic(d.str(), ResidencyPolicy::kAuto);
  EXPECT_EQ(mapped.residency(), Residency::kMapped);
  EXPECT_EQ(copied.residency(), Residency::kCopied);
  EXPECT_EQ(automatic.residency(), Residency::kCopied);
  for (const char* name : {"x", "y"}) {
    EXPECT_EQ(to_f32_vector(copied.get(name)), to_f32_vector(mapped.get(name))) << name;
    EXPECT_NE(copied.get(name).data, mapped.get(name).data) << name;
  }
}

TEST(FormatCheckpoint, AllSafetensorsInFolderWithoutIndex) {
  TempDir d;
  write_f32(d / "b.safetensors", {{"y", {2}}});
  write_f32(d / "a.safetensors", {{"x", {1}}});
  write_bytes(d / "notes.txt", "ignored");
  write_bytes(d / "config.json", "{}");
  Checkpoint c(d.str());
  EXPECT_EQ(c.names(), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(element_as_f32(c.get("y"), 0), 2.0f);
}

TEST(FormatCheckpoint, DuplicateNameAcrossFiles) {
  TempDir d;
  write_f32(d / "a.safetensors", {{"x", {1}}});
  write_f32(d / "b.safetensors", {{"x", {2}}});
  expect_error([&] { Checkpoint c(d.str()); }, {"tensor x", "a.safetensors", "b.safetensors"});
}

TEST(FormatCheckpoint, MissingDirectory) {
  TempDir d;
  const std::string dir = d / "nope";
  expect_error([&] { Checkpoint c(dir); }, {"model directory " + dir + " does not exist"});
  write_bytes(d / "file", "x");
  expect_error([&] { Checkpoint c(d / "file"); }, {"not a directory"});
}

TEST(FormatCheckpoint, FolderWithoutSafetensors) {
  TempDir d;
  write_bytes(d / "config.json", "{}");
  expect_error([&] { Checkpoint c(d.str()); }, {"no .safetensors files", d.str()});
}

TEST(FormatCheckpoint, CorruptShardErrorNamesFile) {
  TempDir d;
  write_f32(d / "a.safetensors", {{"x", {1}}});
  write_bytes(d / "b.safetensors", "xyz");
  expect_error([&] { Checkpoint c(d.str()); }, {d / "b.safetensors"});
}

void write_index(const TempDir& d, const std::string& weight_map_json) {
  write_bytes(d / "model.safetensors.index.json",
              "{\"metadata\": {\"total_size\": 16}, \"weight_map\": " + weight_map_json + "}");
}

TEST(FormatCheckpoint, ShardedWithIndex) {
  TempDir d;
  write_f32(d / "model-00001-of-00002.safetensors", {{"a", {1}}, {"b", {2}}});
  write_f32(d / "model-00002-of-00002.safetensors", {{"c", {3}}});
  write_f32(d / "unrelated.safetensors", {{"a", {9}}});  // not in the index: never opened
  write_index(d, R"({"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
                     "c": "model-00002-of-00002.safetensors"})");
  Checkpoint c(d.str());
  EXPECT_EQ(c.names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(element_as_f32(c.get("a"), 0), 1.0f);
  EXPECT_EQ(element_as_f32(c.get("c"), 0), 3.0f);
}

TEST(FormatCheckpoint, IndexShardFileMissing) {
  TempDir d;
  write_f32(d / "s1.safetensors", {{"a", {1}}});
  write_index(d, R"({"a": "s1.safetensors", "b": "s2.safetensors"})");
  expect_error([&] { Checkpoint c(d.str()); }, {"model.safetensors.index.json", "shard s2.safetensors", "tensor b", "does not exist"});
}

TEST(FormatCheckpoint, IndexTensorAbsentFromShard) {
  TempDir d;
  write_f32(d / "s1.safetensors", {{"a", {1}}});
  write_index(d, R"({"a": "s1.safetensors", "b": "s1.safetensors"})");
  expect_error([&] { Checkpoint c(d.str()); }, {"tensor b", "s1.safetensors", "missing"});
}

TEST(FormatCheckpoint, IndexTensorInDifferentShard) {
  TempDir d;
  write_f32(d / "s1.safetensors", {{"a", {1}}});
  write_f32(d / "s2.safetensors", {{"b", {2}}});
  write_index(d, R"({"a": "s2.safetensors", "b": "s2.safetensors", "c": "s1.safetensors"})");
  expect_error([&] { Checkpoint c(d.str()); }, {"tensor a", "listed in shard s2.safetensors", "stored in s1.safetensors"});
}

TEST(FormatCheckpoint, IndexOmitsTensorPresentInShard) {
  TempDir d;
  write_f32(d / "s1.safetensors", {{"a", {1}}, {"extra", {2}}});
  write_index(d, R"({"a": "s1.safetensors"})");
  expect_error([&] { Checkpoint c(d.str()); }, {"tensor extra", "not listed"});
}

TEST(FormatCheckpoint, IndexDuplicateAcrossShards) {
  TempDir d;
  write_f32(d / "s1.safetensors", {{"a", {1}}});
  write_f32(d / "s2.safetensors", {{"a", {2}}, {"b", {3}}});
  write_index(d, R"({"a": "s1.safetensors", "b": "s2.safetensors"})");
  expect_error([&] { Checkpoint c(d.str()); }, {"tensor a", "s1.safetensors", "s2.safetensors"});
}

TEST(FormatCheckpoint, IndexMalformed) {
  TempDir d;
  write_f32(d / "s1.safetensors", {{"a", {1}}});
  write_bytes(d / "model.safetensors.index.json", "{\"weight_map\": ");
  expect_error([&] { Checkpoint c(d.str()); }, {"model.safetensors.index.json", "not valid JSON"});
  write_bytes(d / "model.safetensors.index.json", "{\"metadata\": {}}");
  expect_error([&] { Checkpoint c(d.str()); }, {"missing weight_map"});
  write_index(d, R"(["s1.safetensors"])");
  expect_error([&] { Checkpoint c(d.str()); }, {"weight_map must be an object"});
  write_index(d, R"({"a": 1})");
  expect_error([&] { Checkpoint c(d.str()); }, {"weight_map entry for a", "string"});
  write_index(d, R"({"a": "../s1.safetensors"})");
  expect_error([&] { Checkpoint c(d.str()); }, {"invalid shard file ../s1.safetensors"});
  write_index(d, R"({})");
  expect_error([&] { Checkpoint c(d.str()); }, {"lists no tensors"});
}

}  // namespace
}  // namespace dsv3
