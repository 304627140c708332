// adapterbias compare --model DIR --task A,B,... --data DIR --methods a,b,... [--seeds N] --out DIR: trains each
// method on each task with the same trainer over several seeds and tabulates what it costs and what it gives:
// trainable parameters (count and % of the backbone), adapter file bytes, the dev metric (mean ± std over
// seeds), training time, tokens/s and peak memory. With --lr-grid a method's learning rate is chosen per task
// on the first seed (best dev metric), as PEFT papers tune; the other seeds run at that value. Writes
// <out>/<task>/compare.{md,json,svg} (dev metric against trainable parameters, log x axis) and
// <out>/compare.{md,json,svg}: with several tasks, a summary row per method (mean over tasks) first.
//
// Each run is `adapterbias train` in a child process (this same executable; --jobs at once), so that every run
// starts from a fresh backbone and its peak memory (getrusage ru_maxrss, from wait4) is its own. Runs go to
// <out>/<task>/<method>/lr-<lr>/seed-<seed>/ (adapter, metrics.jsonl, summary.json with peak_rss_mb, train.log,
// and args.json once finished, which --resume compares).
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
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>
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
#include "data/task.h"  // defines: find_task
#include "peft/method.h"  // defines: peft_method_names

extern char** environ;

namespace adapterbias::cli {
namespace {

struct CompareArgs {
  std::string model;
  std::vector<std::string> tasks;
  std::string data;
  std::string out;
  std::vector<std::string> methods = {"adapterbias", "adapterbias-shared", "bitfit", "houlsby", "lora", "full", "head"};
  int64_t seeds = 3;
  uint64_t seed = 42;  // the runs use seed, seed + 1, ...
  int64_t epochs = 3;
  std::vector<std::string> batch_size = {"32"};  // N (every task) and TASK=N items
  int64_t max_length = 128;
  std::vector<std::string> max_train_examples;  // N (every task) and TASK=N items
  double warmup = 0.0;
  std::vector<std::string> lr;       // METHOD=VALUE overrides
  std::vector<std::string> lr_grid;  // METHOD=a,b,c: chosen on the first seed
  RunArgs run;  // --threads per run
  int64_t jobs = 1;     // runs at once
  bool resume = false;  // keep finished runs whose arguments match
  bool overwrite = false;  // replace an earlier comparison in --out
  bool report = false;     // tabulate the finished runs, train nothing
  // Method options, passed to the runs of the method that has them (as `train`'s flags of the same name).
  std::optional<int64_t> bottleneck, lora_r;
  std::optional<double> lora_alpha, l0, l0_init, l0_gate_lr_scale;
};

// One entry of --methods: a registered method, optionally with the head's pooling ("head:mean").
struct MethodSpec {
  std::string method;
  std::string pooling;  // empty: train's default
  std::string label() const { return pooling.empty() ? method : method + ":" + pooling; }
  std::string folder() const { return pooling.empty() ? method : method + "-" + pooling; }
};

MethodSpec parse_method_spec(const std::string& item) {
  MethodSpec spec;
  const auto colon = item.find(':');
  spec.method = item.substr(0, colon);
  if (colon != std::string::npos) spec.pooling = item.substr(colon + 1);
  const std::vector<std::string> known = peft_method_names();
  // Each names a folder of runs: only registered names and poolings.
  if (std::find(known.begin(), known.end(), spec.method) == known.end())
    throw InputError(fmt::format("--methods: unknown method '{}'; expected some of {}", spec.method, fmt::join(known, ", ")));
  if (colon != std::string::npos && spec.pooling != "cls" && spec.pooling != "mean" && spec.pooling != "pooler")
    throw InputError(fmt::format("--methods {}: unknown pooling '{}'; expected METHOD:cls, METHOD:mean or METHOD:pooler",
                                 item, spec.pooling));
  return spec;
}

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

double parse_number(const std::string& text, const std::string& flag, const std::string& item) {
  size_t used = 0;
  double value = 0.0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !std::isfinite(value))
    throw InputError(fmt::format("{} '{}': '{}' is not a number", flag, item, text));
  return value;
}

// KEY=VALUE items (KEY=a,b,c with `lists`) keyed by KEY, each KEY one of `keys` (the flag's `keys_name`).
std::map<std::string, std::vector<double>> parse_keyed(const std::vector<std::string>& items, const std::string& flag,
                                                       const std::vector<std::string>& keys, const std::string& keys_name,
                                                       bool lists) {
  std::map<std::string, std::vector<double>> out;
  for (const auto& item : items) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw InputError(fmt::format("{} '{}': expected {}=VALUE{}", flag, item, keys_name, lists ? ",VALUE,..." : ""));
    const std::string key = item.substr(0, eq);
    if (std::find(keys.begin(), keys.end(), key) == keys.end())
      throw InputError(fmt::format("{} {}: '{}' is not among {} ({})", flag, item, key, keys_name, fmt::join(keys, ",")));
    std::vector<double> values;
    std::string rest = item.substr(eq + 1);
    for (size_t pos = 0;;) {
      const size_t comma = lists ? rest.find(',', pos) : std::string::npos;
      values.push_back(parse_number(rest.substr(pos, comma - pos), flag, item));
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    out[key] = std::move(values);
  }
  return out;
}

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

// Per-task integers from N (every task) and TASK=N items: `fallback` where none is given; `all_allowed`: -1
// (all examples) is a value too.
std::map<std::string, int64_t> per_task_counts(const std::vector<std::string>& items, const std::string& flag,
                                               const std::vector<std::string>& tasks, int64_t fallback, bool all_allowed) {
  auto count = [&](double value, const std::string& what) {
    const auto n = static_cast<int64_t>(value);
    if (static_cast<double>(n) != value) throw InputError(fmt::format("{} {}: expected an integer", flag, what));
    return n;
  };
  std::vector<std::string> keyed;
  for (const auto& item : items)
    if (item.find('=') != std::string::npos) keyed.push_back(item);
    else fallback = count(parse_number(item, flag, item), item);
  std::map<std::string, int64_t> out;
  for (const auto& task : tasks) out[task] = fallback;
  for (const auto& [task, values] : parse_keyed(keyed, flag, tasks, "--task", false)) out[task] = count(values.front(), task);
  for (const auto& [task, n] : out)
    if (n == 0 || n < (all_allowed ? -1 : 1))
      throw InputError(fmt::format("{} for {}: expected a positive count{}", flag, task, all_allowed ? " or -1 for all" : ""));
  return out;
}

// One row of a task's table: a method's runs on it, first the learning-rate grid on the first seed, then the
// other seeds at the grid's best value.
struct Row {
  size_t task = 0;
  MethodSpec spec;
  std::vector<double> grid;  // one value: no selection
  std::vector<nlohmann::json> grid_runs;
  size_t grid_left = 0;
  double lr = 0.0;  // chosen
  std::vector<nlohmann::json> seed_runs;
};

struct Job {
  size_t row = 0;
  double lr = 0.0;
  int64_t seed_index = 0;
};

// A child `adapterbias train ...` with stdout (the summary JSON) and stderr in files in its run folder.
struct Child {
  pid_t pid = 0;
  Job job;
  uint64_t seed = 0;
  std::vector<std::string> args;
  std::filesystem::path dir;
};

void run_compare(const CompareArgs& args) {
  // Resolved once here, so every run gets the same explicit device and precision.
  const Compute compute = resolve_compute(args.run.device, args.run.precision);
  std::vector<MethodSpec> specs;
  std::vector<std::string> labels;
  for (const auto& item : args.methods) {
    specs.push_back(parse_method_spec(item));
    labels.push_back(specs.back().label());
  }
  for (const auto& task : args.tasks) find_task(task);  // each names a folder too: only known tasks
  const auto lr_overrides = parse_keyed(args.lr, "--lr", labels, "--methods", false);
  const auto lr_grids = parse_keyed(args.lr_grid, "--lr-grid", labels, "--methods", true);
  for (const auto& [label, grid] : lr_grids) {
    std::set<double> seen;
    for (const double lr : grid)
      if (!seen.insert(lr).second) throw InputError(fmt::format("--lr-grid {}: {:g} is given twice", label, lr));
  }
  for (const auto& [label, lr] : lr_overrides)
    if (lr_grids.count(label)) throw InputError(fmt::format("{}: give --lr or --lr-grid, not both", label));
  for (const auto* given : {&lr_overrides, &lr_grids})
    for (const auto& [label, values] : *given)
      for (const double lr : values)
        if (!(lr > 0)) throw InputError(fmt::format("{}: learning rate {:g} is not positive", label, lr));
  for (const std::vector<std::string>* names : {&std::as_const(labels), &args.tasks}) {  // each names a folder of runs once
    std::set<std::string> seen;
    for (const auto& name : *names)
      if (!seen.insert(name).second) throw InputError(fmt::format("'{}' is given twice", name));
  }
  const auto train_count = per_task_counts(args.max_train_examples, "--max-train-examples", args.tasks, -1, true);
  const auto batch_size = per_task_counts(args.batch_size, "--batch-size", args.tasks, 32, false);
  const std::filesystem::path out(args.out);
  if (std::filesystem::exists(out) && !std::filesystem::is_directory(out))
    throw InputError(fmt::format("--out {}: is a file, expected a folder for the comparison", out.string()));
  if (args.resume + args.overwrite + args.report > 1) throw InputError("give one of --resume, --overwrite and --report");

  std::vector<Row> rows;
  std::deque<Job> queue;
  for (size_t t = 0; t < args.tasks.size(); ++t)
    for (const auto& spec : specs) {
      Row row;
      row.task = t;
      row.spec = spec;
      if (const auto it = lr_grids.find(spec.label()); it != lr_grids.end()) row.grid = it->second;
      else if (const auto it = lr_overrides.find(spec.label()); it != lr_overrides.end()) row.grid = it->second;
      else row.grid = {default_lr(spec.method)};
      row.grid_runs.resize(row.grid.size());
      row.grid_left = row.grid.size() > 1 ? row.grid.size() : 0;
      row.lr = row.grid.front();
      row.seed_runs.resize(static_cast<size_t>(args.seeds));
      if (row.grid_left > 0)
        for (const double lr : row.grid) queue.push_back({rows.size(), lr, 0});
      else
        for (int64_t k = 0; k < args.seeds; ++k) queue.push_back({rows.size(), row.lr, k});
      rows.push_back(std::move(row));
    }

  auto make_child = [&](const Job& job) {
    const Row& row = rows[job.row];
    const std::string& task = args.tasks[row.task];
    Child child;
    child.job = job;
    child.seed = args.seed + static_cast<uint64_t>(job.seed_index);
    child.dir = out / task / row.spec.folder() / fmt::format("lr-{:g}", job.lr) / fmt::format("seed-{}", child.seed);
    child.args = {"train", "--model", args.model, "--task", task, "--data", args.data, "--out", child.dir.string(),
                  "--method", row.spec.method, "--lr", fmt::format("{:g}", job.lr), "--seed", std::to_string(child.seed),
                  "--epochs", std::to_string(args.epochs), "--batch-size", std::to_string(batch_size.at(task)),
                  "--max-length", std::to_string(args.max_length), "--warmup", fmt::format("{:g}", args.warmup),
                  "--threads", std::to_string(args.run.threads), "--device", compute.device.str(),
                  "--precision", compute.bf16() ? "bf16" : "fp32"};
    if (const int64_t n = train_count.at(task); n > 0)
      child.args.insert(child.args.end(), {"--max-train-examples", std::to_string(n)});
    if (!row.spec.pooling.empty()) child.args.insert(child.args.end(), {"--pooling", row.spec.pooling});
    for (const auto& [flag, value] : method_flags(args, row.spec.method))
      child.args.insert(child.args.end(), {flag, value});
    return child;
  };

  // An earlier comparison's files and runs are kept unless the user says what to do with them.
  if (!args.resume && !args.overwrite && !args.report) {
    std::vector<std::filesystem::path> earlier;
    for (const char* name : {"compare.json", "compare.md", "compare.svg"})
      if (std::filesystem::exists(out / name)) earlier.push_back(out / name);
    for (const auto& task : args.tasks)
      if (std::filesystem::exists(out / task)) earlier.push_back(out / task);
    if (!earlier.empty())
      throw InputError(fmt::format("--out {}: holds an earlier comparison ({}); pass --resume to keep its finished "
                                   "runs or --overwrite to replace them",
                                   out.string(), earlier.front().string()));
  }

  auto describe = [&](const Child& child) {
    const Row& row = rows[child.job.row];
    return fmt::format("{} {} lr {:g} seed {}", args.tasks[row.task], row.spec.label(), child.job.lr, child.seed);
  };
  // A finished run: a grid run's result may choose the row's learning rate, whose other seeds then run next.
  auto finish = [&](const Child& child, nlohmann::json summary) {
    const auto& s = summary;
    std::fprintf(stderr, "compare: %s: dev %s %.4f, %.1f s, peak RSS %.0f MB\n", describe(child).c_str(),
                 s.at("dev_metric").get<std::string>().c_str(), s.at("dev_primary").get<double>(),
                 s.at("train_seconds").get<double>(), s.at("peak_rss_mb").get<double>());
    Row& row = rows[child.job.row];
    if (row.grid_left == 0) {
      row.seed_runs[static_cast<size_t>(child.job.seed_index)] = std::move(summary);
      return;
    }
    const size_t i = static_cast<size_t>(std::find(row.grid.begin(), row.grid.end(), child.job.lr) - row.grid.begin());
    row.grid_runs[i] = std::move(summary);
    if (--row.grid_left > 0) return;
    size_t best = 0;  // ties: the earlier value
    for (size_t j = 1; j < row.grid.size(); ++j)
      if (row.grid_runs[j].at("dev_primary").get<double>() > row.grid_runs[best].at("dev_primary").get<double>())
        best = j;
    row.lr = row.grid[best];
    row.seed_runs[0] = row.grid_runs[best];
    std::fprintf(stderr, "compare: %s %s: lr %g chosen on seed %lu\n", args.tasks[row.task].c_str(),
                 row.spec.label().c_str(), row.lr, static_cast<unsigned long>(args.seed));
    for (int64_t k = args.seeds - 1; k >= 1; --k) queue.push_front({child.job.row, row.lr, k});
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
  while (!queue.empty() || !running.empty()) {
    if (queue.empty() || static_cast<int64_t>(running.size()) >= args.jobs) {
      wait_one();
      continue;
    }
    Child child = make_child(queue.front());
    queue.pop_front();
    if (args.resume || args.report) {
      if (nlohmann::json done = finished_run(child.args, child.dir); done.is_object()) {
        std::fprintf(stderr, "compare: %s: reusing %s\n", describe(child).c_str(), child.dir.c_str());
        finish(child, std::move(done));
        continue;
      }
      if (args.report) continue;
    }
    std::fprintf(stderr, "compare: %s ...\n", describe(child).c_str());
    std::filesystem::remove(child.dir / "args.json");
    // The run folders are compare's own: an unfinished earlier run in one is replaced.
    std::vector<std::string> train_args = child.args;
    train_args.push_back("--overwrite");
    child.pid = spawn_child(train_args, child.dir);
    running.emplace(child.pid, child);
  }

  nlohmann::json json = {{"model", args.model}, {"seeds", args.seeds}, {"epochs", args.epochs},
                         {"max_length", args.max_length},
                         {"device", compute.device.str()}, {"precision", compute.bf16() ? "bf16" : "fp32"},
                         {"tasks", nlohmann::json::array()}};
  // Rows with runs at their chosen learning rate (all of them, unless --report stopped short).
  std::vector<std::vector<MethodResult>> per_task(args.tasks.size());
  for (const Row& row : rows) {
    std::vector<nlohmann::json> finished;
    for (const auto& run : row.seed_runs)
      if (row.grid_left == 0 && run.is_object()) finished.push_back(run);
    if (finished.empty()) continue;
    MethodResult result = aggregate_runs(row.spec.label(), row.lr, finished);
    if (row.grid.size() > 1)
      for (size_t j = 0; j < row.grid.size(); ++j)
        result.lr_grid.push_back({row.grid[j], row.grid_runs[j].at("dev_primary").get<double>()});
    per_task[row.task].push_back(std::move(result));
  }
  std::string md;
  for (size_t t = 0; t < args.tasks.size(); ++t) {
    const std::string& task = args.tasks[t];
    const ComparisonSetup setup{args.model, task, args.seeds, args.epochs};
    nlohmann::json task_json = {{"task", task}, {"max_train_examples", train_count.at(task)},
                                {"batch_size", batch_size.at(task)}, {"rows", nlohmann::json::array()}};
    for (const auto& r : per_task[t]) task_json["rows"].push_back(r.to_json());
    const std::string task_md = comparison_markdown(per_task[t], setup);
    std::filesystem::create_directories(out / task);
    write_file_atomic(out / task / "compare.json", task_json.dump(2) + "\n");
    write_file_atomic(out / task / "compare.md", task_md);
    write_file_atomic(out / task / "compare.svg", comparison_svg(per_task[t], setup));
    json["tasks"].push_back(std::move(task_json));
    md += (t > 0 ? "\n" : "") + task_md;
  }
  if (args.tasks.size() > 1) {
    std::vector<MethodResult> summary;  // methods with rows on every task
    for (const auto& spec : specs) {
      std::vector<MethodResult> of_method;
      for (const auto& task_rows : per_task)
        for (const auto& r : task_rows)
          if (r.method == spec.label()) of_method.push_back(r);
      if (of_method.size() == args.tasks.size()) summary.push_back(summarize_tasks(of_method));
    }
    const ComparisonSetup setup{args.model, fmt::format("mean over {}", fmt::join(args.tasks, ", ")), args.seeds,
                                args.epochs};
    json["summary"] = nlohmann::json::array();
    for (const auto& r : summary) json["summary"].push_back(r.to_json());
    md = comparison_markdown(summary, setup) + "\n" + md;
    write_file_atomic(out / "compare.svg", comparison_svg(summary, setup));
  } else {
    write_file_atomic(out / "compare.svg", comparison_svg(per_task[0], {args.model, args.tasks[0], args.seeds, args.epochs}));
  }
  write_file_atomic(out / "compare.json", json.dump(2) + "\n");
  write_file_atomic(out / "compare.md", md);
  std::printf("%s", md.c_str());
  std::fprintf(stderr, "wrote %s, %s, %s\n", (out / "compare.md").c_str(), (out / "compare.json").c_str(),
               (out / "compare.svg").c_str());
}

}  // namespace

void setup_compare(CLI::App& app) {
  auto args = std::make_shared<CompareArgs>();
  auto* sub = app.add_subcommand("compare", "Train several methods over several seeds and tabulate cost and dev metric");
  sub->add_option("--model", args->model, "Checkpoint folder or packaged model name (minilm)")->required();
  sub->add_option("--task", args->tasks, "GLUE task names (comma-separated); with several, a summary over them")
      ->required()->delimiter(',');
  sub->add_option("--data", args->data, "GLUE root folder (or the task's folder)")->required();
  sub->add_option("--out", args->out, "Output folder: compare.{md,json,svg}, one folder per run")->required();
  sub->add_option("--methods", args->methods,
                  "Methods to compare (comma-separated); METHOD:POOLING trains the head on cls, mean or pooler")
      ->delimiter(',')->capture_default_str();
  sub->add_option("--seeds", args->seeds, "Runs per method (seeds seed, seed+1, ...)")
      ->capture_default_str()->check(positive());
  sub->add_option("--seed", args->seed, "First seed")->capture_default_str();
  sub->add_option("--epochs", args->epochs, "Training epochs")->capture_default_str()->check(positive());
  sub->add_option("--batch-size", args->batch_size, "Examples per step: N for every task, TASK=N for one (comma-separated)")
      ->delimiter(',')->capture_default_str();
  sub->add_option("--max-length", args->max_length, "Truncate inputs to this many tokens")->capture_default_str();
  sub->add_option("--max-train-examples", args->max_train_examples,
                  "Use only the first N training examples: N for every task, TASK=N for one (comma-separated)")
      ->delimiter(',');
  sub->add_option("--warmup", args->warmup, "As train --warmup")->capture_default_str();
  sub->add_option("--lr", args->lr,
                  "Learning rate overrides METHOD=VALUE (comma-separated); defaults: 2e-5 full, 1e-3 the others")
      ->delimiter(',');
  sub->add_option("--lr-grid", args->lr_grid,
                  "METHOD=a,b,c (repeatable): each value trained on the first seed, the best dev metric's value "
                  "used for the other seeds");
  add_run_options(sub, args->run);
  sub->add_option("--jobs,-j", args->jobs, "Runs at once (each with --threads threads)")
      ->capture_default_str()->check(positive());
  sub->add_flag("--resume", args->resume,
                "Keep runs already finished in --out with the same arguments (after an interruption, or to add seeds)");
  sub->add_flag("--overwrite", args->overwrite, "Replace an earlier comparison in --out");
  sub->add_flag("--report", args->report,
                "Train nothing: tabulate the runs in --out that are finished (with these arguments) so far");
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
