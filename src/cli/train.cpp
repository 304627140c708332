// adapterbias train --model DIR --task NAME --data DIR --out DIR [--method NAME] [...]: trains AdapterBias (or
// another registered method: adapterbias-l0, bitfit, houlsby, lora, full, head) on a task and keeps the best adapter by the task's
// metric. Method options come from their own flags (--share-alpha, --bottleneck, --lora-r, --lora-alpha, --l0,
// --l0-init, --l0-gate-lr-scale). Checkpoints in OUT/checkpoint/ let `--resume OUT` continue an interrupted run;
// `--nproc N` or torchrun's environment trains data-parallel.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.h"
#include "cli/launch.h"
#include "cli/common.h"
#include "core/error.h"
#include "data/metrics.h"
#include "model/checkpoint.h"
#include "peft/adapter_file.h"
#include "core/progress.h"
#include "data/batching.h"
#include "train/distributed.h"
#include "train/train_setup.h"
#include "train/train_state.h"
#include "train/trainer.h"

namespace adapterbias::cli {
namespace {

struct TrainArgs {
  std::string model;
  DataSource data;
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
  std::string pooling;  // empty: the pooler, or the init adapter's
  bool no_shuffle = false;
  RunArgs run;
  std::string layout = "packed";
  double dev_fraction = 0.0;
  std::string resume;
  bool overwrite = false;
  int nproc = 1;
  double dist_timeout = 300.0;
};

// Run options that may be given again with --resume (everything else comes from the checkpoint).
const std::vector<std::string> kResumeOptions = {"--resume", "--threads", "--device", "--precision", "--nproc",
                                                 "--dist-timeout", "--save-every"};

std::string absolute_path(const std::string& path) {
  if (path.empty() || !std::filesystem::exists(path)) return path;  // e.g. a packaged model name
  return std::filesystem::absolute(path).lexically_normal().string();
}

// The run's arguments as the checkpoint keeps them for --resume, with paths made absolute so that the run can
// be resumed from another folder.
nlohmann::json command_json(const TrainArgs& a, const Compute& compute) {
  const TrainOptions& t = a.train;
  nlohmann::json json = {
      {"model", absolute_path(a.model)}, {"out", std::filesystem::absolute(a.out).lexically_normal().string()}, {"method", a.method},
      {"share_alpha", a.share_alpha}, {"epochs", t.epochs}, {"batch_size", t.batch_size}, {"lr", t.lr},
      {"max_length", t.max_length}, {"seed", t.seed}, {"warmup", t.warmup}, {"weight_decay", t.weight_decay},
      {"max_grad_norm", t.max_grad_norm}, {"eval_every", t.eval_every}, {"max_steps", t.max_steps},
      {"save_every", t.save_every}, {"early_stopping", t.early_stopping}, {"dropout", a.dropout},
      {"max_train_examples", a.max_train_examples}, {"init_adapter", absolute_path(a.init_adapter)},
      {"no_shuffle", a.no_shuffle}, {"layout", a.layout}, {"dev_fraction", a.dev_fraction},
      {"threads", a.run.threads}, {"device", compute.device.str()}, {"precision", compute.bf16() ? "bf16" : "fp32"},
      {"dist_timeout", a.dist_timeout}};
  DataSource data = a.data;
  for (std::string* path : {&data.data, &data.train_file, &data.dev_file, &data.test_file}) *path = absolute_path(*path);
  json.update(data.to_json());
  auto optional = [&](const char* key, const auto& value) {
    if (value) json[key] = *value;
  };
  optional("bottleneck", a.bottleneck);
  optional("lora_r", a.lora_r);
  optional("lora_alpha", a.lora_alpha);
  optional("l0", a.l0);
  optional("l0_init", a.l0_init);
  optional("l0_gate_lr_scale", a.l0_gate_lr_scale);
  if (!a.pooling.empty()) json["pooling"] = a.pooling;
  return json;
}

TrainArgs args_from_command(const nlohmann::json& json, const std::filesystem::path& source) {
  TrainArgs a;
  try {
    a.model = json.at("model");
    a.data = DataSource::from_json(json);
    a.out = json.at("out");
    a.method = json.at("method");
    a.share_alpha = json.at("share_alpha");
    TrainOptions& t = a.train;
    t.epochs = json.at("epochs");
    t.batch_size = json.at("batch_size");
    t.lr = json.at("lr");
    t.max_length = json.at("max_length");
    t.seed = json.at("seed");
    t.warmup = json.at("warmup");
    t.weight_decay = json.at("weight_decay");
    t.max_grad_norm = json.at("max_grad_norm");
    t.eval_every = json.at("eval_every");
    t.max_steps = json.at("max_steps");
    t.save_every = json.at("save_every");
    t.early_stopping = json.at("early_stopping");
    a.dropout = json.at("dropout");
    a.max_train_examples = json.at("max_train_examples");
    a.init_adapter = json.at("init_adapter");
    a.no_shuffle = json.at("no_shuffle");
    a.layout = json.at("layout");
    a.dev_fraction = json.at("dev_fraction");
    a.run.threads = json.at("threads");
    a.run.device = json.at("device");
    a.run.precision = json.at("precision");
    a.dist_timeout = json.at("dist_timeout");
    if (json.contains("bottleneck")) a.bottleneck = json.at("bottleneck").get<int64_t>();
    if (json.contains("lora_r")) a.lora_r = json.at("lora_r").get<int64_t>();
    if (json.contains("lora_alpha")) a.lora_alpha = json.at("lora_alpha").get<double>();
    if (json.contains("l0")) a.l0 = json.at("l0").get<double>();
    if (json.contains("l0_init")) a.l0_init = json.at("l0_init").get<double>();
    if (json.contains("l0_gate_lr_scale")) a.l0_gate_lr_scale = json.at("l0_gate_lr_scale").get<double>();
    if (json.contains("pooling")) a.pooling = json.at("pooling").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(fmt::format("{}: the checkpoint's command is incomplete: {}", source.string(), e.what()));
  }
  return a;
}

// --resume DIR: the arguments the run was started with, with the run options given now on top.
TrainArgs resumed_args(const TrainArgs& given, const CLI::App& sub, const TrainState& checkpoint) {
  for (const CLI::Option* option : sub.get_options()) {
    if (option->count() == 0 || option->get_name().empty() || option->get_name() == "--help") continue;
    if (std::find(kResumeOptions.begin(), kResumeOptions.end(), option->get_name()) == kResumeOptions.end())
      throw InputError(fmt::format("--resume continues a run with the options it was started with; {} cannot be "
                                   "given with it (only {})",
                                   option->get_name(), fmt::join(kResumeOptions.begin() + 1, kResumeOptions.end(), ", ")));
  }
  if (checkpoint.command.contains("python"))
    throw InputError(fmt::format("--resume {}: the run was started from Python; continue it there with "
                                 "adapterbias.train(backbone, resume=\"{}\")",
                                 given.resume, given.resume));
  TrainArgs args = args_from_command(checkpoint.command, RunFiles(given.resume).checkpoint());
  auto given_option = [&](const char* name) { return sub.get_option(name)->count() > 0; };
  if (given_option("--threads")) args.run.threads = given.run.threads;
  if (given_option("--device")) args.run.device = given.run.device;
  if (given_option("--precision")) args.run.precision = given.run.precision;
  if (given_option("--dist-timeout")) args.dist_timeout = given.dist_timeout;
  if (given_option("--save-every")) args.train.save_every = given.train.save_every;
  args.nproc = given.nproc;
  args.out = given.resume;
  args.resume = given.resume;
  return args;
}

// SIGINT/SIGTERM ask the trainer to checkpoint and stop; a second Ctrl-C ends the program at once. (A SIGTERM
// after a Ctrl-C is the --nproc launcher passing the same stop on: it changes nothing.)
std::atomic<int> g_stop{0};

void on_stop_signal(int signal) {
  int first = 0;
  if (!g_stop.compare_exchange_strong(first, signal) && first == SIGINT && signal == SIGINT) std::_Exit(128 + signal);
}

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

// The progress bar of each epoch and a line per evaluation, on stderr.
class ConsoleSink : public TrainSink {
 public:
  void epoch_started(int64_t epoch, int64_t steps) override {
    epoch_ = epoch;
    remaining_ = steps;
    progress_ = std::make_unique<Progress>(steps, fmt::format("epoch {}", epoch));
  }
  void stepped(int64_t tokens, double running_loss) override {
    --remaining_;
    if (!progress_) progress_ = std::make_unique<Progress>(remaining_ + 1, fmt::format("epoch {}", epoch_));
    progress_->advance(1, tokens, fmt::format("loss {:.4f}", running_loss));
  }
  void epoch_finished() override { progress_.reset(); }
  void evaluating() override { progress_.reset(); }  // mid-epoch: the bar continues on a new line after it
  void evaluated(const EvalRecord& record, bool best) override {
    std::fprintf(stderr, "epoch %ld step %ld: train loss %.4f, dev %s%s\n", static_cast<long>(record.epoch),
                 static_cast<long>(record.step), record.train_loss, record.dev.to_string().c_str(), best ? " (best)" : "");
  }

