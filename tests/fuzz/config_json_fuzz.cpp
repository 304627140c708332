// Fuzz target: a checkpoint's config.json (model/config.h).
#include <nlohmann/json.hpp>

#include "fuzz_target.h"
#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto dir = adapterbias::fuzz::scratch_dir();
  static adapterbias::fuzz::ScratchCleanup cleanup;
  adapterbias::fuzz::write_bytes(dir / "config.json", std::string_view(reinterpret_cast<const char*>(data), size));
  return adapterbias::fuzz::guarded([&] {
    const adapterbias::BertConfig config = adapterbias::BertConfig::from_file(dir / "config.json");
    if (config.hidden_size <= 0 || config.hidden_size % config.num_attention_heads != 0 || !(config.layer_norm_eps > 0))
      std::abort();  // from_file promised a usable configuration
  });
}
