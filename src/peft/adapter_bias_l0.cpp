#include "peft/adapter_bias_l0.h"

#include <cmath>
#include <map>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/utils.h>

#include "core/error.h"

namespace adapterbias {

namespace l0 {

at::Tensor gate(const at::Tensor& log_alpha, bool training) {
  at::Tensor s;
  if (training) {
    // u in [eps, 1 - eps] keeps log u and log(1 - u) finite.
    const at::Tensor u = at::rand_like(log_alpha).clamp(1e-6, 1.0 - 1e-6);
    s = at::sigmoid((at::log(u) - at::log1p(-u) + log_alpha) / kBeta);
  } else {
    s = at::sigmoid(log_alpha);
  }
  return at::clamp(s * (kZeta - kGamma) + kGamma, 0.0, 1.0);
}

at::Tensor probability_open(const at::Tensor& log_alpha) {
  return at::sigmoid(log_alpha - kBeta * std::log(-kGamma / kZeta));
}

}  // namespace l0

nlohmann::json AdapterBiasL0Config::to_json() const {
  return {{"l0", l0}, {"init_log_alpha", init_log_alpha}, {"gate_lr_scale", gate_lr_scale}};
}

AdapterBiasL0Config AdapterBiasL0Config::from_json(const nlohmann::json& json) {
  AdapterBiasL0Config config;
  if (json.is_null()) return config;
  if (!json.is_object())
    throw InputError(fmt::format("adapterbias-l0 options: expected a JSON object, got {}", json.dump()));
  for (const auto& [key, value] : json.items()) {
    if (key == "l0" && value.is_number() && value.get<double>() >= 0.0) {
      config.l0 = value.get<double>();
    } else if (key == "init_log_alpha" && value.is_number()) {
      config.init_log_alpha = value.get<double>();
    } else if (key == "gate_lr_scale" && value.is_number() && value.get<double>() > 0.0) {
      config.gate_lr_scale = value.get<double>();
    } else {
      throw InputError(fmt::format("adapterbias-l0 options: unknown or ill-typed field '{}' = {} (known: l0: number "
                                   ">= 0, init_log_alpha: number, gate_lr_scale: number > 0)",
                                   key, value.dump()));
    }
  }
  return config;
}

AdapterBiasL0Shift::AdapterBiasL0Shift(int64_t hidden_size, int64_t intermediate_size, double init_log_alpha)
    : AdapterBiasShift(hidden_size, intermediate_size, torch::nn::Linear{nullptr}) {
  v_log_alpha = register_parameter("v_log_alpha", at::full({hidden_size}, init_log_alpha));
  alpha_weight_log_alpha = register_parameter("alpha_weight_log_alpha", at::full({1, intermediate_size}, init_log_alpha));
}

at::Tensor AdapterBiasL0Shift::forward(const at::Tensor& h, const at::Tensor& ffn_out, const TaskRouting& tasks) {
  TORCH_CHECK(!tasks.mixed(), "adapterbias-l0 trains one task; its saved adapter mixes as adapterbias");
  // out = Dropout(W2 h + b2) + alpha * v with v and L_alpha's weight gated: alpha = (w * z_w) h + b.
  const at::Tensor gated_v = v * l0::gate(v_log_alpha, is_training());
  const at::Tensor gated_w = alpha->weight * l0::gate(alpha_weight_log_alpha, is_training());
  const at::Tensor a = at::linear(h, gated_w, alpha->bias);  // (B, T, 1)
  if (recorder) *recorder = {a.detach().squeeze(-1), ffn_out.detach().norm(2, -1)};
  return at::addcmul(ffn_out, a, gated_v);
}

at::Tensor AdapterBiasL0Shift::eval_v() const {
  torch::NoGradGuard no_grad;
  return v.detach() * l0::gate(v_log_alpha.detach(), false);
}

at::Tensor AdapterBiasL0Shift::eval_alpha_weight() const {
  torch::NoGradGuard no_grad;
  return alpha->weight.detach() * l0::gate(alpha_weight_log_alpha.detach(), false);
}

std::shared_ptr<AdapterBiasL0Shift> AdapterBiasL0::shift_of(BertLayer& layer) {
  for (const auto& adapter : layer->output->adapters())
    if (auto shift = std::dynamic_pointer_cast<AdapterBiasL0Shift>(adapter)) return shift;
  return nullptr;
}

void AdapterBiasL0::inject(BertModel& model) {
  const BertConfig& c = model->config();
  for (auto& layer : model->encoder->layers)
    layer->output->add_adapter("adapter_bias", std::make_shared<AdapterBiasL0Shift>(c.hidden_size, c.intermediate_size,
                                                                                   config_.init_log_alpha));
}

std::vector<TrainableTensor> AdapterBiasL0::trainable(BertModel& model) const {
  std::vector<TrainableTensor> out = AdapterBias(AdapterBiasConfig{}).trainable(model);
  for (size_t l = 0; l < model->encoder->layers.size(); ++l) {
    const auto shift = shift_of(model->encoder->layers[l]);
    TORCH_CHECK(shift, "AdapterBiasL0 is not injected into layer ", l);
    const std::string prefix = fmt::format("encoder.layer.{}.output.adapter_bias.", l);
    out.push_back({prefix + "v_log_alpha", shift->v_log_alpha, false, config_.gate_lr_scale});
    out.push_back({prefix + "alpha_weight_log_alpha", shift->alpha_weight_log_alpha, false, config_.gate_lr_scale});
  }
  return out;
}

void AdapterBiasL0::merge(BertModel& model) {
  {
    torch::NoGradGuard no_grad;
    for (auto& layer : model->encoder->layers) {
      const auto shift = shift_of(layer);
      TORCH_CHECK(shift, "AdapterBiasL0 is not injected");
      shift->v.copy_(shift->eval_v());
      shift->alpha->weight.copy_(shift->eval_alpha_weight());
    }
  }
  AdapterBias(AdapterBiasConfig{}).merge(model);
}

at::Tensor AdapterBiasL0::regularization(BertModel& model) const {
  if (config_.l0 == 0.0) return {};
  at::Tensor sum;
  int64_t n = 0;
  for (auto& layer : model->encoder->layers) {
    const auto shift = shift_of(layer);
    TORCH_CHECK(shift, "AdapterBiasL0 is not injected");
    for (const at::Tensor& la : {shift->v_log_alpha, shift->alpha_weight_log_alpha}) {
      const at::Tensor s = l0::probability_open(la).sum();
      sum = sum.defined() ? sum + s : s;
      n += la.numel();
    }
  }
  return sum * (config_.l0 / static_cast<double>(n));
}

SavedMethod AdapterBiasL0::saved(BertModel& model) const {
  std::map<std::string, at::Tensor> gated;
  int64_t gated_parameters = 0, nonzero_gated = 0;
  for (size_t l = 0; l < model->encoder->layers.size(); ++l) {
    const auto shift = shift_of(model->encoder->layers[l]);
    TORCH_CHECK(shift, "AdapterBiasL0 is not injected into layer ", l);
    const std::string prefix = fmt::format("encoder.layer.{}.output.adapter_bias.", l);
    for (auto [name, t] : {std::pair{prefix + "v", shift->eval_v()}, std::pair{prefix + "alpha.weight", shift->eval_alpha_weight()}}) {
      gated_parameters += t.numel();
      nonzero_gated += at::count_nonzero(t).item<int64_t>();
      gated[name] = t;
    }
  }
  const AdapterBias plain(AdapterBiasConfig{});
  SavedMethod out{plain.name(), plain.options(), plain.trainable(model)};
  int64_t nonzero = 0;
  for (auto& t : out.tensors) {
    if (const auto it = gated.find(t.name); it != gated.end()) t.tensor = it->second;
    nonzero += at::count_nonzero(t.tensor.detach()).item<int64_t>();
  }
  out.notes = {{"trained_as", name()},
               {"l0", config_.l0},
               {"init_log_alpha", config_.init_log_alpha},
               {"gate_lr_scale", config_.gate_lr_scale},
               {"gated_parameters", gated_parameters},
               {"nonzero_gated_parameters", nonzero_gated},
               {"nonzero_parameters", nonzero}};
  for (const auto& [name, tensor] : gated) out.sparse.insert(name);
  return out;
}

}  // namespace adapterbias
