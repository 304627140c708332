// Fuzz target: the JSON document in an adapter file's metadata (peft/adapter_info.h).
#include <nlohmann/json.hpp>

#include "fuzz_target.h"
#include "peft/adapter_info.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(data, data + size);
  } catch (const nlohmann::json::exception&) {
    return 0;  // invalid JSON, or a number too large: read_adapter reports either as a FormatError itself
  }
  return adapterbias::fuzz::guarded([&] {
    const adapterbias::AdapterInfo info = adapterbias::AdapterInfo::from_json(json, "fuzz.safetensors");
    if (info.max_length <= 0 || info.num_labels() < 1) std::abort();
    (void)adapterbias::AdapterInfo::from_json(info.to_json(), "round trip");
  });
}
