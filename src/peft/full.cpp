#include "peft/full.h"

#include "peft/method_options.h"

namespace adapterbias {

FullConfig FullConfig::from_json(const nlohmann::json& json) {
  reject_options("full", json);
  return {};
}

std::vector<TrainableTensor> FullFineTuning::trainable(BertModel& model) const {
  std::vector<TrainableTensor> out;
  for (const auto& p : model->named_parameters()) {
    const std::string& name = p.key();
    const bool is_bias = name.ends_with(".bias");
    const bool is_layer_norm = name.find("LayerNorm.") != std::string::npos;
    out.push_back({name, p.value(), !is_bias && !is_layer_norm});
  }
  return out;
}

}  // namespace adapterbias
