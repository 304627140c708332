#include "peft/adapter_bias.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/utils.h>

#include "core/error.h"

namespace adapterbias {

nlohmann::json AdapterBiasConfig::to_json() const { return {{"share_alpha", share_alpha}}; }

AdapterBiasConfig AdapterBiasConfig::from_json(const nlohmann::json& json) {
  AdapterBiasConfig config;
  if (json.is_null()) return config;
  for (const auto& [key, value] : json.items()) {
    if (key == "share_alpha" && value.is_boolean()) {
      config.share_alpha = value.get<bool>();
    } else {
      throw InputError(fmt::format("adapterbias options: unknown or ill-typed field '{}' = {} (known: share_alpha: bool)",
                                   key, value.dump()));
    }
  }
  return config;
}

AdapterBiasSharedImpl::AdapterBiasSharedImpl(int64_t intermediate_size) {
  alpha = register_module("alpha", torch::nn::Linear(intermediate_size, 1));
}

AdapterBiasShift::AdapterBiasShift(int64_t hidden_size, int64_t intermediate_size, torch::nn::Linear shared_alpha)
    : alpha(std::move(shared_alpha)) {
  v = register_parameter("v", at::zeros({hidden_size}));
  // LibTorch's default Linear initialisation (Kaiming-uniform weight, uniform bias), as the reference code's.
  if (!alpha) alpha = register_module("alpha", torch::nn::Linear(intermediate_size, 1));
}

at::Tensor AdapterBiasShift::forward(const at::Tensor& h, const at::Tensor& ffn_out, const TaskRouting& tasks) {
  // out = Dropout(W2 h + b2) + alpha * v, with alpha = L_alpha(h): (B, T, 1) * (H) -> (B, T, H); with tasks
  // mixed, each token's own v and L_alpha.
  const at::Tensor a = tasks.linear(h, alpha);  // (B, T, 1)
  if (recorder) *recorder = {a.detach().squeeze(-1), ffn_out.detach().norm(2, -1)};
  return at::addcmul(ffn_out, a, tasks.select(v));
}

std::shared_ptr<AdapterBiasShift> AdapterBias::shift_of(BertLayer& layer) {
  for (const auto& adapter : layer->output->adapters())
    if (auto shift = std::dynamic_pointer_cast<AdapterBiasShift>(adapter)) return shift;
  return nullptr;
}

void AdapterBias::inject(BertModel& model) {
  const BertConfig& c = model->config();
  torch::nn::Linear shared{nullptr};
  if (config_.share_alpha) {
    auto holder = model->encoder->register_module("adapter_bias", AdapterBiasShared(c.intermediate_size));
    shared = holder->alpha;
  }
  for (auto& layer : model->encoder->layers)
    layer->output->add_adapter("adapter_bias",
                               std::make_shared<AdapterBiasShift>(c.hidden_size, c.intermediate_size, shared));
}

std::vector<TrainableTensor> AdapterBias::trainable(BertModel& model) const {
  std::vector<TrainableTensor> out;
  for (size_t l = 0; l < model->encoder->layers.size(); ++l) {
    const auto shift = shift_of(model->encoder->layers[l]);
    TORCH_CHECK(shift, "AdapterBias is not injected into layer ", l);
    const std::string prefix = fmt::format("encoder.layer.{}.output.adapter_bias.", l);
    out.push_back({prefix + "v", shift->v, true});
    if (!config_.share_alpha) {
      out.push_back({prefix + "alpha.weight", shift->alpha->weight, true});
      out.push_back({prefix + "alpha.bias", shift->alpha->bias, false});
    }
  }
  if (config_.share_alpha) {
    const auto& alpha = shift_of(model->encoder->layers[0])->alpha;
    out.push_back({"encoder.adapter_bias.alpha.weight", alpha->weight, true});
    out.push_back({"encoder.adapter_bias.alpha.bias", alpha->bias, false});
  }
  append_output_layer_norms(model, out);
  return out;
}

void AdapterBias::merge(BertModel& model) {
  torch::NoGradGuard no_grad;
  for (auto& layer : model->encoder->layers) {
    const auto shift = shift_of(layer);
    TORCH_CHECK(shift, "AdapterBias is not injected");
    auto& dense = layer->output->dense;                                         // W2 (H, I), b2 (H)
    dense->weight.add_(at::outer(shift->v, shift->alpha->weight.squeeze(0)));   // W2 += v w^T
    dense->bias.add_(shift->v * shift->alpha->bias);                            // b2 += v b
    layer->output->clear_adapters();
  }
  if (config_.share_alpha) model->encoder->unregister_module("adapter_bias");
}

}  // namespace adapterbias
