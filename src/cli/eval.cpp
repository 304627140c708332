// adapterbias eval --model DIR --adapter FILE --data DIR [--task NAME] [--split dev]: scores a saved adapter
// on a labeled split and prints the task's metrics as JSON on stdout. The task, its labels and the maximum
// length come from the adapter's metadata unless the flags say otherwise.
#include <cstdio>
#include <memory>

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"       // defines: DataArgs, add_data_options, resolve_task, read_split, apply_run_options
#include "core/error.h"
#include "model/checkpoint.h"  // defines: load_pretrained
#include "peft/adapter_file.h"  // defines: read_adapter, load_task_model
#include "train/inference.h"    // defines: encode_examples, predict_logits, score

namespace adapterbias::cli {
namespace {

struct EvalArgs {
  std::string model;
  std::string adapter;
  DataArgs data;
  std::string split = "dev";
  int64_t batch_size = 64;
  int64_t max_length = 0;  // 0: the adapter's
  RunArgs run;
};

// The task to score on: the adapter's own (GLUE by name, or own data with the adapter's labels) unless --task
// names another; its labels must be the adapter's outputs.
TaskSpec task_for_adapter(DataArgs& data, const AdapterInfo& info, const std::string& adapter_path) {
  if (data.task.empty()) data.task = info.task;
  TaskSpec task;
  if (data.is_glue()) {
    try {
      task = resolve_task(data);
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}; HINT: the adapter's task is '{}': for your own data pass --dev FILE (and "
                                   "--text-column ...)",
                                   e.what(), info.task));
    }
  } else {
    data.regression = info.regression;
    task = resolve_task(data, &info.labels);
  }
  if (task.regression != info.regression || (!task.regression && task.labels != info.labels))
    throw MismatchError(fmt::format("{}: adapter was trained for task '{}' ({}), but task {} needs {}", adapter_path,
                                    info.task,
                                    info.regression ? "regression" : fmt::format("labels [{}]", fmt::join(info.labels, ", ")),
                                    task.name,
                                    task.regression ? "regression" : fmt::format("labels [{}]", fmt::join(task.labels, ", "))));
  return task;
}

void run_eval(EvalArgs args) {
  const Compute compute = apply_run_options(args.run);
  const AdapterFile adapter = read_adapter(args.adapter);
  const TaskSpec task = task_for_adapter(args.data, adapter.info, args.adapter);
  const Dataset data = read_split(args.data, task, args.split);
  if (!data.has_labels)
    throw InputError(fmt::format("{}: split '{}' has no labels to score against", data.path.string(), args.split));

  Pretrained pretrained = load_pretrained(args.model);
  const auto tokenizer = Tokenizer::from_pretrained(pretrained.dir);
  TaskModel model = load_task_model(pretrained, adapter, args.adapter);
  model.set_compute(compute);

  const int64_t max_length = args.max_length > 0 ? args.max_length : adapter.info.max_length;
  const auto encodings = encode_examples(*tokenizer, data.examples, max_length);
  const at::Tensor logits = predict_logits(model, encodings, args.batch_size, tokenizer->pad_token_id(), true);
  const MetricResult metrics = score(task, logits, data.examples);

  nlohmann::ordered_json out = {{"task", task.name},
                                {"split", args.split},
                                {"n", data.size()},
                                {"adapter", args.adapter},
                                {"max_length", max_length}};
  for (const auto& [name, value] : metrics.values) out[name] = value;
  out["primary"] = metrics.primary_name;
  std::printf("%s\n", out.dump(2).c_str());
}

}  // namespace

void setup_eval(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  auto* sub = app.add_subcommand("eval", "Score a saved adapter on a labeled split; prints the metrics as JSON");
  sub->add_option("--model", args->model, "Checkpoint folder or packaged model name (minilm) the adapter was trained on")
      ->required();
  sub->add_option("--adapter", args->adapter, "Adapter file written by `adapterbias train`")->required();
  add_data_options(sub, args->data);
  sub->add_option("--split", args->split, "Split to score: dev, train, dev_matched, dev_mismatched, ...")
      ->capture_default_str();
  sub->add_option("--batch-size", args->batch_size, "Examples per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--max-length", args->max_length, "Truncate inputs to this many tokens (0: the adapter's)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  add_run_options(sub, args->run);
  sub->callback([args] { run_eval(*args); });
}

}  // namespace adapterbias::cli
