#include "cli/common.h"

#include <unistd.h>

#include <array>
#include <cstdio>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "core/error.h"
#include "core/io.h"
#include "core/log.h"
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

void set_threads(int threads) {
  if (threads > 0) at::set_num_threads(threads);
}

void add_run_options(CLI::App* sub, RunArgs& args) {
  sub->add_option("--threads", args.threads, "CPU threads (0: LibTorch's default)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
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
