#include "train/train_state.h"

#include <cmath>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "core/error.h"
#include "core/safetensors.h"

namespace adapterbias {
namespace {

constexpr const char* kMetadataKey = "adapterbias.train_state";

// JSON has no NaN: nlohmann writes null, which reads back as NaN here.
double number(const nlohmann::json& value) { return value.is_null() ? std::nan("") : value.get<double>(); }

}  // namespace

nlohmann::json metric_to_json(const MetricResult& metric) {
  nlohmann::json values = nlohmann::json::array();
  for (const auto& [name, value] : metric.values) values.push_back({name, value});
  return {{"values", values}, {"primary_name", metric.primary_name}, {"primary", metric.primary}};
}

MetricResult metric_from_json(const nlohmann::json& json) {
  MetricResult metric;
  for (const auto& pair : json.at("values")) metric.values.emplace_back(pair.at(0).get<std::string>(), number(pair.at(1)));
  metric.primary_name = json.at("primary_name").get<std::string>();
  metric.primary = number(json.at("primary"));
  return metric;
}

void save_train_state(const std::filesystem::path& path, const TrainState& state) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  nlohmann::json adamw_steps = nlohmann::json::object();
  for (const auto& [name, tensor] : state.trained) tensors.emplace_back("trained/" + name, tensor);
  for (const auto& [name, moments] : state.adamw) {
    tensors.emplace_back("adamw/" + name + "/exp_avg", moments.exp_avg);
    tensors.emplace_back("adamw/" + name + "/exp_avg_sq", moments.exp_avg_sq);
    adamw_steps[name] = moments.step;
  }
  tensors.emplace_back("rng/cpu", state.rng_cpu);
  tensors.emplace_back("loss_total", state.loss_total);
  std::vector<std::string> trained_names;
  for (const auto& [name, tensor] : state.trained) trained_names.push_back(name);
  const TrainProgress& p = state.progress;
  const nlohmann::json progress = {
      {"step", p.step},         {"total_steps", p.total_steps}, {"epoch", p.epoch},
      {"batch_in_epoch", p.batch_in_epoch}, {"loss_count", p.loss_count}, {"tokens", p.tokens},
      {"evals_since_best", p.evals_since_best}, {"step_seconds", p.step_seconds},
      {"elapsed_seconds", p.elapsed_seconds}, {"has_best", p.has_best}, {"best", metric_to_json(p.best)},
      {"best_step", p.best_step}, {"finished", p.finished}, {"metrics", p.metrics}};
  const nlohmann::json meta = {{"format_version", kTrainStateVersion}, {"progress", progress},
                               {"options", state.options},             {"data", state.data},
                               {"command", state.command},             {"trained", trained_names},
                               {"adamw_steps", adamw_steps}};
  save_safetensors(path, tensors, {{kMetadataKey, meta.dump()}});
}

TrainState load_train_state(const std::filesystem::path& path) {
  const SafetensorsFile file = SafetensorsFile::open(path);
  const auto it = file.metadata().find(kMetadataKey);
  if (it == file.metadata().end())
    throw FormatError(fmt::format("{}: not a training checkpoint (no '{}' metadata)", path.string(), kMetadataKey));
  TrainState state;
  std::string field;
  auto tensor = [&](const std::string& name) {
    if (!file.contains(name)) throw FormatError(fmt::format("{}: checkpoint has no tensor '{}'", path.string(), name));
    at::Tensor t = file.get(name).clone();  // own the bytes: the mapping goes away with `file`
    if (t.is_floating_point() && !at::isfinite(t).all().item<bool>())
      throw FormatError(fmt::format("{}: checkpoint tensor '{}' holds NaN or infinite values", path.string(), name));
    return t;
  };
  try {
    const nlohmann::json meta = nlohmann::json::parse(it->second);
    auto get = [&](const char* key) -> const nlohmann::json& {
      field = key;
      return meta.at(key);
    };
    if (get("format_version").get<int>() != kTrainStateVersion)
      throw FormatError(fmt::format("{}: checkpoint format version {} (this build reads {})", path.string(),
                                    meta.at("format_version").dump(), kTrainStateVersion));
    const nlohmann::json& progress = get("progress");
    auto field_of = [&](const char* key) -> const nlohmann::json& {
      field = fmt::format("progress.{}", key);
      return progress.at(key);
    };
    TrainProgress& p = state.progress;
    p.step = field_of("step").get<int64_t>();
    p.total_steps = field_of("total_steps").get<int64_t>();
    p.epoch = field_of("epoch").get<int64_t>();
    p.batch_in_epoch = field_of("batch_in_epoch").get<int64_t>();
    p.loss_count = field_of("loss_count").get<int64_t>();
    p.tokens = field_of("tokens").get<int64_t>();
    p.evals_since_best = field_of("evals_since_best").get<int64_t>();
    p.step_seconds = number(field_of("step_seconds"));
    p.elapsed_seconds = number(field_of("elapsed_seconds"));
    p.has_best = field_of("has_best").get<bool>();
    p.best = metric_from_json(field_of("best"));
    p.best_step = field_of("best_step").get<int64_t>();
    p.finished = field_of("finished").get<bool>();
    p.metrics = field_of("metrics").get<std::vector<nlohmann::json>>();
    state.options = get("options");
    state.data = get("data");
    state.command = get("command");
    for (const auto& name : get("trained").get<std::vector<std::string>>())
      state.trained.emplace_back(name, tensor("trained/" + name));
    for (const auto& [name, step] : get("adamw_steps").items())
      state.adamw[name] = {step.get<int64_t>(), tensor("adamw/" + name + "/exp_avg"),
                           tensor("adamw/" + name + "/exp_avg_sq")};
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(fmt::format("{}: checkpoint metadata field '{}': {}", path.string(), field, e.what()));
  }
  state.rng_cpu = tensor("rng/cpu");
  state.loss_total = tensor("loss_total");
  if (state.rng_cpu.scalar_type() != at::kByte || state.loss_total.scalar_type() != at::kDouble ||
      state.loss_total.numel() != 1)
    throw FormatError(fmt::format("{}: checkpoint tensors 'rng/cpu' (U8) or 'loss_total' (F64, 1 value) malformed",
                                  path.string()));
  const TrainProgress& p = state.progress;
  if (p.step < 0 || p.step > p.total_steps || p.epoch < 1 || p.batch_in_epoch < 0)
    throw FormatError(fmt::format("{}: checkpoint position (epoch {}, batch {}, step {} of {}) is impossible",
                                  path.string(), p.epoch, p.batch_in_epoch, p.step, p.total_steps));
  return state;
}

}  // namespace adapterbias
