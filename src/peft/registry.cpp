// The registry of PEFT methods: one line per method (docs/adding-a-method.md).
#include <functional>
#include <map>

#include <fmt/ranges.h>

#include "core/error.h"
#include "peft/adapter_bias.h"
#include "peft/adapter_bias_l0.h"
#include "peft/bitfit.h"
#include "peft/full.h"
#include "peft/head_only.h"
#include "peft/houlsby.h"
#include "peft/lora.h"
#include "peft/method.h"

namespace adapterbias {
namespace {

using Factory = std::function<std::unique_ptr<PeftMethod>(const nlohmann::json&)>;

const std::map<std::string, Factory, std::less<>>& registry() {
  static const std::map<std::string, Factory, std::less<>> methods = {
      {"adapterbias", [](const nlohmann::json& o) { return std::make_unique<AdapterBias>(AdapterBiasConfig::from_json(o)); }},
      {"adapterbias-l0", [](const nlohmann::json& o) { return std::make_unique<AdapterBiasL0>(AdapterBiasL0Config::from_json(o)); }},
      {"adapterbias-shared",
       [](const nlohmann::json& o) {
         auto config = AdapterBiasConfig::from_json(o);
         config.share_alpha = true;
         return std::make_unique<AdapterBias>(config);
       }},
      {"bitfit", [](const nlohmann::json& o) { return std::make_unique<BitFit>(BitFitConfig::from_json(o)); }},
      {"full", [](const nlohmann::json& o) { return std::make_unique<FullFineTuning>(FullConfig::from_json(o)); }},
      {"head", [](const nlohmann::json& o) { return std::make_unique<HeadOnly>(HeadOnlyConfig::from_json(o)); }},
      {"houlsby", [](const nlohmann::json& o) { return std::make_unique<Houlsby>(HoulsbyConfig::from_json(o)); }},
      {"lora", [](const nlohmann::json& o) { return std::make_unique<Lora>(LoraConfig::from_json(o)); }},
  };
  return methods;
}

}  // namespace

void PeftMethod::merge(BertModel&) {
  throw InputError(fmt::format("method '{}' cannot be merged into the backbone", name()));
}

SavedMethod PeftMethod::saved(BertModel& model) const { return {name(), options(), trainable(model)}; }

std::unique_ptr<PeftMethod> make_peft_method(std::string_view name, const nlohmann::json& options) {
  const auto it = registry().find(name);
  if (it == registry().end())
    throw InputError(fmt::format("unknown method '{}' (known: {})", name, fmt::join(peft_method_names(), ", ")));
  return it->second(options);
}

std::vector<std::string> peft_method_names() {
  std::vector<std::string> names;
  for (const auto& [name, factory] : registry()) names.push_back(name);
  return names;
}

void append_output_layer_norms(BertModel& model, std::vector<TrainableTensor>& out) {
  out.push_back({"embeddings.LayerNorm.weight", model->embeddings->LayerNorm->weight, false});
  out.push_back({"embeddings.LayerNorm.bias", model->embeddings->LayerNorm->bias, false});
  for (size_t l = 0; l < model->encoder->layers.size(); ++l) {
    auto& norm = model->encoder->layers[l]->output->LayerNorm;
    out.push_back({fmt::format("encoder.layer.{}.output.LayerNorm.weight", l), norm->weight, false});
    out.push_back({fmt::format("encoder.layer.{}.output.LayerNorm.bias", l), norm->bias, false});
  }
}

}  // namespace adapterbias
