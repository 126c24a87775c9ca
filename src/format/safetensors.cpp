// Safetensors reader/writer. The reader trusts nothing in the file: every header field is
// type-checked and every byte range is proven to lie inside the mapping before a TensorView
// is handed out, so a corrupt or hostile checkpoint yields one Error line, never a crash.
#include "format/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "format/atomic_write.h"
#include "format/json_type.h"

namespace dsv3 {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;  // same cap as the Rust reference
constexpr const char* kIndexName = "model.safetensors.index.json";

// Names come from untrusted files: keep error messages on one printable line.
std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += char(c);
    }
  }
  if (out.size() > 200) out = out.substr(0, 200) + "...";
  return out;
}

// Reads a JSON integer as int64; `what` is the message prefix naming file/tensor/field.
int64_t as_i64(const json& j, const std::string& what) {
  if (j.is_number_unsigned()) {
    uint64_t v = j.get<uint64_t>();
    if (v > uint64_t(std::numeric_limits<int64_t>::max())) fail(what, " value ", v, " is too large");
    return int64_t(v);
  }
  if (j.is_number_integer()) return j.get<int64_t>();
  fail(what, " must be an integer, got ", json_type(j));
}

uint64_t read_u64_le(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | uint64_t(p[i]);
  return v;
}

void put_u64_le(uint64_t v, unsigned char* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<unsigned char>(v >> (8 * i));
}

