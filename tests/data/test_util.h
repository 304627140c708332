// Helpers for the data tests: a fresh temporary folder per test, writing plain and gzip files, the GLUE root.
#pragma once
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <unistd.h>

#include "core/error.h"

namespace adapterbias::testing {

// The staged GLUE data: $ADAPTERBIAS_GLUE_DIR, else shared/data/glue next to the checkout.
inline std::filesystem::path glue_dir() {
  if (const char* env = std::getenv("ADAPTERBIAS_GLUE_DIR")) return env;
  return std::filesystem::path(AB_SOURCE_DIR "/../shared/data/glue");
}

// A folder unique to the running test, emptied at start and removed at the end.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "." + info->name();
    for (char& c : name)
      if (c == '/') c = '_';
    path_ = std::filesystem::temp_directory_path() / ("ab_data_" + std::to_string(::getpid()) + "_" + name);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

  std::filesystem::path write(const std::string& name, std::string_view bytes) const {
    const auto file = path_ / name;
    std::filesystem::create_directories(file.parent_path());
    FILE* f = std::fopen(file.c_str(), "wb");
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
    return file;
  }

  std::filesystem::path write_gz(const std::string& name, std::string_view bytes) const {
    const auto file = path_ / name;
    std::filesystem::create_directories(file.parent_path());
    gzFile gz = gzopen(file.c_str(), "wb");
    gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(gz);
    return file;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace adapterbias::testing

// Asserts that `statement` throws `type` whose message contains every listed fragment (simdjson ASSERT_ERROR).
#define EXPECT_THROW_WITH(statement, type, ...)                                                     \
  do {                                                                                              \
    try {                                                                                           \
      statement;                                                                                    \
      ADD_FAILURE() << "expected " #type " from: " #statement;                                      \
    } catch (const type& e) {                                                                       \
      const std::string message = e.what();                                                        \
      for (const std::string& fragment : std::initializer_list<std::string>{__VA_ARGS__})           \
        EXPECT_NE(message.find(fragment), std::string::npos)                                        \
            << "message: " << message << "\nlacks: " << fragment;                                   \
    }                                                                                               \
  } while (0)
