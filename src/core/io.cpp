#include "core/io.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace adapterbias {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open: {}", path.string(), std::strerror(errno)));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return std::move(buffer).str();
}

void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
  const auto parent = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::filesystem::create_directories(parent);
  const auto tmp = parent / fmt::format(".{}.tmp{}", path.filename().string(), std::random_device{}());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw InputError(fmt::format("{}: cannot create: {}", tmp.string(), std::strerror(errno)));
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string reason = std::strerror(errno);
      ::close(fd);
      std::filesystem::remove(tmp);
      throw InputError(fmt::format("{}: write failed: {}", path.string(), reason));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    std::filesystem::remove(tmp);
    throw InputError(fmt::format("{}: fsync/close failed: {}", path.string(), std::strerror(errno)));
  }
  std::filesystem::rename(tmp, path);
}

LineReader::LineReader(const std::filesystem::path& path) : path_(path) {
  if (!std::filesystem::is_regular_file(path)) throw InputError(fmt::format("{}: no such file", path.string()));
  file_ = gzopen(path.c_str(), "rb");
  if (file_ == nullptr) throw InputError(fmt::format("{}: cannot open: {}", path.string(), std::strerror(errno)));
  gzbuffer(static_cast<gzFile>(file_), 1 << 18);
}

LineReader::~LineReader() {
  if (file_ != nullptr) gzclose(static_cast<gzFile>(file_));
}

bool LineReader::next(std::string& line) {
  line.clear();
  auto* gz = static_cast<gzFile>(file_);
  char chunk[8192];
  bool any = false;
  while (gzgets(gz, chunk, sizeof(chunk)) != nullptr) {
    any = true;
    const size_t n = std::strlen(chunk);
    line.append(chunk, n);
    if (n > 0 && chunk[n - 1] == '\n') break;
  }
  if (!any) {
    int err = Z_OK;
    const char* message = gzerror(gz, &err);
    if (err != Z_OK && err != Z_STREAM_END)
      throw FormatError(fmt::format("{}: read error after line {}: {}", path_.string(), line_number_, message));
    return false;
  }
  if (!line.empty() && line.back() == '\n') line.pop_back();
  if (!line.empty() && line.back() == '\r') line.pop_back();
  ++line_number_;
  return true;
}

std::string checked_file_name(std::string_view name, std::string_view what) {
  const auto refuse = [&](std::string_view why) {
    const std::string quoted =
        nlohmann::json(std::string(name)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return InputError(fmt::format("{} {} cannot name a file: {}", what, quoted, why));
  };
  if (name.empty() || name == "." || name == "..") throw refuse("it is empty, '.' or '..'");
  if (name.size() > 255) throw refuse("longer than 255 bytes");
  for (const char c : name) {
    if (c == '/' || c == '\\') throw refuse("it contains a path separator");
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) throw refuse("it contains a control character");
  }
  return std::string(name);
}

std::string where(const std::filesystem::path& path, int64_t line) { return fmt::format("{}:{}", path.string(), line); }

}  // namespace adapterbias
