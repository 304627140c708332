// LoRA (Hu et al., ICLR 2022) on the attention query and value projections, as PEFT's default for BERT:
//
//     y = W x + b + (alpha / r) B A x          // A (r, H), B (H, r)
//
// injected through BertSelfAttention's LinearAdapters (model/bert.h) at "encoder.layer.N.attention.self.query"
// and ".value", tensors named as PEFT names them without "base_layer": "...self.query.lora_A.weight",
// "...self.query.lora_B.weight". A keeps LibTorch's Linear default (kaiming_uniform_(a = sqrt(5)), PEFT's
// init), B starts at zero, so the output equals the backbone's at initialisation. No LoRA dropout.
// Mergeable: W += (alpha / r) B A.
#pragma once
#include <torch/nn/modules/linear.h>

#include "peft/method.h"

namespace adapterbias {

struct LoraConfig {
  int64_t r = 8;        // the rank of the update
  double alpha = 16.0;  // the update is scaled by alpha / r

  nlohmann::json to_json() const;
  static LoraConfig from_json(const nlohmann::json& json);  // InputError naming an unknown or bad field
};

class LoraAdapter : public LinearAdapter {
 public:
  LoraAdapter(int64_t in_features, int64_t out_features, int64_t r, double scaling);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& base_out, const TaskRouting& tasks) override;
  at::Tensor delta_weight() const;  // (alpha / r) B A: (out, in)

  torch::nn::Linear lora_A{nullptr};  // in -> r, no bias
  torch::nn::Linear lora_B{nullptr};  // r -> out, no bias, zero at initialisation
  double scaling;
};

class Lora : public PeftMethod {
 public:
  explicit Lora(LoraConfig config) : config_(config) {}
  std::string name() const override { return "lora"; }
  nlohmann::json options() const override { return config_.to_json(); }
  void inject(BertModel& model) override;
  std::vector<TrainableTensor> trainable(BertModel& model) const override;
  bool mergeable() const override { return true; }
  void merge(BertModel& model) override;  // W += (alpha / r) B A, adapters removed

  static constexpr const char* kTargets[] = {"query", "value"};
  static std::shared_ptr<LoraAdapter> adapter_of(BertSelfAttention& attention, const std::string& projection);

 private:
  LoraConfig config_;
};

}  // namespace adapterbias
