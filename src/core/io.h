// Files: whole-file reads, atomic writes, and line-by-line reading of plain or gzip-compressed text.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace adapterbias {

// Reads a whole file into memory; throws InputError naming the path when it cannot (missing, a folder, ...).
std::string read_file(const std::filesystem::path& path);

// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync, then rename, so a reader
// sees either the old file or the whole new one. Creates the parent folder when missing. A `path` that is a
// folder is an InputError; no temporary file is left behind on any failure.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

// Checks, before anything is written, a file a command is about to write (`flag` names where the path came
// from, e.g. "--out"): it must not be a folder, must not be one of `inputs` (the same file under any name;
// input folders count with the files directly in them) and must not exist unless `overwrite`.
void check_output_file(const std::filesystem::path& path, const std::vector<std::filesystem::path>& inputs,
                       bool overwrite, std::string_view flag);

// "-": standard input, for LineReader and the commands that read data.
inline constexpr std::string_view kStdin = "-";

// Lines longer than this are refused (a small .gz can inflate to one enormous line).
inline constexpr size_t kDefaultMaxLineBytes = size_t{64} << 20;

// Reads text line by line; `.gz` files (and any gzip stream) are decompressed transparently by zlib. "-" reads
// standard input. Strips the trailing '\n' (and a '\r' before it); every other byte, NUL included, stays in
// the line, so row counts are exact and the readers decide what a NUL means. Line numbers start at 1.
class LineReader {
 public:
  explicit LineReader(const std::filesystem::path& path, size_t max_line_bytes = kDefaultMaxLineBytes);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // Next line into `line`; false at end of file. InputError "FILE:LINE: ..." for a line over the limit.
  bool next(std::string& line);
  int64_t line_number() const { return line_number_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  bool fill();  // reads more bytes into buffer_; false at end of file

  std::filesystem::path path_;
  void* file_ = nullptr;  // gzFile, kept opaque so that callers need not include zlib.h
  size_t max_line_bytes_;
  std::string buffer_;  // bytes read but not yet returned, from buffer_pos_
  size_t buffer_pos_ = 0;
  bool eof_ = false;
  int64_t line_number_ = 0;
};

// Why `path` cannot be read as a data file ("no such file", "is a folder, expected a file", "a symlink loop"),
// or "" when it can. "-" (standard input) can.
std::string unreadable_reason(const std::filesystem::path& path);

// InputError "PATH: cannot read: <unreadable_reason>" when there is one.
void check_readable(const std::filesystem::path& path);

// `name` when it can name one file inside a folder: one path component (no '/' or '\\'), not "." or "..",
// no control characters, at most 255 bytes. Otherwise an InputError saying that `what` (e.g. "the adapter's task
// name") cannot name a file. For names that come from data (adapter metadata, files), so that what is written
// stays inside the folder the user named.
std::string checked_file_name(std::string_view name, std::string_view what);

// "path:line" for error messages.
std::string where(const std::filesystem::path& path, int64_t line);

}  // namespace adapterbias
