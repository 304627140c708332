#include "peft/houlsby.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include "peft/method_options.h"

namespace adapterbias {

nlohmann::json HoulsbyConfig::to_json() const { return {{"bottleneck", bottleneck}}; }

HoulsbyConfig HoulsbyConfig::from_json(const nlohmann::json& json) {
  expect_options_object("houlsby", json);
  HoulsbyConfig config;
  if (json.is_null()) return config;
  for (const auto& [key, value] : json.items()) {
    if (key == "bottleneck" && value.is_number_integer() && value.get<int64_t>() > 0) {
      config.bottleneck = value.get<int64_t>();
    } else {
      throw InputError(fmt::format(
          "houlsby options: unknown or ill-typed field '{}' = {} (known: bottleneck: positive integer)", key,
          value.dump()));
    }
  }
  return config;
}

HoulsbyAdapter::HoulsbyAdapter(int64_t hidden_size, int64_t bottleneck) {
  down = register_module("down", torch::nn::Linear(hidden_size, bottleneck));
  up = register_module("up", torch::nn::Linear(bottleneck, hidden_size));
  torch::NoGradGuard no_grad;
  up->weight.zero_();
  up->bias.zero_();
}

at::Tensor HoulsbyAdapter::forward(const at::Tensor&, const at::Tensor& sublayer_output, const TaskRouting& tasks) {
  // out + up(GELU(down(out))): (B, T, H) -> (B, T, m) -> (B, T, H)
  return sublayer_output + tasks.linear(at::gelu(tasks.linear(sublayer_output, down)), up);
}

std::shared_ptr<HoulsbyAdapter> Houlsby::adapter_of(SublayerOutput& output) {
  for (const auto& adapter : output->adapters())
    if (auto houlsby = std::dynamic_pointer_cast<HoulsbyAdapter>(adapter)) return houlsby;
  return nullptr;
}

void Houlsby::inject(BertModel& model) {
  const int64_t H = model->config().hidden_size;
  for (auto& layer : model->encoder->layers) {
    layer->attention->output->add_adapter("houlsby", std::make_shared<HoulsbyAdapter>(H, config_.bottleneck));
    layer->output->add_adapter("houlsby", std::make_shared<HoulsbyAdapter>(H, config_.bottleneck));
  }
}

std::vector<TrainableTensor> Houlsby::trainable(BertModel& model) const {
  std::vector<TrainableTensor> out;
  for (size_t l = 0; l < model->encoder->layers.size(); ++l) {
    auto& layer = model->encoder->layers[l];
    for (auto [path, output] : {std::pair{"attention.output", layer->attention->output}, {"output", layer->output}}) {
      const auto adapter = adapter_of(output);
      TORCH_CHECK(adapter, "Houlsby adapters are not injected into layer ", l);
      const std::string prefix = fmt::format("encoder.layer.{}.{}.houlsby.", l, path);
      out.push_back({prefix + "down.weight", adapter->down->weight, true});
      out.push_back({prefix + "down.bias", adapter->down->bias, false});
      out.push_back({prefix + "up.weight", adapter->up->weight, true});
      out.push_back({prefix + "up.bias", adapter->up->bias, false});
    }
    auto& norm = layer->attention->output->LayerNorm;
    out.push_back({fmt::format("encoder.layer.{}.attention.output.LayerNorm.weight", l), norm->weight, false});
    out.push_back({fmt::format("encoder.layer.{}.attention.output.LayerNorm.bias", l), norm->bias, false});
  }
  append_output_layer_norms(model, out);
  return out;
}

}  // namespace adapterbias
