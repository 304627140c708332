#include "peft/head_only.h"

#include "peft/method_options.h"

namespace adapterbias {

HeadOnlyConfig HeadOnlyConfig::from_json(const nlohmann::json& json) {
  reject_options("head", json);
  return {};
}

}  // namespace adapterbias
