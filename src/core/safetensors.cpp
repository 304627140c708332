#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "core/io.h"

namespace adapterbias {
namespace {

struct DtypeName {
  const char* name;
  at::ScalarType type;
};
constexpr DtypeName kDtypes[] = {
    {"F64", at::kDouble}, {"F32", at::kFloat}, {"F16", at::kHalf}, {"BF16", at::kBFloat16}, {"I64", at::kLong},
    {"I32", at::kInt},    {"I16", at::kShort}, {"I8", at::kChar},  {"U8", at::kByte},       {"BOOL", at::kBool},
};

at::ScalarType dtype_from_name(const std::string& name, const std::string& where) {
  for (const auto& d : kDtypes)
    if (name == d.name) return d.type;
  throw FormatError(fmt::format("{}: unsupported dtype '{}'", where, name));
}

const char* dtype_name(at::ScalarType type) {
  for (const auto& d : kDtypes)
    if (type == d.type) return d.name;
  throw InputError(fmt::format("safetensors: cannot store dtype {}", c10::toString(type)));
}

}  // namespace

struct SafetensorsFile::Mapping {
  void* base = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (base != nullptr && size > 0) ::munmap(base, size);
  }
};

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  const std::string file = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw InputError(fmt::format("{}: cannot open: {}", file, std::strerror(errno)));
  struct stat st {};
  ::fstat(fd, &st);
  auto mapping = std::make_shared<Mapping>();
  mapping->size = static_cast<size_t>(st.st_size);
  if (mapping->size < 8) {
    ::close(fd);
    throw FormatError(fmt::format("{}: truncated: {} bytes, too short for a safetensors header", file, mapping->size));
  }
  mapping->base = ::mmap(nullptr, mapping->size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (mapping->base == MAP_FAILED) {
    mapping->base = nullptr;
    throw InputError(fmt::format("{}: cannot map: {}", file, std::strerror(errno)));
  }
  const auto* bytes = static_cast<const unsigned char*>(mapping->base);
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | bytes[i];
  if (header_size > mapping->size - 8)
    throw FormatError(fmt::format("{}: truncated: header claims {} bytes but the file has {} after the length",
                                  file, header_size, mapping->size - 8));

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + 8, bytes + 8 + header_size);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(fmt::format("{}: header is not valid JSON: {}", file, e.what()));
  }
  if (!header.is_object()) throw FormatError(fmt::format("{}: header is not a JSON object", file));

  SafetensorsFile result;
  result.path_ = path;
  result.mapping_ = mapping;
  const size_t data_size = mapping->size - 8 - header_size;
  std::vector<std::pair<size_t, size_t>> spans;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) throw FormatError(fmt::format("{}: __metadata__ is not an object", file));
      for (const auto& [key, text] : value.items()) {
        if (!text.is_string()) throw FormatError(fmt::format("{}: __metadata__.{} is not a string", file, key));
        result.metadata_[key] = text.get<std::string>();
      }
      continue;
    }
    const std::string where = fmt::format("{}: tensor '{}'", file, name);
    if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") || !value.contains("data_offsets"))
      throw FormatError(fmt::format("{}: needs dtype, shape and data_offsets", where));
    Entry entry;
    try {
      entry.dtype = dtype_from_name(value.at("dtype").get<std::string>(), where);
      entry.shape = value.at("shape").get<std::vector<int64_t>>();
      const auto offsets = value.at("data_offsets").get<std::vector<uint64_t>>();
      if (offsets.size() != 2) throw FormatError(fmt::format("{}: data_offsets must have 2 entries", where));
      entry.begin = offsets[0];
      entry.end = offsets[1];
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(fmt::format("{}: malformed entry: {}", where, e.what()));
    }
    size_t numel = 1;
    for (const int64_t d : entry.shape) {
      if (d < 0) throw FormatError(fmt::format("{}: negative dimension in shape", where));
      numel *= static_cast<size_t>(d);
    }
    const size_t expected = numel * c10::elementSize(entry.dtype);
    if (entry.end < entry.begin || entry.end - entry.begin != expected)
      throw FormatError(fmt::format("{}: data_offsets [{}, {}) hold {} bytes but dtype and shape need {}", where,
                                    entry.begin, entry.end, entry.end - entry.begin, expected));
    if (entry.end > data_size)
      throw FormatError(fmt::format("{}: truncated: data ends at byte {} but the file holds {} data bytes", where,
                                    entry.end, data_size));
    spans.emplace_back(entry.begin, entry.end);
    result.names_.push_back(name);
    result.entries_.emplace(name, std::move(entry));
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i)
    if (spans[i].first < spans[i - 1].second)
      throw FormatError(fmt::format("{}: tensors overlap at data bytes [{}, {})", file, spans[i].first,
                                    spans[i - 1].second));
  return result;
}

std::vector<int64_t> SafetensorsFile::shape(const std::string& name) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) throw FormatError(fmt::format("{}: no tensor '{}'", path_.string(), name));
  return it->second.shape;
}

at::Tensor SafetensorsFile::get(const std::string& name) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) throw FormatError(fmt::format("{}: no tensor '{}'", path_.string(), name));
  const Entry& entry = it->second;
  const auto* bytes = static_cast<const unsigned char*>(mapping_->base);
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | bytes[i];
  void* data = const_cast<unsigned char*>(bytes + 8 + header_size + entry.begin);
  auto keep_alive = mapping_;
  const auto options = at::TensorOptions().dtype(entry.dtype);
  if (entry.begin == entry.end) return at::empty(entry.shape, options);
  return at::from_blob(data, entry.shape, [keep_alive](void*) {}, options);
}

void save_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> contiguous;
  size_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__" || header.contains(name))
      throw InputError(fmt::format("{}: duplicate or reserved tensor name '{}'", path.string(), name));
    at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    const size_t nbytes = t.numel() * t.element_size();
    header[name] = {{"dtype", dtype_name(t.scalar_type())},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    contiguous.push_back(std::move(t));
  }
  std::string header_text = header.dump();
  // Pad with spaces so that the data section starts 8-byte aligned, as the reference writer does.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + header_text.size() + offset);
  uint64_t n = header_text.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += header_text;
  for (const auto& t : contiguous) out.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  write_file_atomic(path, out);
}

}  // namespace adapterbias