 private:
  int64_t epoch_ = 0, remaining_ = 0;
  std::unique_ptr<Progress> progress_;
};

std::vector<std::string> worker_arguments() {
  std::vector<std::string> arguments;
  const auto& all = program_arguments();
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i] == "--nproc") {
      ++i;
    } else if (all[i].rfind("--nproc=", 0) != 0) {
      arguments.push_back(all[i]);
    }
  }
  return arguments;
}



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

void run_train(TrainArgs args, const CLI::App& sub) {
  install_stop_handlers();  // from here on a stop request is honoured at the first step
  std::optional<TrainState> checkpoint;
  if (!args.resume.empty()) {
    checkpoint = load_checkpoint(args.resume);
    args = resumed_args(args, sub, *checkpoint);
  }
  if (args.model.empty() || args.out.empty()) throw InputError("train needs --model and --out (or --resume DIR)");
  if (!args.data.test_file.empty())
    throw InputError(fmt::format("--test {}: train does not read a test split; after training, `adapterbias predict "
                                 "--split test --test FILE` writes its predictions", args.data.test_file));
  const std::optional<DistributedEnv> env = distributed_env([](const char* name) { return std::getenv(name); });
  if (args.nproc > 1 && !env) throw ExitStatus{launch_workers(args.nproc, worker_arguments())};
  const int rank = env ? env->rank : 0;
  const bool rank0 = rank == 0;

  const Compute compute = apply_run_options(args.run);
  if (args.layout != "packed" && args.layout != "padded")
    throw InputError(fmt::format("--layout {}: not a batch layout (packed, padded)", args.layout));
  args.train.layout = args.layout == "packed" ? BatchLayout::packed : BatchLayout::padded;
  args.train.shuffle = !args.no_shuffle;
  if (args.resume.empty()) claim_output(args.out, args.overwrite);
  std::unique_ptr<ProcessGroup> group;
  if (env && env->world_size > 1)
    group = ProcessGroup::connect(*env, std::chrono::milliseconds(static_cast<int64_t>(args.dist_timeout * 1000)));

  const TrainData data = read_train_data(args.data, args.max_train_examples, args.dev_fraction, args.train.seed);
  report_skipped_rows({&data.train, &data.dev});
  const TaskSpec& task = data.task;

  Pretrained pretrained = load_pretrained(args.model);
  const auto tokenizer = Tokenizer::from_pretrained(pretrained.dir);
  const MethodChoice choice{.method = args.method,
                            .options = method_options(args),
                            .init_adapter = args.init_adapter,
                            .dropout = args.dropout,
                            .pooling = parse_pooling(args.pooling.empty() ? "pooler" : args.pooling)};
  TaskModelSetup setup = build_task_model(pretrained, task, choice, args.train.max_length, args.train.seed, compute);
  TaskModel& model = setup.model;
  const AdapterInfo& info = setup.info;

  const int64_t trainable = model.num_trainable();
  int64_t all = model.classifier->weight.numel() + model.classifier->bias.numel();  // backbone, injected, head
  for (const auto& p : model.backbone->parameters()) all += p.numel();
  if (rank0) {
    std::fprintf(stderr, "task %s: %zu train, %zu dev examples%s; method %s %s\n", task.name.c_str(),
                 data.train.size(), data.dev.size(), data.dev_held_out ? " (dev held out of train)" : "",
                 info.method.c_str(), info.method_options.dump().c_str());
    std::fprintf(stderr, "trainable params: %ld || all params: %ld || trainable%%: %.4f\n", static_cast<long>(trainable),
                 static_cast<long>(all), 100.0 * trainable / all);
    if (data.dev.examples.empty())
      std::fprintf(stderr, "no dev set (--dev FILE or --dev-fraction F): no evaluation; adapter.safetensors is the last\n");
    if (group) std::fprintf(stderr, "data parallel: %d ranks (Gloo)\n", group->world_size());
  }

  ConsoleSink console;
  Trainer trainer(model, *tokenizer, task, data.train, data.dev, args.train, info, args.out, rank0 ? &console : nullptr,
                  group.get(), command_json(args, compute));
  if (checkpoint) {
    trainer.resume(*checkpoint);
    if (rank0) std::fprintf(stderr, "resuming %s at step %ld\n", args.out.c_str(), static_cast<long>(trainer.step_count()));
  }
  const TrainResult result = trainer.run(&g_stop);
  if (!rank0) return;
  const nlohmann::json summary = train_summary(result, data, setup, pretrained, group ? group->world_size() : 1);
  if (!data.dev.examples.empty())
    std::fprintf(stderr, "best dev %s = %.4f (step %ld)%s; ", result.best.primary_name.c_str(), result.best.primary,
                 static_cast<long>(result.best_step), result.stopped_early ? ", stopped early" : "");
  std::printf("%s\n", summary.dump(2).c_str());
  const uintmax_t adapter_bytes = summary.at("adapter_bytes"), backbone_bytes = summary.at("backbone_bytes");
  std::fprintf(stderr, "adapter %s: %ju bytes, %.3f%% of the backbone's %ju bytes; last: %s\n",
               result.adapter_path.c_str(), adapter_bytes, backbone_bytes ? 100.0 * adapter_bytes / backbone_bytes : 0.0,
               backbone_bytes, result.last_path.c_str());
}

}  // namespace

