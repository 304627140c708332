// Full fine-tuning: every backbone parameter and the head train. Weight decay as transformers' run_glue
// (Trainer.get_decay_parameter_names): on everything except biases and LayerNorm weights. Nothing is injected,
// and the "adapter" file is the whole model (every backbone tensor plus the head), about the backbone's size.
#pragma once
#include "peft/method.h"

namespace adapterbias {

struct FullConfig {  // no options
  nlohmann::json to_json() const { return nlohmann::json::object(); }
  static FullConfig from_json(const nlohmann::json& json);  // InputError naming any field
};

class FullFineTuning : public PeftMethod {
 public:
  explicit FullFineTuning(FullConfig config) : config_(config) {}
  std::string name() const override { return "full"; }
  nlohmann::json options() const override { return config_.to_json(); }
  void inject(BertModel&) override {}
  std::vector<TrainableTensor> trainable(BertModel& model) const override;

 private:
  FullConfig config_;
};

}  // namespace adapterbias
