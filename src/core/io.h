// Files: whole-file reads, atomic writes, and line-by-line reading of plain or gzip-compressed text.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace adapterbias {

// Reads a whole file into memory; throws InputError naming the path when it cannot.
std::string read_file(const std::filesystem::path& path);

// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync, then rename, so a reader
// sees either the old file or the whole new one. Creates the parent folder when missing.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

// Reads text line by line; `.gz` files (and any gzip stream) are decompressed transparently by zlib.
// Strips the trailing '\n' (and a '\r' before it). Line numbers start at 1.
class LineReader {
 public:
  explicit LineReader(const std::filesystem::path& path);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // Next line into `line`; false at end of file.
  bool next(std::string& line);
  int64_t line_number() const { return line_number_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  void* file_ = nullptr;  // gzFile, kept opaque so that callers need not include zlib.h
  int64_t line_number_ = 0;
};

// `name` when it can name one file inside a folder: one path component (no '/' or '\\'), not "." or "..",
// no control characters, at most 255 bytes. Otherwise an InputError saying that `what` (e.g. "the adapter's task
// name") cannot name a file. For names that come from data (adapter metadata, files), so that what is written
// stays inside the folder the user named.
std::string checked_file_name(std::string_view name, std::string_view what);

// "path:line" for error messages.
std::string where(const std::filesystem::path& path, int64_t line);

}  // namespace adapterbias
