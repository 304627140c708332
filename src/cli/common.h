// Options and steps shared by the subcommands that read task data (train, eval, predict, ...).
#pragma once
#include <string>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "data/task.h"
#include "model/compute.h"
#include "peft/adapter_file.h"

namespace CLI {
class App;
}

namespace adapterbias::cli {

// Where a task's data comes from: a GLUE folder (--task NAME --data DIR) or the user's own files
// (--task NAME --train FILE --dev FILE [--test FILE] with named columns).
struct DataArgs {
  std::string task;
  std::string data;  // GLUE root (the folder holding SST-2/, CoLA/, ...) or one task's folder
  std::string train_file, dev_file, test_file;
  std::string text_column = "text", text_pair_column, label_column = "label", id_column;
  bool regression = false;
  bool skip_bad_rows = false;

  bool is_glue() const { return train_file.empty() && dev_file.empty() && test_file.empty(); }
};

void add_data_options(CLI::App* sub, DataArgs& args);

// The task the arguments name. GLUE: the table's entry (with the dev/test splits its name selects); own data:
// a custom task whose labels come from the train file (or `labels` when given, e.g. from an adapter).
TaskSpec resolve_task(const DataArgs& args, const std::vector<std::string>* labels = nullptr);

// Reads one split: "train", "dev", "test" (GLUE also dev_matched, ...). Prints a line when rows were skipped.
Dataset read_split(const DataArgs& args, const TaskSpec& task, const std::string& split, int64_t max_examples = -1);

// Texts to run a model on: `text` (+ `text_pair`), or `input`, a JSONL file of {"text": ..., "text_pair": ...}
// (text_pair optional or null). Exactly one of the two; a bad line is an InputError naming file:line.
std::vector<Example> read_text_inputs(const std::string& text, const std::string& text_pair, const std::string& input);

// One prediction from a logits row: {"label", "label_id", "probabilities"} or, for regression, {"score"};
// `with_logits` adds the raw "logits".
nlohmann::ordered_json prediction_json(const AdapterInfo& info, const at::Tensor& row, bool with_logits = false);

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
