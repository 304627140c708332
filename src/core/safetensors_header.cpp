#include "core/safetensors_header.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace adapterbias {
namespace {

struct DtypeSize {
  std::string_view name;
  size_t bytes;
};
constexpr DtypeSize kDtypes[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
                                 {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1}};

// a * b, or false when it does not fit in size_t.
bool multiply(size_t a, size_t b, size_t& out) {
  if (a != 0 && b > std::numeric_limits<size_t>::max() / a) return false;
  out = a * b;
  return true;
}

}  // namespace

size_t safetensors_element_size(std::string_view dtype) {
  for (const auto& d : kDtypes)
    if (d.name == dtype) return d.bytes;
  return 0;
}

SafetensorsHeader parse_safetensors_header(std::string_view file_bytes, const std::string& file) {
  if (file_bytes.size() < 8)
    throw FormatError(fmt::format("{}: truncated: {} bytes, too short for a safetensors header", file, file_bytes.size()));
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | static_cast<unsigned char>(file_bytes[i]);
  if (header_size > file_bytes.size() - 8)
    throw FormatError(fmt::format("{}: truncated: header claims {} bytes but the file has {} after the length", file,
                                  header_size, file_bytes.size() - 8));
  if (header_size > kMaxSafetensorsHeaderBytes)
    throw FormatError(fmt::format("{}: header of {} bytes is larger than the {} accepted", file, header_size,
                                  kMaxSafetensorsHeaderBytes));

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(file_bytes.substr(8, header_size));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(fmt::format("{}: header is not valid JSON: {}", file, e.what()));
  }
  if (!header.is_object()) throw FormatError(fmt::format("{}: header is not a JSON object", file));

  SafetensorsHeader result;
  result.header_bytes = header_size;
  result.data_bytes = file_bytes.size() - 8 - header_size;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) throw FormatError(fmt::format("{}: __metadata__ is not an object", file));
      for (const auto& [key, text] : value.items()) {
        if (!text.is_string()) throw FormatError(fmt::format("{}: __metadata__.{} is not a string", file, key));
        result.metadata[key] = text.get<std::string>();
      }
      continue;
    }
    const std::string where = fmt::format("{}: tensor '{}'", file, name);
    if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") || !value.contains("data_offsets"))
      throw FormatError(fmt::format("{}: needs dtype, shape and data_offsets", where));
    SafetensorsEntry entry;
    entry.name = name;
    try {
      entry.dtype = value.at("dtype").get<std::string>();
      entry.shape = value.at("shape").get<std::vector<int64_t>>();
      const auto offsets = value.at("data_offsets").get<std::vector<uint64_t>>();
      if (offsets.size() != 2) throw FormatError(fmt::format("{}: data_offsets must have 2 entries", where));
      entry.begin = offsets[0];
      entry.end = offsets[1];
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(fmt::format("{}: malformed entry: {}", where, e.what()));
    }
    const size_t element = safetensors_element_size(entry.dtype);
    if (element == 0)
      throw FormatError(fmt::format("{}: unsupported dtype '{}' (this reader takes F64, F32, F16, BF16, I64, I32, "
                                    "I16, I8, U8, BOOL)", where, entry.dtype));
    size_t expected = element;
    for (const int64_t d : entry.shape) {
      if (d < 0) throw FormatError(fmt::format("{}: negative dimension in shape", where));
      if (!multiply(expected, static_cast<size_t>(d), expected))
        throw FormatError(fmt::format("{}: shape's byte size overflows", where));
    }
    if (entry.end < entry.begin || entry.end - entry.begin != expected)
      throw FormatError(fmt::format("{}: data_offsets [{}, {}) hold {} bytes but dtype and shape need {}", where,
                                    entry.begin, entry.end, entry.end - entry.begin, expected));
    if (entry.end > result.data_bytes)
      throw FormatError(fmt::format("{}: truncated: data ends at byte {} but the file holds {} data bytes", where,
                                    entry.end, result.data_bytes));
    result.entries.push_back(std::move(entry));
  }
  // The tensors tile the data section: no overlaps, no holes, nothing after the last one.
  std::vector<std::pair<size_t, size_t>> spans;
  for (const auto& e : result.entries)
    if (e.end > e.begin) spans.emplace_back(e.begin, e.end);
  std::sort(spans.begin(), spans.end());
  size_t covered = 0;
  for (const auto& [begin, end] : spans) {
    if (begin < covered)
      throw FormatError(fmt::format("{}: tensors overlap at data bytes [{}, {})", file, begin, covered));
    if (begin > covered)
      throw FormatError(fmt::format("{}: data bytes [{}, {}) belong to no tensor", file, covered, begin));
    covered = end;
  }
  if (covered != result.data_bytes)
    throw FormatError(fmt::format("{}: {} trailing bytes after the last tensor's data", file,
                                  result.data_bytes - covered));
  return result;
}

}  // namespace adapterbias
