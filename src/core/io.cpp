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

std::string unreadable_reason(const std::filesystem::path& path) {
  if (path == kStdin) return "";
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec == std::errc::too_many_symbolic_link_levels) return "a symlink loop (too many levels of symbolic links)";
  if (ec == std::errc::permission_denied) return "permission denied";
  if (ec || !std::filesystem::exists(status)) {
    if (std::filesystem::is_symlink(std::filesystem::symlink_status(path, ec))) return "a symlink to nothing";
    return "no such file";
  }
  if (std::filesystem::is_directory(status)) return "is a folder, expected a file";
  return "";
}

void check_readable(const std::filesystem::path& path) {
  if (const std::string why = unreadable_reason(path); !why.empty())
    throw InputError(fmt::format("{}: cannot read: {}", path.string(), why));
}

std::string read_file(const std::filesystem::path& path) {
  check_readable(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open: {}", path.string(), std::strerror(errno)));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return std::move(buffer).str();
}

void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
  if (std::filesystem::is_directory(path))
    throw InputError(fmt::format("{}: is a folder, expected a file name to write", path.string()));
  const auto parent = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) throw InputError(fmt::format("{}: cannot create the folder: {}", parent.string(), ec.message()));
  const auto tmp = parent / fmt::format(".{}.tmp{}", path.filename().string(), std::random_device{}());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw InputError(fmt::format("{}: cannot create: {}", tmp.string(), std::strerror(errno)));
  const auto fail = [&](std::string_view what, int error) {
    ::close(fd);
    std::filesystem::remove(tmp, ec);
    return InputError(fmt::format("{}: {}: {}", path.string(), what, std::strerror(error)));
  };
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw fail("write failed", errno);
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) throw fail("fsync failed", errno);
  if (::close(fd) != 0) {
    const int error = errno;
    std::filesystem::remove(tmp, ec);
    throw InputError(fmt::format("{}: close failed: {}", path.string(), std::strerror(error)));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    std::filesystem::remove(tmp, ec);
    throw InputError(fmt::format("{}: cannot replace: {}", path.string(), std::strerror(error)));
  }
}

void check_output_file(const std::filesystem::path& path, const std::vector<std::filesystem::path>& inputs,
                       bool overwrite, std::string_view flag) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw InputError(fmt::format("{} {}: is a folder, expected a file name to write", flag, path.string()));
  if (!std::filesystem::exists(path, ec)) return;
  const auto is_input = [&](const std::filesystem::path& input) {
    if (input.empty() || input == kStdin) return false;
    if (std::filesystem::equivalent(path, input, ec)) return true;
    return std::filesystem::is_directory(input, ec) && std::filesystem::equivalent(path.parent_path(), input, ec);
  };
  for (const auto& input : inputs)
    if (is_input(input))
      throw InputError(fmt::format("{} {}: is an input of this command ({}); write the output somewhere else", flag,
                                   path.string(), input.string()));
  if (!overwrite)
    throw InputError(fmt::format("{} {}: exists; pass --overwrite to replace it", flag, path.string()));
}

LineReader::LineReader(const std::filesystem::path& path, size_t max_line_bytes)
    : path_(path), max_line_bytes_(max_line_bytes) {
  check_readable(path);
  file_ = path == kStdin ? gzdopen(::dup(STDIN_FILENO), "rb") : gzopen(path.c_str(), "rb");
  if (file_ == nullptr) throw InputError(fmt::format("{}: cannot open: {}", path.string(), std::strerror(errno)));
  gzbuffer(static_cast<gzFile>(file_), 1 << 18);
}

LineReader::~LineReader() {
  if (file_ != nullptr) gzclose(static_cast<gzFile>(file_));
}

bool LineReader::fill() {
  if (eof_) return false;
  buffer_.erase(0, buffer_pos_);
  buffer_pos_ = 0;
  constexpr size_t kChunk = 1 << 16;
  const size_t old_size = buffer_.size();
  buffer_.resize(old_size + kChunk);
  auto* gz = static_cast<gzFile>(file_);
  const int n = gzread(gz, buffer_.data() + old_size, static_cast<unsigned>(kChunk));
  if (n < 0) {
    int err = Z_OK;
    const char* message = gzerror(gz, &err);
    throw FormatError(fmt::format("{}: read error after line {}: {}", path_.string(), line_number_, message));
  }
  buffer_.resize(old_size + static_cast<size_t>(n));
  if (n == 0) eof_ = true;
  return n > 0;
}

bool LineReader::next(std::string& line) {
  size_t searched = buffer_pos_;
  size_t newline = std::string::npos;
  while ((newline = buffer_.find('\n', searched)) == std::string::npos) {
    searched = buffer_.size();
    if (searched - buffer_pos_ > max_line_bytes_)
      throw InputError(fmt::format("{}: line longer than {} bytes (the limit; --max-line-bytes raises it)",
                                   where(path_, line_number_ + 1), max_line_bytes_));
    const size_t kept = buffer_pos_;
    if (!fill()) break;
    searched -= kept;  // fill() moved the unread bytes to the front
  }
  if (newline == std::string::npos && buffer_pos_ == buffer_.size()) return false;
  const size_t end = newline == std::string::npos ? buffer_.size() : newline;
  if (end - buffer_pos_ > max_line_bytes_)
    throw InputError(fmt::format("{}: line longer than {} bytes (the limit; --max-line-bytes raises it)",
                                 where(path_, line_number_ + 1), max_line_bytes_));
  line.assign(buffer_, buffer_pos_, end - buffer_pos_);
  buffer_pos_ = newline == std::string::npos ? buffer_.size() : newline + 1;
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