void setup_train(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  auto* sub = app.add_subcommand("train", "Train a task adapter (AdapterBias by default) on a frozen backbone");
  sub->add_option("--model", args->model, "Checkpoint folder or packaged model name (minilm)");
  add_data_options(sub, args->data);
  sub->add_option("--out", args->out,
                  "Output folder: adapter.safetensors (best by dev metric), last.safetensors, metrics.jsonl, "
                  "checkpoint/");
  sub->add_option("--method", args->method,
                  fmt::format("PEFT method: {}", fmt::join(peft_method_names(), ", ")))->capture_default_str();
  sub->add_flag("--share-alpha", args->share_alpha,
                "adapterbias: one L_alpha shared by all layers (partial weight sharing)");
  sub->add_option("--bottleneck", args->bottleneck, "houlsby: adapter bottleneck size (default 64)")
      ->check(positive());
  sub->add_option("--lora-r", args->lora_r, "lora: rank r (default 8)")->check(positive());
  sub->add_option("--lora-alpha", args->lora_alpha, "lora: alpha; the update is scaled by alpha / r (default 16)")
      ->check(positive());
  sub->add_option("--l0", args->l0,
                  "adapterbias-l0: lambda of the expected-L0 penalty on the hard-concrete gates of v and L_alpha "
                  "(normalised by the gate count; default 0.1; docs/l0.md)")
      ->check(non_negative());
  sub->add_option("--l0-init", args->l0_init,
                  "adapterbias-l0: initial log_alpha of every gate (default 3: all open; eval gates close below -2.4)");
  sub->add_option("--l0-gate-lr-scale", args->l0_gate_lr_scale,
                  "adapterbias-l0: the gates' learning rate as a multiple of --lr (default 1)")
      ->check(positive());
  TrainOptions& t = args->train;
  sub->add_option("--epochs", t.epochs, "Training epochs")->capture_default_str()->check(positive());
  sub->add_option("--batch-size", t.batch_size, "Examples per step")->capture_default_str()->check(positive());
  sub->add_option("--lr", t.lr, "Learning rate (AdamW)")->capture_default_str()->check(non_negative());
  sub->add_option("--max-length", t.max_length, "Truncate inputs to this many tokens")->capture_default_str()->check(positive());
  sub->add_option("--seed", t.seed, "Seed of initialisation, dropout and batch order")->capture_default_str();
  sub->add_option("--warmup", t.warmup, "Linear warmup then decay: a fraction of the steps (<1) or a step count; 0 = constant lr")
      ->capture_default_str()->check(non_negative());
  sub->add_option("--weight-decay", t.weight_decay, "AdamW weight decay on v, L_alpha weights and the head")
      ->capture_default_str()->check(non_negative());
  sub->add_option("--max-grad-norm", t.max_grad_norm, "Clip the gradient norm (0: no clipping)")->capture_default_str();
  sub->add_option("--dropout", args->dropout, "Set every dropout (backbone and head) to P; default: config's, head 0.5")
      ->check(in_range(0.0, 1.0));
  sub->add_option("--eval-every", t.eval_every, "Also evaluate on dev every N steps (0: per epoch only)")->capture_default_str();
  sub->add_option("--max-steps", t.max_steps, "Stop after N steps (0: no limit)")->capture_default_str();
  sub->add_option("--max-train-examples", args->max_train_examples, "Use only the first N training examples")
      ->check(count_or_all());
  sub->add_option("--init-adapter", args->init_adapter, "Start from this adapter file's tensors");
  sub->add_option("--pooling", args->pooling,
                  "What the head reads: pooler (BertModel's pooler_output), cls or mean (the real tokens' mean "
                  "last hidden state); default pooler")
      ->check(CLI::IsMember({"pooler", "cls", "mean"}))->excludes("--init-adapter");
  sub->add_flag("--no-shuffle", args->no_shuffle, "Batches of consecutive examples in file order");
  add_run_options(sub, args->run);
  sub->add_option("--layout", args->layout,
                  "Batch layout: packed (real tokens only) or padded (each row padded to the batch's longest)")
      ->capture_default_str();
  sub->add_option("--save-every", t.save_every, "Also write a checkpoint every N steps (0: at evaluations only)")
      ->capture_default_str()->check(non_negative());
  sub->add_option("--early-stopping", t.early_stopping, "Stop after N evaluations without a better dev metric (0: never)")
      ->capture_default_str()->check(non_negative());
  sub->add_option("--dev-fraction", args->dev_fraction,
                  "Hold out this fraction of the training data (seeded by --seed) as the dev set");
  sub->add_option("--resume", args->resume,
                  "Continue the interrupted run in DIR from DIR/checkpoint, with the options it was started with")
      ->type_name("DIR");
  sub->add_flag("--overwrite", args->overwrite, "Replace an earlier run in --out");
  sub->add_option("--nproc", args->nproc,
                  "Data-parallel training on N local processes (Gloo); under torchrun the environment decides")
      ->capture_default_str()->check(positive());
  sub->add_option("--dist-timeout", args->dist_timeout,
                  "Seconds a data-parallel rank waits for the others (rendezvous and each step) before failing")
      ->capture_default_str()->check(positive());
  sub->callback([args, sub] { run_train(*args, *sub); });
}

}  // namespace adapterbias::cli
