// The safetensors header, parsed and validated without LibTorch, so that the parser of these untrusted bytes
// can be fuzzed and sanitized on its own (tests/fuzz). core/safetensors.h turns the entries into tensors.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace adapterbias {

// The dtypes this reader accepts, with their element sizes: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL.
// Any other dtype name (F8_E4M3, U16, ...) is a FormatError.
size_t safetensors_element_size(std::string_view dtype);

struct SafetensorsEntry {
  std::string name;
  std::string dtype;           // one of the names above
  std::vector<int64_t> shape;  // non-negative; the element count fits in size_t
  size_t begin = 0, end = 0;   // byte offsets into the data section
};

struct SafetensorsHeader {
  size_t header_bytes = 0;                      // N, the JSON's length; the data section starts at 8 + N
  size_t data_bytes = 0;                        // the file's size after the header
  std::vector<SafetensorsEntry> entries;        // sorted by name
  std::map<std::string, std::string> metadata;  // "__metadata__"
};

// The largest header accepted (as the reference implementation: 100 MB).
inline constexpr size_t kMaxSafetensorsHeaderBytes = size_t{100} << 20;

// Parses the header at the start of `file_bytes` (the whole file; only the header is read) and checks it
// against the format: the header fits the file, dtypes are known, each tensor's offsets hold exactly its
// dtype and shape (no overflowing shape products), and the tensors cover the data section exactly, without
// overlaps, holes or trailing bytes. FormatError naming `file` and the offending tensor otherwise.
SafetensorsHeader parse_safetensors_header(std::string_view file_bytes, const std::string& file);

}  // namespace adapterbias
