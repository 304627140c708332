// Linear probe ("head"): the backbone stays frozen entirely; only the task head Dropout -> Linear(H, labels)
// on the pooled output trains (TaskModel adds it to every method). The lower bound of the comparison.
#pragma once
#include "peft/method.h"

namespace adapterbias {

struct HeadOnlyConfig {  // no options
  nlohmann::json to_json() const { return nlohmann::json::object(); }
  static HeadOnlyConfig from_json(const nlohmann::json& json);  // InputError naming any field
};

class HeadOnly : public PeftMethod {
 public:
  explicit HeadOnly(HeadOnlyConfig config) : config_(config) {}
  std::string name() const override { return "head"; }
  nlohmann::json options() const override { return config_.to_json(); }
  void inject(BertModel&) override {}
  std::vector<TrainableTensor> trainable(BertModel&) const override { return {}; }

 private:
  HeadOnlyConfig config_;
};

}  // namespace adapterbias
