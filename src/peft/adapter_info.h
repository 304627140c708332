// The JSON document an adapter file carries (peft/adapter_file.h): method and options, task and labels, max
// length, the backbone's identity, parameter counts, metrics. Torch-free, so that its parser builds into the
// fuzz targets.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace adapterbias {

inline constexpr int kAdapterFormatVersion = 1;

struct AdapterInfo {
  std::string method = "adapterbias";
  nlohmann::json method_options = nlohmann::json::object();
  std::string task;                 // GLUE name or the user's task name
  std::vector<std::string> labels;  // class names in output order; empty for regression
  bool regression = false;
  int64_t max_length = 128;
  std::string pooling = "pooler";  // what the head reads: "pooler", "cls" or "mean" (model/pooling.h)
  nlohmann::json backbone = nlohmann::json::object();  // backbone_identity()
  int64_t trainable_parameters = 0;
  int64_t backbone_parameters = 0;
  nlohmann::json metrics = nlohmann::json::object();   // dev metrics of the saved tensors
  nlohmann::json training = nlohmann::json::object();  // the options it was trained with

  int64_t num_labels() const { return regression ? 1 : static_cast<int64_t>(labels.size()); }
  nlohmann::json to_json() const;
  static AdapterInfo from_json(const nlohmann::json& json, const std::string& source);
};

}  // namespace adapterbias
