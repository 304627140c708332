// BitFit (Ben Zaken, Ravfogel, Goldberg; ACL 2022): only the bias terms train. "All bias terms" as the paper
// says: every ".bias" of the backbone (query/key/value, attention output, FFN in and out, every LayerNorm's
// bias, the pooler), plus the head. Nothing is injected; no weight decay on biases.
#pragma once
#include "peft/method.h"

namespace adapterbias {

struct BitFitConfig {  // no options
  nlohmann::json to_json() const { return nlohmann::json::object(); }
  static BitFitConfig from_json(const nlohmann::json& json);  // InputError naming any field
};

class BitFit : public PeftMethod {
 public:
  explicit BitFit(BitFitConfig config) : config_(config) {}
  std::string name() const override { return "bitfit"; }
  nlohmann::json options() const override { return config_.to_json(); }
  void inject(BertModel&) override {}
  std::vector<TrainableTensor> trainable(BertModel& model) const override;

 private:
  BitFitConfig config_;
};

}  // namespace adapterbias
