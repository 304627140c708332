#include "cli/common.h"

#include <cstdio>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "core/error.h"
#include "core/io.h"
#include "data/generic.h"
#include "data/glue.h"

namespace adapterbias::cli {
namespace {

std::filesystem::path glue_root(const DataArgs& args, const TaskSpec& task) {
  // Accept both the GLUE root and the task's own folder.
  const std::filesystem::path dir = args.data;
  if (std::filesystem::is_directory(dir / task.folder)) return dir;
  if (dir.filename() == task.folder || std::filesystem::exists(dir / "dev.tsv") || std::filesystem::exists(dir / "train.tsv"))
    return dir.parent_path();
  return dir;
}

GenericOptions generic_options(const DataArgs& args, int64_t max_examples) {
  GenericOptions o;
  o.text_column = args.text_column;
  o.text_pair_column = args.text_pair_column;
  o.label_column = args.label_column;
  o.id_column = args.id_column;
  o.regression = args.regression;
  o.read.skip_bad_rows = args.skip_bad_rows;
  o.read.max_examples = max_examples;
  return o;
}

}  // namespace

void add_data_options(CLI::App* sub, DataArgs& args) {
  sub->add_option("--task", args.task, "GLUE task (CoLA, SST-2, MRPC, QQP, STS-B, MNLI, MNLI-MM, QNLI, RTE, WNLI) or a name for your own data");
  sub->add_option("--data", args.data, "GLUE folder (holding SST-2/, ...) or the task's own folder");
  sub->add_option("--train", args.train_file, "Own data: training file (.csv, .tsv, .jsonl, optionally .gz)");
  sub->add_option("--dev", args.dev_file, "Own data: dev file");
  sub->add_option("--test", args.test_file, "Own data: test file (labels optional)");
  sub->add_option("--text-column", args.text_column, "Own data: column/key of the text")->capture_default_str();
  sub->add_option("--text-pair-column", args.text_pair_column, "Own data: column/key of the second text");
  sub->add_option("--label-column", args.label_column, "Own data: column/key of the label")->capture_default_str();
  sub->add_option("--id-column", args.id_column, "Own data: column/key of the example id");
  sub->add_flag("--regression", args.regression, "Own data: labels are numbers (one output, MSE)");
  sub->add_flag("--skip-bad-rows", args.skip_bad_rows, "Skip and count malformed rows instead of stopping at the first");
}

TaskSpec resolve_task(const DataArgs& args, const std::vector<std::string>* labels) {
  if (args.is_glue()) {
    if (args.task.empty()) throw InputError("--task is required");
    const TaskRef ref = find_task(args.task);
    TaskSpec task = *ref.task;
    task.dev_split = ref.dev_split;
    task.test_split = ref.test_split;
    return task;
  }
  const std::string name = args.task.empty() ? "custom" : args.task;
  if (labels != nullptr || args.regression) return custom_task(name, labels ? *labels : std::vector<std::string>{}, args.regression);
  if (args.train_file.empty()) throw InputError("own data needs --train FILE to learn its label set");
  const Dataset train = read_generic(args.train_file, generic_options(args, -1));
  return custom_task(name, train.labels, args.regression);
}

Dataset read_split(const DataArgs& args, const TaskSpec& task, const std::string& split, int64_t max_examples) {
  Dataset data;
  if (args.is_glue()) {
    if (args.data.empty()) throw InputError("--data DIR is required for GLUE tasks");
    ReadOptions options;
    options.skip_bad_rows = args.skip_bad_rows;
    options.max_examples = max_examples;
    data = read_glue_split(glue_root(args, task), task, split, options);
  } else {
    const std::string& file = split == "train" ? args.train_file : split == "test" ? args.test_file : args.dev_file;
    if (file.empty()) throw InputError(fmt::format("own data: no file given for split '{}' (--{})", split, split));
    GenericOptions options = generic_options(args, max_examples);
    options.require_labels = split != "test";
    data = read_generic(file, options, task.regression ? std::nullopt : std::optional(task.labels));
  }
  if (data.report.skipped > 0) std::fprintf(stderr, "%s\n", data.report.summary().c_str());
  return data;
}

namespace {

Example parse_text_line(const std::string& line, const std::string& at) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: not valid JSON: {}", at, e.what()));
  }
  if (!json.is_object())
    throw InputError(fmt::format("{}: expected a JSON object {{\"text\": ...}}, found {}", at, json.type_name()));
  if (!json.contains("text") || !json.at("text").is_string())
    throw InputError(fmt::format("{}: needs a string \"text\"", at));
  Example example;
  example.text_a = json.at("text").get<std::string>();
  if (json.contains("text_pair") && !json.at("text_pair").is_null()) {
    if (!json.at("text_pair").is_string()) throw InputError(fmt::format("{}: \"text_pair\" must be a string or null", at));
    example.text_b = json.at("text_pair").get<std::string>();
  }
  return example;
}

}  // namespace

std::vector<Example> read_text_inputs(const std::string& text, const std::string& text_pair, const std::string& input) {
  const bool has_text = !text.empty() || !text_pair.empty();
  if (int(has_text) + int(!input.empty()) != 1) throw InputError("give exactly one of --text or --input FILE.jsonl");
  if (has_text) {
    if (text.empty()) throw InputError("--text-pair needs --text");
    Example example;
    example.text_a = text;
    if (!text_pair.empty()) example.text_b = text_pair;
    return {example};
  }
  std::vector<Example> examples;
  LineReader reader(input);
  std::string line;
  while (reader.next(line)) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    examples.push_back(parse_text_line(line, where(reader.path(), reader.line_number())));
  }
  if (examples.empty()) throw InputError(fmt::format("{}: no inputs", input));
  return examples;
}

nlohmann::ordered_json prediction_json(const AdapterInfo& info, const at::Tensor& row, bool with_logits) {
  nlohmann::ordered_json out;
  if (info.regression) {
    out["score"] = row[0].item<double>();
  } else {
    const at::Tensor probs = at::softmax(row.to(at::kDouble), 0);
    const int64_t id = row.argmax().item<int64_t>();
    out["label"] = info.labels[id];
    out["label_id"] = id;
    nlohmann::ordered_json probabilities = nlohmann::ordered_json::object();
    for (size_t c = 0; c < info.labels.size(); ++c) probabilities[info.labels[c]] = probs[c].item<double>();
    out["probabilities"] = probabilities;
  }
  if (with_logits) {
    std::vector<double> values;
    for (int64_t c = 0; c < row.size(0); ++c) values.push_back(row[c].item<double>());
    out["logits"] = values;
  }
  return out;
}

void set_threads(int threads) {
  if (threads > 0) at::set_num_threads(threads);
}

void add_run_options(CLI::App* sub, RunArgs& args) {
  sub->add_option("--threads", args.threads, "CPU threads (0: LibTorch's default)")->capture_default_str();
  sub->add_option("--device", args.device, "Where the model runs: cpu, cuda, cuda:N")->capture_default_str();
  sub->add_option("--precision", args.precision,
                  "fp32, bf16 (mixed: bf16 matmuls and attention; fp32 LayerNorms, loss and trained tensors) or "
                  "auto (bf16 on CUDA and on CPUs with AMX or AVX512-BF16, else fp32)")
      ->capture_default_str();
}

Compute apply_run_options(const RunArgs& args) {
  set_threads(args.threads);
  return resolve_compute(args.device, args.precision);
}

}  // namespace adapterbias::cli
