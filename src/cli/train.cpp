// adapterbias train --model DIR --task NAME --data DIR --out DIR [--method NAME] [...]: trains AdapterBias (or
// another registered method: adapterbias-l0, bitfit, houlsby, lora, full, head) on a task and keeps the best adapter by the task's
// metric. Method options come from their own flags (--share-alpha, --bottleneck, --lora-r, --lora-alpha, --l0,
// --l0-init, --l0-gate-lr-scale).
#include <cstdio>
#include <memory>
#include <optional>

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "data/metrics.h"
#include "model/checkpoint.h"
#include "peft/adapter_file.h"
#include "train/trainer.h"

namespace adapterbias::cli {
namespace {

struct TrainArgs {
  std::string model;
  DataArgs data;
  std::string out;
  std::string method = "adapterbias";
  bool share_alpha = false;              // adapterbias
  std::optional<int64_t> bottleneck;     // houlsby
  std::optional<int64_t> lora_r;         // lora
  std::optional<double> lora_alpha;      // lora
  std::optional<double> l0;              // adapterbias-l0
  std::optional<double> l0_init;
  std::optional<double> l0_gate_lr_scale;
  TrainOptions train;
  double dropout = -1.0;
  int64_t max_train_examples = -1;
  std::string init_adapter;
  bool no_shuffle = false;
  RunArgs run;
  std::string layout = "packed";
};

// The chosen method's options from its flags. A flag given for a method that does not have it is an error
// (each method's config rejects unknown fields, so only its own flags may reach it).
nlohmann::json method_options(const TrainArgs& args) {
  nlohmann::json options = nlohmann::json::object();
  std::vector<std::string> foreign;
  auto take = [&](bool given, const char* flag, const char* owner, const char* key, const nlohmann::json& value) {
    if (!given) return;
    if (args.method == owner || (args.method == "adapterbias-shared" && std::string_view(owner) == "adapterbias")) {
      options[key] = value;
    } else {
      foreign.push_back(fmt::format("{} (a {} option)", flag, owner));
    }
  };
  take(args.share_alpha, "--share-alpha", "adapterbias", "share_alpha", true);
  take(args.bottleneck.has_value(), "--bottleneck", "houlsby", "bottleneck", args.bottleneck.value_or(0));
  take(args.lora_r.has_value(), "--lora-r", "lora", "r", args.lora_r.value_or(0));
  take(args.lora_alpha.has_value(), "--lora-alpha", "lora", "alpha", args.lora_alpha.value_or(0.0));
  take(args.l0.has_value(), "--l0", "adapterbias-l0", "l0", args.l0.value_or(0.0));
  take(args.l0_init.has_value(), "--l0-init", "adapterbias-l0", "init_log_alpha", args.l0_init.value_or(0.0));
  take(args.l0_gate_lr_scale.has_value(), "--l0-gate-lr-scale", "adapterbias-l0", "gate_lr_scale",
       args.l0_gate_lr_scale.value_or(0.0));
  if (!foreign.empty())
    throw InputError(fmt::format("--method {} does not take {}", args.method, fmt::join(foreign, ", ")));
  return options;
}

void run_train(TrainArgs args) {
  const Compute compute = apply_run_options(args.run);
  if (args.layout != "packed" && args.layout != "padded")
    throw InputError(fmt::format("--layout {}: not a batch layout (packed, padded)", args.layout));
  args.train.layout = args.layout == "packed" ? BatchLayout::packed : BatchLayout::padded;
  args.train.shuffle = !args.no_shuffle;
  const TaskSpec task = resolve_task(args.data);
  const Dataset train = read_split(args.data, task, "train", args.max_train_examples);
  const Dataset dev = read_split(args.data, task, "dev");

  Pretrained pretrained = load_pretrained(args.model);
  const auto tokenizer = Tokenizer::from_pretrained(pretrained.dir);
  if (args.dropout >= 0) pretrained.model->set_dropout(args.dropout);

  at::manual_seed(args.train.seed);
  AdapterInfo info;
  info.task = task.name;
  info.labels = task.labels;
  info.regression = task.regression;
  info.max_length = args.train.max_length;
  info.backbone = backbone_identity(pretrained);

  std::unique_ptr<PeftMethod> method;
  std::optional<AdapterFile> init;
  if (!args.init_adapter.empty()) {
    init = read_adapter(args.init_adapter);
    if (init->info.num_labels() != task.num_labels())
      throw MismatchError(fmt::format("{}: adapter has {} outputs but task {} needs {}", args.init_adapter,
                                      init->info.num_labels(), task.name, task.num_labels()));
    method = make_peft_method(init->info.method, init->info.method_options);
  } else {
    method = make_peft_method(args.method, method_options(args));
  }
  info.method = method->name();
  info.method_options = method->options();
  TaskModel model(pretrained.model, std::move(method), task.num_labels(), args.dropout >= 0 ? args.dropout : 0.5);
  if (init) load_trainable(model, init->tensors, args.init_adapter);
  model.set_compute(compute);

  const int64_t trainable = model.num_trainable();
  int64_t all = model.classifier->weight.numel() + model.classifier->bias.numel();  // backbone, injected, head
  for (const auto& p : model.backbone->parameters()) all += p.numel();
  std::fprintf(stderr, "task %s: %zu train, %zu dev examples; method %s %s\n", task.name.c_str(), train.size(), dev.size(),
               info.method.c_str(), info.method_options.dump().c_str());
  std::fprintf(stderr, "trainable params: %ld || all params: %ld || trainable%%: %.4f\n", static_cast<long>(trainable),
               static_cast<long>(all), 100.0 * trainable / all);

  const TrainResult result = train_task_model(model, *tokenizer, task, train, dev, args.train, info, args.out);
  const auto adapter_bytes = std::filesystem::file_size(result.adapter_path);
  uintmax_t backbone_bytes = 0;
  for (const char* f : {"model.safetensors", "pytorch_model.bin"})
    if (std::filesystem::exists(pretrained.dir / f)) {
      backbone_bytes = std::filesystem::file_size(pretrained.dir / f);
      break;
    }
  nlohmann::json summary = {{"task", task.name},
                            {"best_step", result.best_step},
                            {"steps", result.steps},
                            {"train_seconds", result.seconds},
                            {"train_step_seconds", result.step_seconds},
                            {"train_tokens_per_s", result.tokens_per_second},
                            {"device", compute.device.str()},
                            {"precision", compute.bf16() ? "bf16" : "fp32"},
                            {"adapter", result.adapter_path.string()},
                            {"adapter_bytes", adapter_bytes},
                            {"backbone_bytes", backbone_bytes},
                            {"trainable_parameters", trainable},
                            {"backbone_parameters", model.num_backbone_parameters()},
                            {"method", info.method},
                            {"dev_metric", result.best.primary_name},
                            {"dev_primary", result.best.primary}};
  for (const auto& [name, value] : result.best.values) summary["dev_" + name] = value;
  if (const nlohmann::json notes = result.adapter_metadata.value("method_notes", nlohmann::json::object());
      !notes.empty()) {
    summary["method_notes"] = notes;
    if (notes.contains("nonzero_parameters")) summary["nonzero_parameters"] = notes.at("nonzero_parameters");
  }
  const Baseline baseline = constant_baseline(task, train.examples, dev.examples);
  summary["baseline"] = baseline.description;
  for (const auto& [name, value] : baseline.metrics.values) summary["baseline_dev_" + name] = value;
  std::printf("%s\n", summary.dump(2).c_str());
  std::fprintf(stderr, "best dev %s = %.4f (step %ld); adapter %s: %ju bytes, %.3f%% of the backbone's %ju bytes\n",
               result.best.primary_name.c_str(), result.best.primary, static_cast<long>(result.best_step),
               result.adapter_path.c_str(), static_cast<uintmax_t>(adapter_bytes),
               backbone_bytes ? 100.0 * adapter_bytes / backbone_bytes : 0.0, static_cast<uintmax_t>(backbone_bytes));
}

}  // namespace

void setup_train(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  auto* sub = app.add_subcommand("train", "Train a task adapter (AdapterBias by default) on a frozen backbone");
  sub->add_option("--model", args->model, "Checkpoint folder or packaged model name (minilm)")->required();
  add_data_options(sub, args->data);
  sub->add_option("--out", args->out, "Output folder: adapter.safetensors, metrics.jsonl")->required();
  sub->add_option("--method", args->method,
                  fmt::format("PEFT method: {}", fmt::join(peft_method_names(), ", ")))->capture_default_str();
  sub->add_flag("--share-alpha", args->share_alpha,
                "adapterbias: one L_alpha shared by all layers (partial weight sharing)");
  sub->add_option("--bottleneck", args->bottleneck, "houlsby: adapter bottleneck size (default 64)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--lora-r", args->lora_r, "lora: rank r (default 8)")->check(CLI::PositiveNumber);
  sub->add_option("--lora-alpha", args->lora_alpha, "lora: alpha; the update is scaled by alpha / r (default 16)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--l0", args->l0,
                  "adapterbias-l0: lambda of the expected-L0 penalty on the hard-concrete gates of v and L_alpha "
                  "(normalised by the gate count; default 0.1; docs/l0.md)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--l0-init", args->l0_init,
                  "adapterbias-l0: initial log_alpha of every gate (default 3: all open; eval gates close below -2.4)");
  sub->add_option("--l0-gate-lr-scale", args->l0_gate_lr_scale,
                  "adapterbias-l0: the gates' learning rate as a multiple of --lr (default 1)")
      ->check(CLI::PositiveNumber);
  TrainOptions& t = args->train;
  sub->add_option("--epochs", t.epochs, "Training epochs")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--batch-size", t.batch_size, "Examples per step")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--lr", t.lr, "Learning rate (AdamW)")->capture_default_str()->check(CLI::NonNegativeNumber);
  sub->add_option("--max-length", t.max_length, "Truncate inputs to this many tokens")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--seed", t.seed, "Seed of initialisation, dropout and batch order")->capture_default_str();
  sub->add_option("--warmup", t.warmup, "Linear warmup then decay: a fraction of the steps (<1) or a step count; 0 = constant lr")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  sub->add_option("--weight-decay", t.weight_decay, "AdamW weight decay on v, L_alpha weights and the head")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  sub->add_option("--max-grad-norm", t.max_grad_norm, "Clip the gradient norm (0: no clipping)")->capture_default_str();
  sub->add_option("--dropout", args->dropout, "Set every dropout (backbone and head) to P; default: config's, head 0.5");
  sub->add_option("--eval-every", t.eval_every, "Also evaluate on dev every N steps (0: per epoch only)")->capture_default_str();
  sub->add_option("--max-steps", t.max_steps, "Stop after N steps (0: no limit)")->capture_default_str();
  sub->add_option("--max-train-examples", args->max_train_examples, "Use only the first N training examples");
  sub->add_option("--init-adapter", args->init_adapter, "Start from this adapter file's tensors");
  sub->add_flag("--no-shuffle", args->no_shuffle, "Batches of consecutive examples in file order");
  add_run_options(sub, args->run);
  sub->add_option("--layout", args->layout,
                  "Batch layout: packed (real tokens only) or padded (each row padded to the batch's longest)")
      ->capture_default_str();
  sub->callback([args] { run_train(*args); });
}

}  // namespace adapterbias::cli
