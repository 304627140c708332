// The safetensors format, read and written by hand because no C++ library for it is packaged here:
// 8-byte little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end)},
// "__metadata__": {str: str}}, then the raw little-endian tensor bytes. Reading memory-maps the file.
#pragma once
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace adapterbias {

class SafetensorsFile {
 public:
  // Opens and validates the whole header (core/safetensors_header.h: dtypes, shapes, offsets that tile the
  // data section); throws FormatError naming the file and the offending tensor.
  static SafetensorsFile open(const std::filesystem::path& path);

  const std::vector<std::string>& names() const { return names_; }
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::filesystem::path& path() const { return path_; }
  // The tensor as stored (dtype and shape of the file), a view into the mapping that keeps it alive.
  at::Tensor get(const std::string& name) const;
  std::vector<int64_t> shape(const std::string& name) const;

 private:
  struct Entry {
    at::ScalarType dtype;
    std::vector<int64_t> shape;
    size_t begin;  // byte offsets into the data section
    size_t end;
  };
  struct Mapping;
  std::filesystem::path path_;
  std::shared_ptr<Mapping> mapping_;
  size_t data_start_ = 0;  // 8 + the header's length
  std::vector<std::string> names_;  // sorted by name
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

// Writes named tensors (any device; saved contiguous, on CPU, in their dtype) and string metadata
// atomically. Tensor names keep the given order in the data section.
void save_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace adapterbias
