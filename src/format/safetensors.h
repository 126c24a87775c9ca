// Safetensors: strict, zero-copy reader (single file or sharded with
// model.safetensors.index.json) and an atomic writer.
// Format: u64 little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then data.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/residency_policy.h"
#include "core/tensor.h"

namespace dsv3 {

// One memory-mapped .safetensors file. Validation (each failure throws Error naming the
// file and, where relevant, the tensor): file shorter than 8 bytes; header length
// past the end of the file or absurdly large; header not JSON or not an object; entry
// missing dtype/shape/data_offsets or with wrong JSON types; unknown dtype; negative
// dims or element-count overflow; begin > end; offsets past the end of the data;
// overlapping tensors; numel × dtype size != end - begin (storage_bytes for I4); a
// tensor name given twice; __metadata__ that is not an object of strings.
// Views are zero-copy into the map; a tensor's data is only as aligned as the file makes it.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path, Residency residency = Residency::kMapped);
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return file_.path(); }

 private:
  MappedFile file_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All tensors of a model folder: model.safetensors.index.json (weight_map name -> shard)
// when present, else every *.safetensors file in the folder (sorted). Duplicate names
// across shards, index entries pointing at missing shards or tensors, a tensor stored in
// a different shard than the index says, and shard tensors the index omits are errors.
// `policy` decides whether the shards are mapped or copied into huge pages (kAuto: by their
// total size against the available memory, core/residency_policy.h).
class Checkpoint {
 public:
  explicit Checkpoint(const std::string& model_dir, ResidencyPolicy policy = ResidencyPolicy::kMapped);
  const TensorView* find(const std::string& name) const;  // nullptr when absent
  const TensorView& get(const std::string& name) const;   // throws "missing tensor NAME in DIR"
  std::vector<std::string> names() const;
  const std::string& dir() const { return dir_; }
  Residency residency() const { return residency_; }

 private:
  std::string dir_;
  Residency residency_ = Residency::kMapped;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView*> index_;
};

struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;
  size_t nbytes;
};

// Writes one .safetensors file atomically: PATH.tmp-<pid>, fsync, rename over PATH.
// Tensors are laid out in the given order, 8-byte aligned header as the format asks.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Writes text to PATH atomically (temp file + fsync + rename).
void write_file_atomic(const std::string& path, const std::string& contents);

}  // namespace dsv3
