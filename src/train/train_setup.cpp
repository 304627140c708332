#include "train/train_setup.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "core/error.h"
#include "data/batching.h"
#include "data/metrics.h"

namespace adapterbias {

TrainData read_train_data(const DataSource& source, int64_t max_train_examples, double dev_fraction, uint64_t seed) {
  TrainData data;
  data.task = resolve_task(source);
  data.train = read_split(source, data.task, "train", max_train_examples);
  if (dev_fraction > 0) {
    const HoldOut split = hold_out(static_cast<int64_t>(data.train.size()), dev_fraction, seed);
    data.dev = subset(data.train, split.dev);
    data.train = subset(data.train, split.train);
    data.dev_held_out = true;
  } else if (source.is_glue() || !source.dev_file.empty()) {
    data.dev = read_split(source, data.task, "dev");
  }
  return data;
}

TaskModelSetup build_task_model(Pretrained& pretrained, const TaskSpec& task, const MethodChoice& choice,
                                int64_t max_length, uint64_t seed, const Compute& compute) {
  pretrained.config.checked_max_length(max_length, "--max-length");
  if (choice.dropout >= 0) pretrained.model->set_dropout(choice.dropout);
  at::manual_seed(seed);
  AdapterInfo info;
  info.task = task.name;
  info.labels = task.labels;
  info.regression = task.regression;
  info.max_length = max_length;
  info.pooling = pooling_name(choice.pooling);
  info.backbone = backbone_identity(pretrained);

  std::unique_ptr<PeftMethod> method;
  std::optional<AdapterFile> init;
  if (!choice.init_adapter.empty()) {
    init = read_adapter(choice.init_adapter);
    check_adapter_backbone(init->info, pretrained, choice.init_adapter);
    check_adapter_outputs(init->info, task, choice.init_adapter);
    method = make_peft_method(init->info.method, init->info.method_options);
    info.pooling = init->info.pooling;
  } else {
    method = make_peft_method(choice.method, choice.options);
  }
  info.method = method->name();
  info.method_options = method->options();
  TaskModel model(pretrained.model, std::move(method), task.num_labels(), choice.dropout >= 0 ? choice.dropout : 0.5,
                  parse_pooling(info.pooling));
  if (init) load_trainable(model, init->tensors, choice.init_adapter.string());
  model.set_compute(compute);
  return {std::move(model), std::move(info)};
}

nlohmann::json train_summary(const TrainResult& result, const TrainData& data, const TaskModelSetup& setup,
                             const Pretrained& pretrained, int world_size) {
  const Compute& compute = setup.model.compute();
  const auto adapter_bytes = std::filesystem::file_size(result.adapter_path);
  uintmax_t backbone_bytes = 0;
  for (const char* f : {"model.safetensors", "pytorch_model.bin"})
    if (std::filesystem::exists(pretrained.dir / f)) {
      backbone_bytes = std::filesystem::file_size(pretrained.dir / f);
      break;
    }
  nlohmann::json summary = {{"task", data.task.name},
                            {"best_step", result.best_step},
                            {"steps", result.steps},
                            {"stopped_early", result.stopped_early},
                            {"train_seconds", result.seconds},
                            {"train_step_seconds", result.step_seconds},
                            {"train_tokens_per_s", result.tokens_per_second},
                            {"device", compute.device.str()},
                            {"precision", compute.bf16() ? "bf16" : "fp32"},
                            {"world_size", world_size},
                            {"allreduce_seconds", result.allreduce_seconds},
                            {"allreduce_bytes_per_step", result.allreduce_bytes_per_step},
                            {"adapter", result.adapter_path.string()},
                            {"last_adapter", result.last_path.string()},
                            {"adapter_bytes", adapter_bytes},
                            {"backbone_bytes", backbone_bytes},
                            {"trainable_parameters", setup.model.num_trainable()},
                            {"backbone_parameters", setup.model.num_backbone_parameters()},
                            {"method", setup.info.method},
                            {"dev_metric", result.best.primary_name},
                            {"dev_primary", result.best.primary}};
  for (const auto& [name, value] : result.best.values) summary["dev_" + name] = value;
  if (const nlohmann::json notes = result.adapter_metadata.value("method_notes", nlohmann::json::object());
      !notes.empty()) {
    summary["method_notes"] = notes;
    if (notes.contains("nonzero_parameters")) summary["nonzero_parameters"] = notes.at("nonzero_parameters");
  }
  if (!data.dev.examples.empty()) {
    const Baseline baseline = constant_baseline(data.task, data.train.examples, data.dev.examples);
    summary["baseline"] = baseline.description;
    for (const auto& [name, value] : baseline.metrics.values) summary["baseline_dev_" + name] = value;
  }
  return summary;
}

}  // namespace adapterbias
