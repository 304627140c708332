// AdapterBias (Fu, Chen, Lee, Lee; Findings of NAACL 2022): a token-dependent shift of each layer's FFN
// output. For layer l with intermediate activations h (B, T, I):
//
//     alpha = L_alpha(h)                       // Linear(I -> 1): one scalar per token, (B, T, 1)
//     out   = Dropout(W2 h + b2) + alpha * v   // v in R^H, initialised to zeros
//     y     = LayerNorm(out + residual)
//
// injected at "encoder.layer.N.output" as the module "adapter_bias" (tensors "...output.adapter_bias.v",
// "...output.adapter_bias.alpha.{weight,bias}"). With share_alpha, one L_alpha serves every layer
// ("encoder.adapter_bias.alpha.*") and each layer keeps its own v.
#pragma once
#include <torch/nn/modules/linear.h>

#include "peft/method.h"

namespace adapterbias {

struct AdapterBiasConfig {
  bool share_alpha = false;  // one L_alpha for all layers (partial weight sharing)

  nlohmann::json to_json() const;
  static AdapterBiasConfig from_json(const nlohmann::json& json);  // InputError naming an unknown field
};

// Holds the shared L_alpha when share_alpha is on ("encoder.adapter_bias").
class AdapterBiasSharedImpl : public torch::nn::Module {
 public:
  explicit AdapterBiasSharedImpl(int64_t intermediate_size);
  torch::nn::Linear alpha{nullptr};
};
TORCH_MODULE(AdapterBiasShared);

// What one AdapterBiasShift saw in its last forward, for analysis (analysis/token_shift.h): set
// AdapterBiasShift::recorder to fill it; forward then also stores, detached,
//   alpha     (B, T)  the scalar L_alpha(h) that scales v at each token
//   ffn_norm  (B, T)  ||Dropout(W2 h + b2)||_2 at each token, the FFN output before the shift
struct ShiftRecord {
  at::Tensor alpha;
  at::Tensor ffn_norm;
};

class AdapterBiasShift : public OutputAdapter {
 public:
  // `shared_alpha` null: the layer gets its own L_alpha (registered as "alpha").
  AdapterBiasShift(int64_t hidden_size, int64_t intermediate_size, torch::nn::Linear shared_alpha);
  at::Tensor forward(const at::Tensor& h, const at::Tensor& ffn_out, const TaskRouting& tasks) override;

  at::Tensor v;             // (H)
  torch::nn::Linear alpha;  // I -> 1, own or shared
  ShiftRecord* recorder = nullptr;  // not owned; null (the default): forward records nothing
};

class AdapterBias : public PeftMethod {
 public:
  explicit AdapterBias(AdapterBiasConfig config) : config_(config) {}
  std::string name() const override { return "adapterbias"; }
  nlohmann::json options() const override { return config_.to_json(); }
  void inject(BertModel& model) override;
  std::vector<TrainableTensor> trainable(BertModel& model) const override;
  bool mergeable() const override { return true; }
  // alpha * v = v (w.h + b): a rank-one update W2 += v w^T, b2 += v b of each FFN output projection.
  void merge(BertModel& model) override;

  static std::shared_ptr<AdapterBiasShift> shift_of(BertLayer& layer);  // null when not injected

 private:
  AdapterBiasConfig config_;
};

}  // namespace adapterbias
