// main() for the fuzz targets: a seeded mutation loop over a seed corpus, written by hand because the
// compiler here (g++) has no libFuzzer. Each target defines LLVMFuzzerTestOneInput, so the same files also
// link against libFuzzer under clang (-fsanitize=fuzzer) without this driver.
//
//   fuzz_X PATH...                          run every file under PATH once (the regression corpus)
//   fuzz_X --seconds S [--seed K] PATH...   then mutate those files for S seconds
//
// A crash (sanitizer report, signal, uncaught exception) saves the input as crash-<target>-<hash> in the
// working folder (or --crash-dir); add it to tests/fuzz/corpus/<target>/ to keep it as a regression test.
#include <algorithm>
#include <csignal>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

// Under AddressSanitizer a report ends the process without a signal; its death callback saves the input.
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define AB_HAVE_SANITIZER_CALLBACK 1
#endif

namespace {

std::string g_target;
std::string g_crash_dir = ".";
std::string g_current;  // the input being run, saved when the process dies

uint64_t fnv1a(const std::string& bytes) {
  uint64_t h = 1469598103934665603ull;
  for (const unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Async-signal-safe enough for a dying process: open, write, close.
void save_current_input() {
  char path[4096];
  std::snprintf(path, sizeof(path), "%s/crash-%s-%016llx", g_crash_dir.c_str(), g_target.c_str(),
                static_cast<unsigned long long>(fnv1a(g_current)));
  const int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    if (::write(fd, g_current.data(), g_current.size()) < 0) {}
    ::close(fd);
  }
  const char note[] = "fuzz: the crashing input was saved as ";
  if (::write(STDERR_FILENO, note, sizeof(note) - 1) < 0 || ::write(STDERR_FILENO, path, std::strlen(path)) < 0 ||
      ::write(STDERR_FILENO, "\n", 1) < 0) {}
}

void on_signal(int signal) {
  save_current_input();
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return std::move(buffer).str();
}

void run(const std::string& input) {
  g_current = input;
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(g_current.data()), g_current.size());
}

// One mutation of `input`, sometimes spliced with another seed; bytes that parsers treat specially are
// favoured so that structure is found quickly.
std::string mutate(std::string input, const std::vector<std::string>& seeds, std::mt19937_64& rng) {
  static const char kInteresting[] = {'\0', '\n', '\r', '\t', '"', ',', '{', '}', '[', ']', ':', '\\',
                                      '-', '0', '9', 'e', '\x7f', '\x80', '\xbf', '\xc3', '\xe2', '\xef', '\xff', ' '};
  const auto pick = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  const int rounds = 1 + static_cast<int>(rng() % 4);
  for (int r = 0; r < rounds; ++r) {
    switch (rng() % 8) {
      case 0:  // flip a bit
        if (!input.empty()) input[pick(input.size())] ^= static_cast<char>(1u << (rng() % 8));
        break;
      case 1:  // set an interesting byte
        if (!input.empty()) input[pick(input.size())] = kInteresting[pick(sizeof(kInteresting))];
        break;
      case 2:  // insert interesting bytes
        input.insert(pick(input.size() + 1), 1 + pick(4), kInteresting[pick(sizeof(kInteresting))]);
        break;
      case 3: {  // erase a range
        if (input.empty()) break;
        const size_t at = pick(input.size());
        input.erase(at, 1 + pick(std::min<size_t>(16, input.size() - at)));
        break;
      }
      case 4: {  // duplicate a range
        if (input.empty()) break;
        const size_t at = pick(input.size()), n = 1 + pick(std::min<size_t>(64, input.size() - at));
        input.insert(pick(input.size() + 1), input.substr(at, n));
        break;
      }
      case 5:  // truncate
        input.resize(pick(input.size() + 1));
        break;
      case 6: {  // splice in part of another seed
        const std::string& other = seeds[pick(seeds.size())];
        if (other.empty()) break;
        const size_t at = pick(other.size()), n = 1 + pick(std::min<size_t>(256, other.size() - at));
        input.insert(pick(input.size() + 1), other.substr(at, n));
        break;
      }
      default: {  // overwrite with a random number's digits (sizes, offsets, lengths)
        const std::string number = std::to_string(static_cast<int64_t>(rng()) >> (rng() % 63));
        const size_t at = pick(input.size() + 1);
        input.replace(at, std::min(number.size(), input.size() - at), number);
        break;
      }
    }
  }
  return input;
}

}  // namespace

int main(int argc, char** argv) {
  g_target = std::filesystem::path(argv[0]).filename().string();
  double seconds = 0;
  uint64_t seed = 1;
  std::vector<std::filesystem::path> paths;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::stod(argv[++i]);
    } else if (arg == "--seed" && i + 1 < argc) {
      seed = std::stoull(argv[++i]);
    } else if (arg == "--crash-dir" && i + 1 < argc) {
      g_crash_dir = argv[++i];
    } else {
      paths.emplace_back(arg);
    }
  }
  for (const int s : {SIGSEGV, SIGABRT, SIGFPE, SIGBUS, SIGILL}) std::signal(s, on_signal);
#ifdef AB_HAVE_SANITIZER_CALLBACK
  __sanitizer_set_death_callback(save_current_input);
#endif

  std::vector<std::string> seeds;
  for (const auto& path : paths) {
    if (std::filesystem::is_directory(path)) {
      std::vector<std::filesystem::path> files;
      for (const auto& entry : std::filesystem::directory_iterator(path))
        if (entry.is_regular_file()) files.push_back(entry.path());
      std::sort(files.begin(), files.end());  // a fixed order, so that a seeded run repeats exactly
      for (const auto& file : files) seeds.push_back(read_all(file));
    } else {
      seeds.push_back(read_all(path));
    }
  }
  if (seeds.empty()) {
    std::fprintf(stderr, "%s: no inputs in the given paths\n", g_target.c_str());
    return 2;
  }
  for (const auto& input : seeds) run(input);
  int64_t runs = static_cast<int64_t>(seeds.size());
  if (seconds > 0) {
    std::mt19937_64 rng(seed);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    std::vector<std::string> pool = seeds;
    while (std::chrono::steady_clock::now() < deadline) {
      for (int i = 0; i < 64; ++i, ++runs) {
        std::string input = mutate(pool[rng() % pool.size()], seeds, rng);
        run(input);
        // Keep some mutants as parents, so that mutations compound; the pool stays bounded.
        if (rng() % 16 == 0) {
          if (pool.size() < 4096) pool.push_back(std::move(input));
          else pool[rng() % pool.size()] = std::move(input);
        }
      }
    }
  }
  std::printf("%s: %lld inputs, no crash\n", g_target.c_str(), static_cast<long long>(runs));
  return 0;
}
