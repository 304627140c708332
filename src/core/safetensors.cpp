#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "core/error.h"
#include "core/io.h"
#include "core/safetensors_header.h"
#include "core/safetensors_writer.h"

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

at::ScalarType dtype_from_name(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return d.type;
  throw Error(fmt::format("safetensors: dtype '{}' passed the header check but has no tensor type", name));
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
  check_readable(path);
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
  SafetensorsHeader header =
      parse_safetensors_header(std::string_view(static_cast<const char*>(mapping->base), mapping->size), file);
  SafetensorsFile result;
  result.path_ = path;
  result.mapping_ = mapping;
  result.data_start_ = 8 + header.header_bytes;
  result.metadata_ = std::move(header.metadata);
  for (auto& e : header.entries) {
    result.names_.push_back(e.name);
    result.entries_.emplace(e.name, Entry{dtype_from_name(e.dtype), std::move(e.shape), e.begin, e.end});
  }
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
  void* data = const_cast<unsigned char*>(bytes + data_start_ + entry.begin);
  auto keep_alive = mapping_;
  const auto options = at::TensorOptions().dtype(entry.dtype);
  if (entry.begin == entry.end) return at::empty(entry.shape, options);
  return at::from_blob(data, entry.shape, [keep_alive](void*) {}, options);
}

void save_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<SafetensorsTensorSpec> specs;
  std::vector<at::Tensor> contiguous;
  for (const auto& [name, tensor] : tensors) {
    contiguous.push_back(tensor.detach().to(at::kCPU).contiguous());
    specs.push_back({name, dtype_name(contiguous.back().scalar_type()), contiguous.back().sizes().vec()});
  }
  SafetensorsWriter writer(path, specs, metadata);
  for (size_t i = 0; i < specs.size(); ++i) {
    const at::Tensor& t = contiguous[i];
    writer.write(specs[i].name, 0, std::string_view(static_cast<const char*>(t.data_ptr()), t.nbytes()));
  }
  writer.commit();
}

}  // namespace adapterbias
