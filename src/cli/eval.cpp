// adapterbias eval --model DIR --adapter FILE --data DIR [--task NAME] [--split dev]: scores a saved adapter
// on a labeled split and prints the task's metrics as JSON on stdout. The task, its labels and the maximum
// length come from the adapter's metadata unless the flags say otherwise.
#include <cstdio>
#include <memory>

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"       // defines: add_data_options, read_split_reported, apply_run_options
#include "core/error.h"
#include "model/checkpoint.h"  // defines: load_pretrained
#include "peft/adapter_file.h"  // defines: read_adapter, adapter_task, load_adapter_model
#include "train/inference.h"    // defines: evaluate_adapter

namespace adapterbias::cli {
namespace {

struct EvalArgs {
  std::string model;
  std::string adapter;
  DataSource data;
  std::string split = "dev";
  int64_t batch_size = 64;
  int64_t max_length = 0;  // 0: the adapter's
  RunArgs run;
};

void run_eval(EvalArgs args) {
  const Compute compute = apply_run_options(args.run);
  AdapterFile adapter = read_adapter(args.adapter);
  const TaskSpec task = adapter_task(args.data, adapter.info, args.adapter);
  const Dataset data = read_split_reported(args.data, task, args.split);

  LoadedAdapter loaded = load_adapter_model(load_pretrained(args.model), std::move(adapter), args.adapter, compute);
  const nlohmann::ordered_json out =
      evaluate_adapter(loaded, task, data, args.split, args.batch_size, args.max_length, true);
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
  sub->add_option("--batch-size", args->batch_size, "Examples per forward pass")->capture_default_str()->check(positive());
  sub->add_option("--max-length", args->max_length, "Truncate inputs to this many tokens (0: the adapter's)")
      ->capture_default_str()->check(non_negative());
  add_run_options(sub, args->run);
  sub->callback([args] { run_eval(*args); });
}

}  // namespace adapterbias::cli
