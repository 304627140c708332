#include <zlib.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/io.h"

namespace adapterbias {
namespace {

std::filesystem::path temp_dir() {
  auto dir = std::filesystem::temp_directory_path() / ("ab_io_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(Io, AtomicWriteReplacesWholeFileAndLeavesNoTemporary) {
  const auto dir = temp_dir() / "atomic";
  const auto path = dir / "out.bin";
  write_file_atomic(path, "first version");
  write_file_atomic(path, "second");
  EXPECT_EQ(read_file(path), "second");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);
}

TEST(Io, ReadMissingFileNamesIt) {
  try {
    read_file("/nonexistent/file.txt");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/file.txt"), std::string::npos);
  }
}

TEST(Io, LineReaderStripsLineEndingsAndCountsLines) {
  const auto path = temp_dir() / "lines.txt";
  std::ofstream(path) << "a\tb\r\nsecond\n\nlast-without-newline";
  LineReader reader(path);
  std::string line;
  std::vector<std::string> lines;
  while (reader.next(line)) lines.push_back(line);
  EXPECT_EQ(lines, (std::vector<std::string>{"a\tb", "second", "", "last-without-newline"}));
  EXPECT_EQ(reader.line_number(), 4);
}

TEST(Io, LineReaderReadsGzipTransparently) {
  const auto path = temp_dir() / "lines.tsv.gz";
  gzFile gz = gzopen(path.c_str(), "wb");
  const std::string text = "x\ty\n" + std::string(20000, 'z') + "\nend\n";
  gzwrite(gz, text.data(), static_cast<unsigned>(text.size()));
  gzclose(gz);
  LineReader reader(path);
  std::string line;
  ASSERT_TRUE(reader.next(line));
  EXPECT_EQ(line, "x\ty");
  ASSERT_TRUE(reader.next(line));
  EXPECT_EQ(line.size(), 20000u);  // longer than the reader's chunk
  ASSERT_TRUE(reader.next(line));
  EXPECT_EQ(line, "end");
  EXPECT_FALSE(reader.next(line));
}

TEST(Io, LineReaderMissingFile) { EXPECT_THROW(LineReader("/nonexistent.tsv"), InputError); }

}  // namespace
}  // namespace adapterbias
