// Options and steps shared by the subcommands that read task data (train, eval, predict, ...).
#pragma once
#include <initializer_list>
#include <string>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "data/data_source.h"
#include "model/compute.h"

namespace CLI {
class App;
}

namespace adapterbias::cli {

// What the CLI supplies to the library: messages and progress lines on stderr (redrawn in place on a
// terminal), and packaged model names found through python3's import system.
void install_console_handlers();

// --task, --data, --train/--dev/--test and the column flags of own data.
void add_data_options(CLI::App* sub, DataSource& source);

// Prints the read report of each dataset that skipped rows (under --skip-bad-rows).
void report_skipped_rows(std::initializer_list<const Dataset*> datasets);

// read_split, then report_skipped_rows.
Dataset read_split_reported(const DataSource& source, const TaskSpec& task, const std::string& split,
                            int64_t max_examples = -1);

// Texts to run a model on: `text` (+ `text_pair`), or `input`, a JSONL file of {"text": ..., "text_pair": ...}
// (text_pair optional or null). Exactly one of the two; a bad line is an InputError naming file:line.
std::vector<Example> read_text_inputs(const std::string& text, const std::string& text_pair, const std::string& input);

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
