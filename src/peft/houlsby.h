// Houlsby bottleneck adapters (Houlsby et al., ICML 2019): after each attention output projection and each FFN
// output projection, before the residual and the LayerNorm, a bottleneck with its own skip connection:
//
//     out = Dropout(W o + b)                       // the sublayer's output, (B, T, H)
//     out = out + up(GELU(down(out)))              // down Linear(H -> m), up Linear(m -> H)
//     y   = LayerNorm(out + residual)
//
// injected at "encoder.layer.N.attention.output" and "encoder.layer.N.output" as the module "houlsby"
// (tensors "...houlsby.{down,up}.{weight,bias}"). up starts at zero (weight and bias), so the output equals the
// backbone's at initialisation; down keeps LibTorch's Linear default. As in the paper, every LayerNorm trains
// too: the embeddings LayerNorm, and each layer's attention-output and output LayerNorms.
#pragma once
#include <torch/nn/modules/linear.h>

#include "peft/method.h"

namespace adapterbias {

struct HoulsbyConfig {
  int64_t bottleneck = 64;  // m, the adapter's inner size

  nlohmann::json to_json() const;
  static HoulsbyConfig from_json(const nlohmann::json& json);  // InputError naming an unknown or bad field
};

class HoulsbyAdapter : public OutputAdapter {
 public:
  HoulsbyAdapter(int64_t hidden_size, int64_t bottleneck);
  at::Tensor forward(const at::Tensor& sublayer_input, const at::Tensor& sublayer_output,
                     const TaskRouting& tasks) override;

  torch::nn::Linear down{nullptr};  // H -> m
  torch::nn::Linear up{nullptr};    // m -> H, zero at initialisation
};

class Houlsby : public PeftMethod {
 public:
  explicit Houlsby(HoulsbyConfig config) : config_(config) {}
  std::string name() const override { return "houlsby"; }
  nlohmann::json options() const override { return config_.to_json(); }
  void inject(BertModel& model) override;
  std::vector<TrainableTensor> trainable(BertModel& model) const override;

  static std::shared_ptr<HoulsbyAdapter> adapter_of(SublayerOutput& output);  // null when not injected

 private:
  HoulsbyConfig config_;
};

}  // namespace adapterbias
