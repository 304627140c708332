// adapterbias compare --model DIR --task NAME --data DIR --methods a,b,... [--seeds N] --out DIR: trains each
// method with the same trainer over several seeds and tabulates what it costs and what it gives: trainable
// parameters (count and % of the backbone), adapter file bytes, the dev metric (mean ± std over seeds),
// training time, tokens/s and peak memory. Writes compare.md, compare.json and compare.svg (dev metric against
// trainable parameters, log x axis).
//
// Each run is `adapterbias train` in a child process (this same executable; --jobs at once), so that every run
// starts from a fresh backbone and its peak memory (getrusage ru_maxrss, from wait4) is its own. Runs go to
// <out>/<method>/seed-<seed>/ (adapter, metrics.jsonl, summary.json with peak_rss_mb, train.log, and args.json
// once finished, which --resume compares).
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "analysis/method_comparison.h"  // defines: aggregate_runs, comparison_markdown, comparison_svg
#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/io.h"
#include "peft/method.h"  // defines: peft_method_names

extern char** environ;

namespace adapterbias::cli {
namespace {

struct CompareArgs {
  std::string model;
  std::string task;
  std::string data;
  std::string out;
  std::vector<std::string> methods = {"adapterbias", "adapterbias-shared", "bitfit", "houlsby", "lora", "full", "head"};
  int64_t seeds = 3;
  uint64_t seed = 42;  // the runs use seed, seed + 1, ...
  int64_t epochs = 3;
  int64_t batch_size = 32;
  int64_t max_length = 128;
  int64_t max_train_examples = -1;
  double warmup = 0.0;
  std::vector<std::string> lr;  // method=value overrides
  RunArgs run;  // --threads per run
  int64_t jobs = 1;     // runs at once
  bool resume = false;  // keep finished runs whose arguments match
  bool overwrite = false;  // replace an earlier comparison in --out
  // Method options, passed to the runs of the method that has them (as `train`'s flags of the same name).
  std::optional<int64_t> bottleneck, lora_r;
  std::optional<double> lora_alpha, l0, l0_init, l0_gate_lr_scale;
};

// The `train` flags of `method` among the method options given to compare.
std::vector<std::pair<std::string, std::string>> method_flags(const CompareArgs& args, const std::string& method) {
  std::vector<std::pair<std::string, std::string>> out;
  auto add = [&](const char* owner, const char* flag, const auto& value) {
    if (method == owner && value) out.emplace_back(flag, fmt::format("{}", *value));
  };
  add("houlsby", "--bottleneck", args.bottleneck);
  add("lora", "--lora-r", args.lora_r);
  add("lora", "--lora-alpha", args.lora_alpha);
  add("adapterbias-l0", "--l0", args.l0);
  add("adapterbias-l0", "--l0-init", args.l0_init);
  add("adapterbias-l0", "--l0-gate-lr-scale", args.l0_gate_lr_scale);
  return out;
}

// Per-method default learning rates: 1e-3 for the parameter-efficient methods and the head, 2e-5 for full
// fine-tuning (BERT's usual range; 1e-3 diverges when every weight moves).
double default_lr(const std::string& method) { return method == "full" ? 2e-5 : 1e-3; }

std::map<std::string, double> parse_lr_overrides(const std::vector<std::string>& items) {
  std::map<std::string, double> out;
  for (const auto& item : items) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw InputError(fmt::format("--lr '{}': expected METHOD=VALUE, e.g. lora=5e-4", item));
    try {
      out[item.substr(0, eq)] = std::stod(item.substr(eq + 1));
    } catch (const std::exception&) {
      throw InputError(fmt::format("--lr '{}': '{}' is not a number", item, item.substr(eq + 1)));
    }
  }
  return out;
}

// A child `adapterbias train ...` with stdout (the summary JSON) and stderr in files in its run folder.
struct Child {
  pid_t pid = 0;
  size_t row = 0;
  uint64_t seed = 0;
  std::vector<std::string> args;
  std::filesystem::path dir;
};

pid_t spawn_child(const std::vector<std::string>& args, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  // /proc/self/exe, not the path it links to: that still runs this binary after a rebuild has replaced the file.
  const std::string exe = "/proc/self/exe";
  std::vector<std::string> argv_storage = {std::filesystem::read_symlink(exe).filename().string()};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string out_path = (dir / "summary.json").string(), log_path = (dir / "train.log").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw Error(fmt::format("could not start {}: {}", exe, std::strerror(rc)));
  return pid;
}

// The summary a finished run printed, with its peak memory added as "peak_rss_mb"; null when absent or unreadable.
nlohmann::json read_summary(const std::filesystem::path& dir) {
  std::ifstream in(dir / "summary.json");
  if (!in) return nullptr;
  return nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
}

// A run folder that already holds a finished run with exactly these arguments (--resume).
nlohmann::json finished_run(const std::vector<std::string>& args, const std::filesystem::path& dir) {
  std::ifstream in(dir / "args.json");
  if (!in) return nullptr;
  const nlohmann::json recorded = nlohmann::json::parse(in, nullptr, false);
  if (recorded != nlohmann::json(args)) return nullptr;
  const nlohmann::json summary = read_summary(dir);
  return summary.is_object() && summary.contains("peak_rss_mb") ? summary : nlohmann::json();
}

// ---- the command --------------------------------------------------------------------------------------------

void run_compare(const CompareArgs& args) {
  // Resolved once here, so every run gets the same explicit device and precision.
  const Compute compute = resolve_compute(args.run.device, args.run.precision);
  const auto lr_overrides = parse_lr_overrides(args.lr);
  for (const auto& [method, lr] : lr_overrides)
    if (std::find(args.methods.begin(), args.methods.end(), method) == args.methods.end())
      throw InputError(fmt::format("--lr {}={:g}: '{}' is not among --methods ({})", method, lr, method,
                                   fmt::join(args.methods, ",")));
  const std::vector<std::string> known = peft_method_names();
  for (const auto& method : args.methods)  // each names a folder of runs: only registered names
    if (std::find(known.begin(), known.end(), method) == known.end())
      throw InputError(fmt::format("--methods: unknown method '{}'; expected some of {}", method, fmt::join(known, ", ")));
  const std::filesystem::path out(args.out);
  if (std::filesystem::exists(out) && !std::filesystem::is_directory(out))
    throw InputError(fmt::format("--out {}: is a file, expected a folder for the comparison", out.string()));
  if (args.resume && args.overwrite) throw InputError("give one of --resume and --overwrite");
  std::vector<MethodResult> rows;  // method and lr of each, until the runs are aggregated
  std::vector<Child> queue;
  for (const auto& method : args.methods) {
    MethodResult row;
    row.method = method;
    const auto it = lr_overrides.find(method);
    row.lr = it != lr_overrides.end() ? it->second : default_lr(method);
    for (int64_t k = 0; k < args.seeds; ++k) {
      Child child;
      child.row = rows.size();
      child.seed = args.seed + static_cast<uint64_t>(k);
      child.dir = out / method / fmt::format("seed-{}", child.seed);
      child.args = {"train", "--model", args.model, "--task", args.task, "--data", args.data, "--out", child.dir.string(),
                    "--method", method, "--lr", fmt::format("{:g}", row.lr), "--seed", std::to_string(child.seed),
                    "--epochs", std::to_string(args.epochs), "--batch-size", std::to_string(args.batch_size),
                    "--max-length", std::to_string(args.max_length), "--warmup", fmt::format("{:g}", args.warmup),
                    "--threads", std::to_string(args.run.threads), "--device", compute.device.str(),
                    "--precision", compute.bf16() ? "bf16" : "fp32"};
      if (args.max_train_examples > 0)
        child.args.insert(child.args.end(), {"--max-train-examples", std::to_string(args.max_train_examples)});
      for (const auto& [flag, value] : method_flags(args, method)) child.args.insert(child.args.end(), {flag, value});
      queue.push_back(std::move(child));
    }
    rows.push_back(row);
  }

  // An earlier comparison's files and runs are kept unless the user says what to do with them.
  if (!args.resume && !args.overwrite) {
    std::vector<std::filesystem::path> earlier;
    for (const char* name : {"compare.json", "compare.md", "compare.svg"})
      if (std::filesystem::exists(out / name)) earlier.push_back(out / name);
    for (const auto& child : queue)
      if (std::filesystem::exists(child.dir)) earlier.push_back(child.dir);
    if (!earlier.empty())
      throw InputError(fmt::format("--out {}: holds an earlier comparison ({}); pass --resume to keep its finished "
                                   "runs or --overwrite to replace them",
                                   out.string(), earlier.front().string()));
  }
  std::vector<std::vector<nlohmann::json>> summaries(rows.size());
  auto finish = [&](const Child& child, nlohmann::json summary) {
    const auto& s = summary;
    std::fprintf(stderr, "compare: %s seed %lu: dev %s %.4f, %.1f s, peak RSS %.0f MB\n", rows[child.row].method.c_str(),
                 static_cast<unsigned long>(child.seed), s.at("dev_metric").get<std::string>().c_str(),
                 s.at("dev_primary").get<double>(), s.at("train_seconds").get<double>(), s.at("peak_rss_mb").get<double>());
    summaries[child.row].push_back(std::move(summary));
  };
  std::map<pid_t, Child> running;
  auto wait_one = [&] {
    int status = 0;
    struct rusage usage {};
    const pid_t pid = wait4(-1, &status, 0, &usage);
    if (pid < 0) throw Error(fmt::format("wait4: {}", std::strerror(errno)));
    const auto node = running.extract(pid);
    if (node.empty()) return;
    const Child& child = node.mapped();
    const auto log = child.dir / "train.log";
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      throw Error(fmt::format("`adapterbias {}` failed (status {}); see {}", fmt::join(child.args, " "), status,
                              log.string()));
    nlohmann::json summary = read_summary(child.dir);
    if (!summary.is_object())
      throw Error(fmt::format("{}: the train summary is not JSON", (child.dir / "summary.json").string()));
    summary["peak_rss_mb"] = static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux: kilobytes
    write_file_atomic(child.dir / "summary.json", summary.dump(2) + "\n");
    write_file_atomic(child.dir / "args.json", nlohmann::json(child.args).dump() + "\n");
    finish(child, std::move(summary));
  };
  for (auto& child : queue) {
    if (args.resume) {
      if (nlohmann::json done = finished_run(child.args, child.dir); done.is_object()) {
        std::fprintf(stderr, "compare: %s seed %lu: reusing %s\n", rows[child.row].method.c_str(),
                     static_cast<unsigned long>(child.seed), child.dir.c_str());
        finish(child, std::move(done));
        continue;
      }
    }
    while (static_cast<int64_t>(running.size()) >= args.jobs) wait_one();
    std::fprintf(stderr, "compare: %s seed %lu (lr %g) ...\n", rows[child.row].method.c_str(),
                 static_cast<unsigned long>(child.seed), rows[child.row].lr);
    std::filesystem::remove(child.dir / "args.json");
    // The run folders are compare's own: an unfinished earlier run in one is replaced.
    std::vector<std::string> train_args = child.args;
    train_args.push_back("--overwrite");
    child.pid = spawn_child(train_args, child.dir);
    running.emplace(child.pid, child);
  }
  while (!running.empty()) wait_one();

  std::vector<MethodResult> results;
  for (size_t i = 0; i < rows.size(); ++i) results.push_back(aggregate_runs(rows[i].method, rows[i].lr, summaries[i]));
  const ComparisonSetup setup{args.model, args.task, args.seeds, args.epochs};

  nlohmann::json json = {{"model", args.model}, {"task", args.task}, {"seeds", args.seeds}, {"epochs", args.epochs},
                         {"batch_size", args.batch_size}, {"max_train_examples", args.max_train_examples},
                         {"rows", nlohmann::json::array()}};
  for (const auto& r : results) json["rows"].push_back(r.to_json());
  const std::string md = comparison_markdown(results, setup);
  write_file_atomic(out / "compare.json", json.dump(2) + "\n");
  write_file_atomic(out / "compare.md", md);
  write_file_atomic(out / "compare.svg", comparison_svg(results, setup));
  std::printf("%s", md.c_str());
  std::fprintf(stderr, "wrote %s, %s, %s\n", (out / "compare.md").c_str(), (out / "compare.json").c_str(),
               (out / "compare.svg").c_str());
}

}  // namespace

