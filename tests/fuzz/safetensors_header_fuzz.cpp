// Fuzz target: the safetensors header of adapter and checkpoint files (core/safetensors_header.h).
#include "core/safetensors_header.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return adapterbias::fuzz::guarded([&] {
    const auto header = adapterbias::parse_safetensors_header(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.safetensors");
    // What the header promises, the bytes hold: each tensor lies inside the data section.
    for (const auto& e : header.entries)
      if (e.end > header.data_bytes || 8 + header.header_bytes + header.data_bytes != size) std::abort();
  });
}
