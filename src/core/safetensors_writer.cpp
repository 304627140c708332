#include "core/safetensors_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/safetensors_header.h"

namespace adapterbias {

SafetensorsWriter::SafetensorsWriter(std::filesystem::path path, const std::vector<SafetensorsTensorSpec>& tensors,
                                     const std::map<std::string, std::string>& metadata)
    : path_(std::move(path)) {
  if (std::filesystem::is_directory(path_))
    throw InputError(fmt::format("{}: is a folder, expected a file name to write", path_.string()));
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name == "__metadata__" || regions_.count(t.name))
      throw InputError(fmt::format("{}: duplicate or reserved tensor name '{}'", path_.string(), t.name));
    size_t bytes = safetensors_element_size(t.dtype);
    if (bytes == 0) throw InputError(fmt::format("safetensors: cannot store dtype {}", t.dtype));
    for (const int64_t d : t.shape) bytes *= static_cast<size_t>(d);
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    regions_[t.name] = {offset, bytes};
    offset += bytes;
  }
  std::string text = header.dump();
  // Pad with spaces so that the data section starts 8-byte aligned, as the reference writer does.
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>((uint64_t{text.size()} >> (8 * i)) & 0xff);
  prefix += text;
  data_start_ = prefix.size();

  const auto parent = path_.has_parent_path() ? path_.parent_path() : std::filesystem::path(".");
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) throw InputError(fmt::format("{}: cannot create the folder: {}", parent.string(), ec.message()));
  tmp_ = parent / fmt::format(".{}.tmp{}", path_.filename().string(), std::random_device{}());
  fd_ = ::open(tmp_.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd_ < 0) throw InputError(fmt::format("{}: cannot create: {}", tmp_.string(), std::strerror(errno)));
  try {
    if (::ftruncate(fd_, static_cast<off_t>(data_start_ + offset)) != 0)
      throw InputError(fmt::format("{}: cannot reserve {} bytes: {}", path_.string(), data_start_ + offset,
                                   std::strerror(errno)));
    write_at(0, prefix);
  } catch (...) {
    abandon();  // the destructor does not run for a constructor that throws
    throw;
  }
}

SafetensorsWriter::~SafetensorsWriter() { abandon(); }

void SafetensorsWriter::abandon() {
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
  std::error_code ec;
  std::filesystem::remove(tmp_, ec);
}

void SafetensorsWriter::write(const std::string& name, size_t offset, std::string_view bytes) {
  const auto it = regions_.find(name);
  if (it == regions_.end() || offset > it->second.size || bytes.size() > it->second.size - offset)
    throw Error(fmt::format("{}: writing {} bytes at {} of tensor '{}' outside its data", path_.string(), bytes.size(),
                            offset, name));
  write_at(data_start_ + it->second.begin + offset, bytes);
}

void SafetensorsWriter::write_at(size_t position, std::string_view bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(position + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw InputError(fmt::format("{}: write failed: {}", path_.string(), std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
}

void SafetensorsWriter::commit() {
  if (::fsync(fd_) != 0) throw InputError(fmt::format("{}: fsync failed: {}", path_.string(), std::strerror(errno)));
  const int closed = ::close(fd_);
  fd_ = -1;
  std::error_code ec;
  if (closed != 0 || ::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::filesystem::remove(tmp_, ec);
    throw InputError(fmt::format("{}: cannot write: {}", path_.string(), reason));
  }
}

}  // namespace adapterbias
