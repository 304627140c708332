#include "cli/common.h"

#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <functional>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "core/error.h"
#include "core/io.h"
#include "core/log.h"
#include "data/generic.h"
#include "model/checkpoint.h"

namespace adapterbias::cli {
namespace {

std::string python_package_dir(const std::string& package) {
  // find_spec locates the package without importing it (and so without importing torch).
  const std::string command = fmt::format(
      "python3 -c \"import importlib.util as u; s = u.find_spec('{}'); print(s.submodule_search_locations[0] if s "
      "else '')\" 2>/dev/null",
      package);
  std::string out;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    std::array<char, 4096> buffer{};
    while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) out += buffer.data();
    ::pclose(pipe);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

}  // namespace

void install_console_handlers() {
  set_log_handler([tty = ::isatty(STDERR_FILENO) != 0](LogKind kind, std::string_view line) {
    if (kind == LogKind::warning) {
      std::fprintf(stderr, "warning: %.*s\n", static_cast<int>(line.size()), line.data());
    } else if (tty) {
      std::fprintf(stderr, "\r\033[K%.*s%s", static_cast<int>(line.size()), line.data(),
                   kind == LogKind::progress_final ? "\n" : "");
    } else {
      std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
    }
    std::fflush(stderr);
  });
  set_package_locator(python_package_dir);
}

namespace {

CLI::Validator number_check(std::function<bool(double)> accepts, std::string expected) {
  return CLI::Validator(
      [accepts = std::move(accepts), expected](std::string& value) -> std::string {
        double number = 0;
        if (!CLI::detail::lexical_cast(value, number) || !accepts(number))
          return fmt::format("expected {}, found '{}'", expected, value);
        return "";
      },
      expected);
}

}  // namespace

CLI::Validator non_negative() {
  return number_check([](double x) { return x >= 0; }, "a number >= 0");
}

CLI::Validator positive() {
  return number_check([](double x) { return x > 0; }, "a number > 0");
}

CLI::Validator count_or_all() {
  return number_check([](double x) { return x >= -1 && x == std::floor(x); }, "a count >= 0, or -1 for all");
}

CLI::Validator in_range(double low, double high) {
  return number_check([=](double x) { return x >= low && x <= high; }, fmt::format("a number in [{}, {}]", low, high));
}

void add_data_options(CLI::App* sub, DataSource& args) {
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
  sub->add_option("--max-line-bytes", args.max_line_bytes, "Refuse data lines longer than this")
      ->capture_default_str()->check(positive());
}

void report_skipped_rows(std::initializer_list<const Dataset*> datasets) {
  for (const Dataset* data : datasets)
    if (data->report.skipped > 0) std::fprintf(stderr, "%s\n", data->report.summary().c_str());
}

Dataset read_split_reported(const DataSource& source, const TaskSpec& task, const std::string& split,
                            int64_t max_examples) {
  Dataset data = read_split(source, task, split, max_examples);
  report_skipped_rows({&data});
  return data;
}

namespace {

Example parse_text_line(const std::string& line, const std::string& at, const std::string& text_key,
                        const std::string& pair_key, std::string* task) {
  if (const std::string problem = text_problem(line); !problem.empty())
    throw InputError(fmt::format("{}: expected a line of JSON text, found {}", at, problem));
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: not valid JSON: {}", at, e.what()));
  }
  if (!json.is_object())
    throw InputError(fmt::format("{}: expected a JSON object {{\"{}\": ...}}, found {}", at, text_key, json.type_name()));
  if (!json.contains(text_key) || !json.at(text_key).is_string())
    throw InputError(fmt::format("{}: needs a string \"{}\"", at, text_key));
  Example example;
  example.text_a = json.at(text_key).get<std::string>();
  if (json.contains(pair_key) && !json.at(pair_key).is_null()) {
    if (!json.at(pair_key).is_string())
      throw InputError(fmt::format("{}: \"{}\" must be a string or null", at, pair_key));
    example.text_b = json.at(pair_key).get<std::string>();
  }
  if (task && json.contains("task")) {
    if (!json.at("task").is_string()) throw InputError(fmt::format("{}: \"task\" must be a string", at));
    *task = json.at("task").get<std::string>();
  }
  return example;
}

}  // namespace

