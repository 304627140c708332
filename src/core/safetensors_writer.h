// Writes a safetensors file whose tensors are declared up front and filled piece by piece, so that outputs
// larger than memory (embeddings of a large file) stream to disk. The file appears atomically: the bytes go
// to a temporary file in the same folder, which commit() syncs and renames; without commit() (an error, an
// exception) the temporary file is removed. Torch-free: the bytes are given as raw little-endian data.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace adapterbias {

struct SafetensorsTensorSpec {
  std::string name;
  std::string dtype;  // F32, I64, ... (core/safetensors_header.h)
  std::vector<int64_t> shape;
};

class SafetensorsWriter {
 public:
  // Creates the temporary file with the header and room for every tensor (zero-filled until written).
  SafetensorsWriter(std::filesystem::path path, const std::vector<SafetensorsTensorSpec>& tensors,
                    const std::map<std::string, std::string>& metadata = {});
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  // Writes `bytes` at byte `offset` of tensor `name`'s data; InputError on a write failure, Error when the
  // range lies outside the tensor.
  void write(const std::string& name, size_t offset, std::string_view bytes);
  // Syncs and renames the file into place.
  void commit();

 private:
  void write_at(size_t position, std::string_view bytes);
  void abandon();  // closes and removes the temporary file

  struct Region {
    size_t begin, size;
  };
  std::filesystem::path path_, tmp_;
  int fd_ = -1;
  size_t data_start_ = 0;
  std::map<std::string, Region> regions_;
};

}  // namespace adapterbias