// Parses `text` as a JSON object, reporting duplicate top-level keys (which a plain parse
// would silently merge) through `dup`. Throws Error prefixed with `where` when not JSON.
json parse_json_object(const char* begin, const char* end, const std::string& where, std::string* dup) {
  std::set<std::string> seen;
  auto cb = [&](int depth, json::parse_event_t ev, json& parsed) {
    if (ev == json::parse_event_t::key && depth == 1 && dup && dup->empty()) {
      const std::string& k = parsed.get_ref<const std::string&>();
      if (!seen.insert(k).second) *dup = k;
    }
    return true;
  };
  json j;
  try {
    j = json::parse(begin, end, cb);
  } catch (const json::parse_error& e) {
    fail(where, " is not valid JSON (error at byte ", e.byte, ")");
  }
  if (!j.is_object()) fail(where, " is not a JSON object (got ", j.type_name(), ")");
  return j;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// SafetensorsFile

SafetensorsFile::SafetensorsFile(const std::string& path, Residency residency) : file_(path, residency) {
  const std::string& p = file_.path();
  const size_t size = file_.size();
  if (size < 8) fail(p, ": file is ", size, " bytes, too short for a safetensors header");
  const uint64_t n = read_u64_le(file_.data());
  if (n > kMaxHeaderBytes) fail(p, ": header length ", n, " exceeds the 100 MB limit");
  if (n > size - 8) fail(p, ": header length ", n, " runs past the end of the file (", size, " bytes)");

  const char* hb = reinterpret_cast<const char*>(file_.data() + 8);
  std::string dup;
  json header = parse_json_object(hb, hb + n, p + ": header", &dup);
  if (!dup.empty()) fail(p, ": duplicate tensor name ", printable(dup), " in header");

  const std::byte* data = file_.data() + 8 + n;
  const uint64_t data_size = size - 8 - n;

  struct Range {
    uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Range> ranges;

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& e = it.value();
    if (name == "__metadata__") {
      if (!e.is_object()) fail(p, ": __metadata__ must be an object of strings, got ", json_type(e));
      for (auto m = e.begin(); m != e.end(); ++m) {
        if (!m.value().is_string())
          fail(p, ": __metadata__ value for key ", printable(m.key()), " must be a string, got ",
               json_type(m.value()));
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string what = p + ": tensor " + printable(name);
    if (!e.is_object()) fail(what, ": entry must be an object, got ", json_type(e));
    for (const char* key : {"dtype", "shape", "data_offsets"})
      if (!e.contains(key)) fail(what, ": missing ", key);
    const json& jd = e["dtype"];
    const json& js = e["shape"];
    const json& jo = e["data_offsets"];
    if (!jd.is_string()) fail(what, ": dtype must be a string, got ", json_type(jd));
    if (!js.is_array()) fail(what, ": shape must be an array, got ", json_type(js));
    if (!jo.is_array() || jo.size() != 2)
      fail(what, ": data_offsets must be an array of two integers");

    TensorView v;
    v.name = name;
    const std::string dname = jd.get<std::string>();
    if (!parse_dtype(dname, &v.dtype)) fail(what, ": unknown dtype ", printable(dname));

    int64_t numel = 1;
    for (size_t i = 0; i < js.size(); ++i) {
      int64_t d = as_i64(js[i], what + ": shape[" + std::to_string(i) + "]");
      if (d < 0) fail(what, ": negative dimension ", d, " in shape");
      if (__builtin_mul_overflow(numel, d, &numel)) fail(what, ": shape element count overflows");
      v.shape.push_back(d);
    }
    int64_t b = as_i64(jo[0], what + ": data_offsets[0]");
    int64_t en = as_i64(jo[1], what + ": data_offsets[1]");
    if (b < 0 || en < 0) fail(what, ": negative data_offsets [", b, ", ", en, "]");
    if (b > en) fail(what, ": data_offsets begin ", b, " > end ", en);
    if (uint64_t(en) > data_size)
      fail(what, ": data_offsets [", b, ", ", en, "] run past the end of the data (", data_size,
           " bytes); file truncated?");
    uint64_t need;
    if (v.dtype == DType::I4) {
      need = (uint64_t(numel) + 1) / 2;
    } else if (__builtin_mul_overflow(uint64_t(numel), uint64_t(dtype_size(v.dtype)), &need)) {
      fail(what, ": byte size overflows");
    }
    if (need != uint64_t(en - b))
      fail(what, ": shape ", v.shape_str(), " of ", dname, " needs ", need, " bytes but data_offsets span ",
           en - b);
    v.data = data + b;
    v.nbytes = size_t(en - b);
    auto [pos, inserted] = tensors_.emplace(name, std::move(v));
    ranges.push_back({uint64_t(b), uint64_t(en), &pos->first});
  }

  // Two non-empty tensors may never share bytes (a writer bug that would alias weights).
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  const Range* prev = nullptr;
  for (const Range& r : ranges) {
    if (r.begin == r.end) continue;
    if (prev && r.begin < prev->end)
      fail(p, ": tensors ", printable(*prev->name), " [", prev->begin, ", ", prev->end, ") and ",
           printable(*r.name), " [", r.begin, ", ", r.end, ") overlap");
    prev = &r;
  }
}

// ---------------------------------------------------------------------------------------
// Checkpoint

Checkpoint::Checkpoint(const std::string& model_dir, ResidencyPolicy policy) : dir_(model_dir) {
  std::error_code ec;
  if (!fs::exists(dir_, ec)) fail("model directory ", dir_, " does not exist");
  if (!fs::is_directory(dir_, ec)) fail("model directory ", dir_, " is not a directory");
  const fs::path dir(dir_);
  const fs::path index_path = dir / kIndexName;

  // name -> (shard file name) from the index, when there is one.
  std::map<std::string, std::string> weight_map;
  std::vector<std::string> shard_names;
  const bool indexed = fs::exists(index_path, ec);
  if (indexed) {
    MappedFile f(index_path.string());
    const char* b = reinterpret_cast<const char*>(f.data());
    const std::string where = index_path.string();
    json idx = parse_json_object(b, b + f.size(), where, nullptr);
    if (!idx.contains("weight_map")) fail(where, ": missing weight_map");
    const json& wm = idx["weight_map"];
    if (!wm.is_object()) fail(where, ": weight_map must be an object, got ", json_type(wm));
    if (wm.empty()) fail(where, ": weight_map lists no tensors");
    std::set<std::string> shards;
    for (auto it = wm.begin(); it != wm.end(); ++it) {
      if (!it.value().is_string())
        fail(where, ": weight_map entry for ", printable(it.key()), " must be a string, got ",
             json_type(it.value()));
      std::string shard = it.value().get<std::string>();
      // Shards live in the model folder itself; refuse paths that would escape it.
      if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..")
        fail(where, ": weight_map entry for ", printable(it.key()), " names invalid shard file ",
             printable(shard));
      weight_map[it.key()] = shard;
      if (shards.insert(shard).second && !fs::is_regular_file(dir / shard, ec))
        fail(where, ": shard ", printable(shard), " listed for tensor ", printable(it.key()),
             " does not exist in ", dir_);
    }
    shard_names.assign(shards.begin(), shards.end());
  } else {
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string fname = entry.path().filename().string();
      if (fname.size() > 12 && fname.ends_with(".safetensors") && entry.is_regular_file(ec))
        shard_names.push_back(fname);
    }
    if (ec) fail("cannot list model directory ", dir_, ": ", ec.message());
    std::sort(shard_names.begin(), shard_names.end());
    if (shard_names.empty()) fail("no .safetensors files in model directory ", dir_);
  }

  uint64_t total_bytes = 0;
  for (const std::string& shard : shard_names)
    if (const uintmax_t n = fs::file_size(dir / shard, ec); !ec) total_bytes += n;
  residency_ = resolve_residency(policy, total_bytes,
                                 policy == ResidencyPolicy::kAuto ? available_memory_bytes() : 0);

  std::map<std::string, std::string> owner;  // tensor name -> shard file name
  for (const std::string& shard : shard_names) {
    files_.push_back(std::make_unique<SafetensorsFile>((dir / shard).string(), residency_));
    for (const auto& [name, view] : files_.back()->tensors()) {
      auto [it, inserted] = owner.emplace(name, shard);
      if (!inserted)
        fail("tensor ", printable(name), " appears in both ", it->second, " and ", shard, " in ", dir_);
      index_[name] = &view;
    }
  }

  if (indexed) {
    const std::string where = index_path.string();
    for (const auto& [name, shard] : weight_map) {
      auto it = owner.find(name);
      if (it == owner.end())
        fail(where, ": tensor ", printable(name), " is listed in shard ", shard, " but missing from it");
      if (it->second != shard)
        fail(where, ": tensor ", printable(name), " is listed in shard ", shard, " but stored in ", it->second);
    }
    for (const auto& [name, shard] : owner)
      if (!weight_map.count(name))
        fail(where, ": tensor ", printable(name), " in shard ", shard, " is not listed in the index");
  }
}

const TensorView* Checkpoint::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

const TensorView& Checkpoint::get(const std::string& name) const {
  const TensorView* t = find(name);
  if (!t) fail("missing tensor ", printable(name), " in ", dir_);
  return *t;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& kv : index_) out.push_back(kv.first);
  return out;
}

// ---------------------------------------------------------------------------------------
// Writer

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // ordered_json keeps the header in the caller's order, which is also the data order.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    auto& m = header["__metadata__"];
    m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
  }
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    const std::string what = "cannot write " + path + ": tensor " + printable(t.name);
    if (t.name.empty() || t.name == "__metadata__") fail("cannot write ", path, ": invalid tensor name '", printable(t.name), "'");
    if (!seen.insert(t.name).second) fail(what, " given twice");
    int64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0) fail(what, ": negative dimension ", d);
      if (__builtin_mul_overflow(numel, d, &numel)) fail(what, ": element count overflows");
    }
    const size_t need = storage_bytes(t.dtype, numel);
    if (t.nbytes != need)
      fail(what, ": ", t.nbytes, " bytes given, shape and dtype ", dtype_name(t.dtype), " need ", need);
    if (need > 0 && !t.data) fail(what, ": null data");
    auto& e = header[t.name];
    e["dtype"] = std::string(dtype_name(t.dtype));
    e["shape"] = t.shape;
    e["data_offsets"] = {offset, offset + need};
    offset += need;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    fail("cannot write ", path, ": tensor names and metadata must be valid UTF-8");
  }
  // Pad with spaces so the data section starts 8-byte aligned (8 + N ≡ 0 mod 8).
  text.append((8 - text.size() % 8) % 8, ' ');
  unsigned char len[8];
  put_u64_le(text.size(), len);

  std::vector<ByteSpan> parts;
  parts.reserve(tensors.size() + 2);
  parts.push_back({len, 8});
  parts.push_back({text.data(), text.size()});
  for (const TensorToWrite& t : tensors) parts.push_back({t.data, t.nbytes});
  write_parts_atomic(path, parts);
}

}  // namespace dsv3