void add_text_input_options(CLI::App* sub, TextInputs& inputs, DataSource* columns) {
  sub->add_option("--text", inputs.texts, "An input text (repeat for more); one JSON line each")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub->add_option("--text-pair", inputs.text_pairs, "The second text of a pair task, one per --text")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub->add_option("--input", inputs.input,
                  "Inputs: JSONL of {\"text\": ..., \"text_pair\": ...} ('-': standard input), or CSV/TSV with a "
                  "header (columns as --text-column, --text-pair-column)");
  if (columns == nullptr) return;
  sub->add_option("--text-column", columns->text_column, "--input: column/key of the text")->capture_default_str();
  sub->add_option("--text-pair-column", columns->text_pair_column,
                  "--input: column/key of the second text (JSONL default: text_pair)");
}

std::vector<Example> read_text_inputs(const TextInputs& inputs, const DataSource& columns, std::vector<std::string>* tasks) {
  const auto every_input_is = [&](const std::vector<Example>& examples, const std::string& source) {
    if (!tasks) return;
    if (columns.task.empty())
      throw InputError(fmt::format("{}: name the inputs' task with --task NAME (or use JSONL lines with a \"task\")", source));
    tasks->assign(examples.size(), columns.task);
  };
  const bool has_text = !inputs.texts.empty() || !inputs.text_pairs.empty();
  if (int(has_text) + int(!inputs.input.empty()) != 1) throw InputError("give exactly one of --text or --input FILE");
  if (has_text) {
    if (inputs.texts.empty()) throw InputError("--text-pair needs --text");
    if (!inputs.text_pairs.empty() && inputs.text_pairs.size() != inputs.texts.size())
      throw InputError(fmt::format("expected one --text-pair per --text, found {} --text and {} --text-pair",
                                   inputs.texts.size(), inputs.text_pairs.size()));
    std::vector<Example> examples(inputs.texts.size());
    for (size_t i = 0; i < examples.size(); ++i) {
      examples[i].text_a = inputs.texts[i];
      if (!inputs.text_pairs.empty()) examples[i].text_b = inputs.text_pairs[i];
      examples[i].id = std::to_string(i);
    }
    every_input_is(examples, "--text");
    return examples;
  }
  check_readable(inputs.input);
  const bool jsonl = inputs.input == kStdin || detect_table_format(inputs.input) == TableFormat::kJsonl;
  if (!jsonl) {
    GenericOptions options;
    options.text_column = columns.text_column;
    options.text_pair_column = columns.text_pair_column;
    options.id_column = columns.id_column;
    options.require_labels = false;
    options.read.max_line_bytes = columns.max_line_bytes;
    std::vector<Example> examples = read_generic(inputs.input, options).examples;
    every_input_is(examples, inputs.input);
    return examples;
  }
  const std::string pair_key = columns.text_pair_column.empty() ? "text_pair" : columns.text_pair_column;
  std::vector<Example> examples;
  LineReader reader(inputs.input, columns.max_line_bytes);
  std::string line;
  while (reader.next(line)) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string at = where(reader.path(), reader.line_number());
    std::string task = columns.task;
    examples.push_back(parse_text_line(line, at, columns.text_column, pair_key, tasks ? &task : nullptr));
    if (tasks) {
      if (task.empty()) throw InputError(fmt::format("{}: needs a string \"task\" (or --task NAME for every line)", at));
      tasks->push_back(task);
    }
    examples.back().id = std::to_string(examples.size() - 1);
    examples.back().line = reader.line_number();
  }
  if (examples.empty()) throw InputError(fmt::format("{}: no inputs", inputs.input));
  return examples;
}

std::pair<std::string, std::string> split_named_adapter(const std::string& arg) {
  const size_t eq = arg.find('=');
  if (eq == std::string::npos || eq == 0 || arg.find_first_of("/\\") < eq) return {"", arg};
  return {arg.substr(0, eq), arg.substr(eq + 1)};
}

std::vector<std::filesystem::path> add_named_adapters(MultiTaskModel& model, const std::vector<std::string>& args) {
  std::vector<std::filesystem::path> files;
  for (const std::string& arg : args) {
    const auto [name, file] = split_named_adapter(arg);
    const AdapterFile adapter = read_adapter(file);
    model.add_task(name.empty() ? adapter.info.task : name, adapter, file);
    files.push_back(file);
  }
  return files;
}

void set_threads(int threads) {
  if (threads > 0) at::set_num_threads(threads);
}

void add_run_options(CLI::App* sub, RunArgs& args) {
  sub->add_option("--threads", args.threads, "CPU threads (0: LibTorch's default)")
      ->capture_default_str()->check(non_negative());
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
