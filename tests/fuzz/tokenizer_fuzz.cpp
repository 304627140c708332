// Fuzz target: tokenizer files (tokenizer/tokenizer.h). The first byte picks which file the rest becomes:
// tokenizer.json, vocab.txt, or vocab.json + merges.txt (split at the first NUL). A tokenizer that loads
// must encode a few texts, pairs and truncations.
#include "fuzz_target.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static adapterbias::fuzz::ScratchCleanup cleanup;
  const auto dir = adapterbias::fuzz::scratch_dir() / "tokenizer";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir);
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0:
      adapterbias::fuzz::write_bytes(dir / "tokenizer.json", bytes);
      break;
    case 1:
      adapterbias::fuzz::write_bytes(dir / "vocab.txt", bytes);
      break;
    default: {
      const size_t split = std::min(bytes.find('\0'), bytes.size());
      adapterbias::fuzz::write_bytes(dir / "vocab.json", bytes.substr(0, split));
      adapterbias::fuzz::write_bytes(dir / "merges.txt", bytes.substr(std::min(split + 1, bytes.size())));
    }
  }
  return adapterbias::fuzz::guarded([&] {
    const auto tokenizer = adapterbias::Tokenizer::from_pretrained(dir);
    for (const char* text : {"Hello, world!", "naïve café ☕ 東京 \xf0\x9f\x98\x80", "", "a\tb\nc  d"}) {
      const auto one = tokenizer->encode(text, std::nullopt, {});
      const auto pair = tokenizer->encode(text, std::string_view("second text ."), {.max_length = 8});
      if (one.ids.size() != one.type_ids.size() || pair.ids.size() > 8) std::abort();
    }
  });
}
