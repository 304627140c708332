#include "peft/lora.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include "peft/method_options.h"

namespace adapterbias {

nlohmann::json LoraConfig::to_json() const { return {{"r", r}, {"alpha", alpha}}; }

LoraConfig LoraConfig::from_json(const nlohmann::json& json) {
  expect_options_object("lora", json);
  LoraConfig config;
  if (json.is_null()) return config;
  for (const auto& [key, value] : json.items()) {
    if (key == "r" && value.is_number_integer() && value.get<int64_t>() > 0) {
      config.r = value.get<int64_t>();
    } else if (key == "alpha" && value.is_number() && value.get<double>() > 0) {
      config.alpha = value.get<double>();
    } else {
      throw InputError(fmt::format(
          "lora options: unknown or ill-typed field '{}' = {} (known: r: positive integer, alpha: positive number)",
          key, value.dump()));
    }
  }
  return config;
}

LoraAdapter::LoraAdapter(int64_t in_features, int64_t out_features, int64_t r, double scaling_)
    : scaling(scaling_) {
  lora_A = register_module("lora_A", torch::nn::Linear(torch::nn::LinearOptions(in_features, r).bias(false)));
  lora_B = register_module("lora_B", torch::nn::Linear(torch::nn::LinearOptions(r, out_features).bias(false)));
  torch::NoGradGuard no_grad;
  lora_B->weight.zero_();
}

at::Tensor LoraAdapter::forward(const at::Tensor& x, const at::Tensor& base_out, const TaskRouting& tasks) {
  // W x + b + (alpha / r) B A x: (B, T, H) -> (B, T, r) -> (B, T, H)
  return base_out + tasks.linear(tasks.linear(x, lora_A), lora_B) * scaling;
}

at::Tensor LoraAdapter::delta_weight() const { return at::matmul(lora_B->weight, lora_A->weight) * scaling; }

std::shared_ptr<LoraAdapter> Lora::adapter_of(BertSelfAttention& attention, const std::string& projection) {
  for (const auto& adapter : attention->adapters(projection))
    if (auto lora = std::dynamic_pointer_cast<LoraAdapter>(adapter)) return lora;
  return nullptr;
}

void Lora::inject(BertModel& model) {
  const int64_t H = model->config().hidden_size;
  const double scaling = config_.alpha / static_cast<double>(config_.r);
  for (auto& layer : model->encoder->layers)
    for (const char* target : kTargets)
      layer->attention->self_attention->add_adapter(target, std::make_shared<LoraAdapter>(H, H, config_.r, scaling));
}

std::vector<TrainableTensor> Lora::trainable(BertModel& model) const {
  std::vector<TrainableTensor> out;
  for (size_t l = 0; l < model->encoder->layers.size(); ++l) {
    for (const char* target : kTargets) {
      const auto adapter = adapter_of(model->encoder->layers[l]->attention->self_attention, target);
      TORCH_CHECK(adapter, "LoRA is not injected into layer ", l, " ", target);
      const std::string prefix = fmt::format("encoder.layer.{}.attention.self.{}.", l, target);
      out.push_back({prefix + "lora_A.weight", adapter->lora_A->weight, true});
      out.push_back({prefix + "lora_B.weight", adapter->lora_B->weight, true});
    }
  }
  return out;
}

void Lora::merge(BertModel& model) {
  torch::NoGradGuard no_grad;
  for (auto& layer : model->encoder->layers) {
    auto& attention = layer->attention->self_attention;
    for (const char* target : kTargets) {
      const auto adapter = adapter_of(attention, target);
      TORCH_CHECK(adapter, "LoRA is not injected");
      auto& linear = std::string(target) == "query" ? attention->query : attention->value;
      linear->weight.add_(adapter->delta_weight());  // W += (alpha / r) B A
    }
    attention->clear_adapters();
  }
}

}  // namespace adapterbias
