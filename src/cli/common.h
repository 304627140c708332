// Options and steps shared by the subcommands that read task data (train, eval, predict, ...).
#pragma once
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "data/data_source.h"
#include "model/compute.h"
#include "peft/multi_task_model.h"

namespace CLI {
class App;
class Validator;
}

namespace adapterbias::cli {

// What the CLI supplies to the library: messages and progress lines on stderr (redrawn in place on a
// terminal), and packaged model names found through python3's import system.
void install_console_handlers();

// Checks of numeric flag values with messages a user can read ("expected a number >= 0, found -1"), in
// place of CLI11's, which print the double range's bounds in full.
CLI::Validator non_negative();
CLI::Validator positive();
CLI::Validator in_range(double low, double high);
CLI::Validator count_or_all();  // an integer >= 0, or -1 for all

// --task, --data, --train/--dev/--test and the column flags of own data.
void add_data_options(CLI::App* sub, DataSource& source);

// Prints the read report of each dataset that skipped rows (under --skip-bad-rows).
void report_skipped_rows(std::initializer_list<const Dataset*> datasets);

// read_split, then report_skipped_rows.
Dataset read_split_reported(const DataSource& source, const TaskSpec& task, const std::string& split,
                            int64_t max_examples = -1);

// Texts to run a model on (predict, explain): --text (repeatable) with as many --text-pair, or --input FILE.
struct TextInputs {
  std::vector<std::string> texts, text_pairs;
  std::string input;

  bool given() const { return !texts.empty() || !text_pairs.empty() || !input.empty(); }
};

// --text, --text-pair and --input; with `columns` also --text-column and --text-pair-column (commands that
// also read task data get those from add_data_options).
void add_text_input_options(CLI::App* sub, TextInputs& inputs, DataSource* columns = nullptr);

// The examples, in order. --input: JSONL ("-": standard input) with the text under `columns.text_column` and an
// optional pair under `columns.text_pair_column` (default "text_pair"), or CSV/TSV by extension with a header
// naming those columns (then the pair column is required when named). Exactly one of --text and --input; a bad
// line is an InputError naming file:line.
// With `tasks`, also each input's task (predict with several adapters): a JSONL line's string "task", else
// columns.task (--task) for every input; InputError naming file:line when neither is given.
std::vector<Example> read_text_inputs(const TextInputs& inputs, const DataSource& columns,
                                      std::vector<std::string>* tasks = nullptr);

// --adapter NAME=FILE: {NAME, FILE}; a plain FILE: {"", FILE}.
std::pair<std::string, std::string> split_named_adapter(const std::string& arg);

// Loads each --adapter into `model` under its NAME, a plain FILE under its adapter's task name; returns the files.
std::vector<std::filesystem::path> add_named_adapters(MultiTaskModel& model, const std::vector<std::string>& args);

// Sets LibTorch's intra-op threads when > 0.
void set_threads(int threads);

// How a command that runs the model runs it: --threads, --device, --precision.
struct RunArgs {
  int threads = 0;
  std::string device = "cpu";
  std::string precision = "auto";
};

void add_run_options(CLI::App* sub, RunArgs& args);

// Sets the threads and resolves --device and --precision (InputError for values this machine cannot run).
Compute apply_run_options(const RunArgs& args);

}  // namespace adapterbias::cli
