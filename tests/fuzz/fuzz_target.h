// What every fuzz target shares: an input is either handled or refused with one of the library's errors
// (adapterbias::Error: a clean message and exit code). Anything else that escapes, a raw library exception
// included, is a bug and aborts, so the driver saves the input.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <unistd.h>

#include "core/error.h"

namespace adapterbias::fuzz {

template <typename Body>
int guarded(Body&& body) {
  try {
    body();
  } catch (const Error&) {
    // a refused input: the expected outcome for most mutants
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: an exception that is not an adapterbias::Error escaped: %s\n", e.what());
    std::abort();
  }
  return 0;
}

// A scratch folder of this process, for parsers that read files.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("ab_fuzz_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline void write_bytes(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Removes the scratch folder at exit.
struct ScratchCleanup {
  ~ScratchCleanup() {
    std::error_code ec;
    std::filesystem::remove_all(scratch_dir(), ec);
  }
};

}  // namespace adapterbias::fuzz
