#include "peft/bitfit.h"

#include "peft/method_options.h"

namespace adapterbias {

BitFitConfig BitFitConfig::from_json(const nlohmann::json& json) {
  reject_options("bitfit", json);
  return {};
}

std::vector<TrainableTensor> BitFit::trainable(BertModel& model) const {
  std::vector<TrainableTensor> out;
  for (const auto& p : model->named_parameters())
    if (p.key().ends_with(".bias")) out.push_back({p.key(), p.value(), false});
  return out;
}

}  // namespace adapterbias
