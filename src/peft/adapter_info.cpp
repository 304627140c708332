#include "peft/adapter_info.h"

#include <set>
#include <type_traits>

#include <fmt/format.h>

#include "core/error.h"

namespace adapterbias {
namespace {

template <typename T>
T field(const nlohmann::json& json, const char* key, const std::string& source) {
  if (!json.contains(key)) throw FormatError(fmt::format("{}: adapter metadata has no field '{}'", source, key));
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
    if (!json.at(key).is_number_integer())
      throw FormatError(fmt::format("{}: adapter metadata field '{}' must be an integer", source, key));
  try {
    return json.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw FormatError(fmt::format("{}: adapter metadata field '{}' has the wrong type", source, key));
  }
}

// An optional field: `fallback` when absent or null.
template <typename T>
T optional_field(const nlohmann::json& json, const char* key, T fallback, const std::string& source) {
  if (!json.contains(key) || json.at(key).is_null()) return fallback;
  return field<T>(json, key, source);
}

// An optional field holding a JSON object.
nlohmann::json object_field(const nlohmann::json& json, const char* key, const std::string& source) {
  const nlohmann::json value = optional_field(json, key, nlohmann::json::object(), source);
  if (!value.is_object())
    throw FormatError(fmt::format("{}: adapter metadata field '{}' must be an object", source, key));
  return value;
}

}  // namespace

nlohmann::json AdapterInfo::to_json() const {
  return {{"format_version", kAdapterFormatVersion},
          {"method", method},
          {"method_options", method_options},
          {"task", task},
          {"labels", labels},
          {"regression", regression},
          {"max_length", max_length},
          {"pooling", pooling},
          {"backbone", backbone},
          {"trainable_parameters", trainable_parameters},
          {"backbone_parameters", backbone_parameters},
          {"trainable_share", backbone_parameters > 0 ? double(trainable_parameters) / backbone_parameters : 0.0},
          {"metrics", metrics},
          {"training", training}};
}

AdapterInfo AdapterInfo::from_json(const nlohmann::json& json, const std::string& source) {
  if (!json.is_object()) throw FormatError(fmt::format("{}: adapter metadata is not a JSON object", source));
  const int version = field<int>(json, "format_version", source);
  if (version != kAdapterFormatVersion)
    throw FormatError(fmt::format("{}: adapter format version {} is not supported (this build reads {})", source,
                                  version, kAdapterFormatVersion));
  AdapterInfo info;
  info.method = field<std::string>(json, "method", source);
  info.method_options = object_field(json, "method_options", source);
  info.task = field<std::string>(json, "task", source);
  info.labels = field<std::vector<std::string>>(json, "labels", source);
  info.regression = field<bool>(json, "regression", source);
  info.max_length = field<int64_t>(json, "max_length", source);
  info.pooling = optional_field(json, "pooling", std::string("pooler"), source);  // files before it: the pooler
  if (info.pooling != "pooler" && info.pooling != "cls" && info.pooling != "mean")
    throw FormatError(fmt::format("{}: adapter metadata field 'pooling' is '{}'; expected pooler, cls or mean", source,
                                  info.pooling));
  info.backbone = object_field(json, "backbone", source);
  if (!json.contains("backbone")) throw FormatError(fmt::format("{}: adapter metadata has no field 'backbone'", source));
  info.trainable_parameters = optional_field(json, "trainable_parameters", int64_t{0}, source);
  info.backbone_parameters = optional_field(json, "backbone_parameters", int64_t{0}, source);
  info.metrics = object_field(json, "metrics", source);
  info.training = object_field(json, "training", source);
  if (!info.regression && info.labels.size() < 2)
    throw FormatError(fmt::format("{}: a classification adapter needs at least 2 labels", source));
  std::set<std::string> seen;
  for (const std::string& label : info.labels) {
    if (!seen.insert(label).second)
      throw FormatError(fmt::format("{}: adapter metadata lists label '{}' twice", source, label));
    if (label.empty() || label.find_first_of("\t\r\n") != std::string::npos)
      throw FormatError(fmt::format("{}: adapter label {} is empty or holds a tab or line break", source,
                                    nlohmann::json(label).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
  }
  if (info.max_length <= 0)
    throw FormatError(fmt::format("{}: adapter metadata max_length {} is not a positive length", source, info.max_length));
  return info;
}

}  // namespace adapterbias
