#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <functional>

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

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(Io, LineReaderKeepsNulBytesInsideTheirLine) {
  const auto path = temp_dir() / "nul.tsv";
  std::ofstream(path, std::ios::binary) << std::string("a\0b\nc\n\0\0\nlast", 13);
  LineReader reader(path);
  std::string line;
  std::vector<std::string> lines;
  while (reader.next(line)) lines.push_back(line);
  EXPECT_EQ(lines, (std::vector<std::string>{std::string("a\0b", 3), "c", std::string(2, '\0'), "last"}));
}

TEST(Io, LineReaderCapsTheLineLength) {
  const auto path = temp_dir() / "long.txt";
  std::ofstream(path) << "short\n" << std::string(300000, 'x') << "\nafter\n";
  LineReader reader(path, 100000);
  std::string line;
  ASSERT_TRUE(reader.next(line));
  const std::string what = message_of([&] { reader.next(line); });
  EXPECT_NE(what.find("long.txt:2: line longer than 100000 bytes"), std::string::npos) << what;
  LineReader exact(path, 300000);
  ASSERT_TRUE(exact.next(line) && exact.next(line));
  EXPECT_EQ(line.size(), 300000u);
}

TEST(Io, LineReaderSaysWhatAPathIs) {
  const auto dir = temp_dir();
  EXPECT_NE(message_of([&] { LineReader r(dir); }).find("is a folder"), std::string::npos);
  const auto loop = dir / "loop.txt";
  std::filesystem::remove(loop);
  std::filesystem::create_symlink(loop, loop);
  EXPECT_NE(message_of([&] { LineReader r(loop); }).find("symlink loop"), std::string::npos);
  EXPECT_NE(message_of([&] { read_file(dir); }).find("is a folder"), std::string::npos);
}

TEST(Io, AtomicWriteToAFolderLeavesNothingBehind) {
  const auto dir = temp_dir() / "target";
  std::filesystem::create_directories(dir / "sub");
  EXPECT_NE(message_of([&] { write_file_atomic(dir / "sub", "x"); }).find("is a folder"), std::string::npos);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);
}

TEST(Io, OutputChecksRefuseInputsExistingFilesAndFolders) {
  const auto dir = temp_dir() / "outputs";
  std::filesystem::create_directories(dir);
  const auto input = dir / "in.jsonl", out = dir / "out.tsv";
  write_file_atomic(input, "{}");
  EXPECT_NO_THROW(check_output_file(out, {input}, false, "--out"));
  EXPECT_NE(message_of([&] { check_output_file(input, {input}, true, "--out"); }).find("is an input"), std::string::npos);
  // The same file under another name is still the input.
  std::filesystem::remove(dir / "alias.jsonl");
  std::filesystem::create_symlink(input, dir / "alias.jsonl");
  EXPECT_NE(message_of([&] { check_output_file(dir / "alias.jsonl", {input}, true, "--out"); }).find("is an input"),
            std::string::npos);
  // Files directly in an input folder (a checkpoint) count as inputs.
  EXPECT_NE(message_of([&] { check_output_file(input, {dir}, true, "--out"); }).find("is an input"), std::string::npos);
  write_file_atomic(out, "old");
  EXPECT_NE(message_of([&] { check_output_file(out, {input}, false, "--out"); }).find("exists; pass --overwrite"),
            std::string::npos);
  EXPECT_NO_THROW(check_output_file(out, {input}, true, "--out"));
  EXPECT_NE(message_of([&] { check_output_file(dir, {}, true, "--out"); }).find("is a folder"), std::string::npos);
}

}  // namespace
}  // namespace adapterbias