void setup_compare(CLI::App& app) {
  auto args = std::make_shared<CompareArgs>();
  auto* sub = app.add_subcommand("compare", "Train several methods over several seeds and tabulate cost and dev metric");
  sub->add_option("--model", args->model, "Checkpoint folder or packaged model name (minilm)")->required();
  sub->add_option("--task", args->task, "GLUE task name")->required();
  sub->add_option("--data", args->data, "GLUE root folder (or the task's folder)")->required();
  sub->add_option("--out", args->out, "Output folder: compare.{md,json,svg}, one folder per run")->required();
  sub->add_option("--methods", args->methods, "Methods to compare (comma-separated)")
      ->delimiter(',')->capture_default_str();
  sub->add_option("--seeds", args->seeds, "Runs per method (seeds seed, seed+1, ...)")
      ->capture_default_str()->check(positive());
  sub->add_option("--seed", args->seed, "First seed")->capture_default_str();
  sub->add_option("--epochs", args->epochs, "Training epochs")->capture_default_str()->check(positive());
  sub->add_option("--batch-size", args->batch_size, "Examples per step")->capture_default_str()->check(positive());
  sub->add_option("--max-length", args->max_length, "Truncate inputs to this many tokens")->capture_default_str();
  sub->add_option("--max-train-examples", args->max_train_examples, "Use only the first N training examples")
      ->check(count_or_all());
  sub->add_option("--warmup", args->warmup, "As train --warmup")->capture_default_str();
  sub->add_option("--lr", args->lr,
                  "Learning rate overrides METHOD=VALUE (comma-separated); defaults: 2e-5 full, 1e-3 the others")
      ->delimiter(',');
  add_run_options(sub, args->run);
  sub->add_option("--jobs,-j", args->jobs, "Runs at once (each with --threads threads)")
      ->capture_default_str()->check(positive());
  sub->add_flag("--resume", args->resume,
                "Keep runs already finished in --out with the same arguments (after an interruption, or to add seeds)");
  sub->add_flag("--overwrite", args->overwrite, "Replace an earlier comparison in --out");
  sub->add_option("--bottleneck", args->bottleneck, "houlsby runs: as train --bottleneck")->check(positive());
  sub->add_option("--lora-r", args->lora_r, "lora runs: as train --lora-r")->check(positive());
  sub->add_option("--lora-alpha", args->lora_alpha, "lora runs: as train --lora-alpha")->check(positive());
  sub->add_option("--l0", args->l0, "adapterbias-l0 runs: as train --l0")->check(non_negative());
  sub->add_option("--l0-init", args->l0_init, "adapterbias-l0 runs: as train --l0-init");
  sub->add_option("--l0-gate-lr-scale", args->l0_gate_lr_scale, "adapterbias-l0 runs: as train --l0-gate-lr-scale")
      ->check(positive());
  sub->callback([args] { run_compare(*args); });
}

}  // namespace adapterbias::cli
