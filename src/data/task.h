// The GLUE task table: for each of the nine tasks, its folder and split files in the standard `glue_data/`
// layout (as written by download_glue_data.py), the columns that hold text, label and id, the label set in
// the order of transformers' GLUE processors, and the official metrics with the one used for model selection.
// It is not a reader (data/glue.h) nor a metric implementation (data/metrics.h).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace adapterbias {

// Official GLUE metrics (and macro-F1, used for users' own classification data).
enum class Metric { kAccuracy, kF1, kMatthews, kPearson, kSpearman, kMacroF1 };

// "accuracy", "f1", "matthews_correlation", "pearson", "spearman", "macro_f1".
std::string_view metric_name(Metric metric);

// One file of a task, with the position of every column the readers use (0-based).
struct SplitSpec {
  std::string name;          // "train", "dev", "test", "dev_matched", ...
  std::string folder;        // folder under the GLUE root; usually the task's folder
  std::string file;          // "train.tsv"; readers also accept "<file>.gz"
  bool has_header = true;    // CoLA train/dev have none
  int num_columns = 0;       // every row (and the header) must have exactly this many tab-separated fields
  int text_a_column = 0;
  std::optional<int> text_b_column;
  std::optional<int> label_column;   // absent for test splits
  std::optional<int> id_column;      // GLUE `index`/`id`; absent: the id is the 0-based row number
  std::string submission_file;       // GLUE site file name for test splits ("CoLA.tsv", "MNLI-mm.tsv"), else ""
};

struct TaskSpec {
  std::string name;                  // canonical GLUE name: "CoLA", "SST-2", "STS-B", "MNLI", ...
  std::string folder;                // folder under the GLUE root
  std::vector<std::string> labels;   // class names in model-output order; empty for regression
  bool regression = false;           // STS-B: one output, MSE loss, float targets
  std::vector<Metric> metrics;       // official metrics, in the order they are reported
  Metric primary = Metric::kAccuracy;  // the one used for model selection
  std::vector<SplitSpec> splits;
  std::string dev_split = "dev";     // the split evaluated during training
  std::string test_split = "test";   // the split written for submission

  int64_t num_labels() const { return regression ? 1 : static_cast<int64_t>(labels.size()); }
  bool is_pair() const;              // whether the train split has a second text column
  // The named split; throws InputError listing the task's splits when unknown.
  const SplitSpec& split(std::string_view name) const;
  // Index of `label` in `labels`, or -1.
  int64_t label_index(std::string_view label) const;
};

// All nine GLUE tasks, in the GLUE benchmark's order (CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI).
const std::vector<TaskSpec>& glue_tasks();

// A task looked up by a user-supplied name, with the dev/test splits that name selects: "mnli-mm" (or
// "mnli_mismatched") is MNLI evaluated on dev_mismatched and submitted from test_mismatched; "ax" is MNLI
// with the diagnostic set as its test split.
struct TaskRef {
  const TaskSpec* task = nullptr;
  std::string dev_split;
  std::string test_split;
};

// Case-insensitive; '-' and '_' are ignored, so "SST-2", "sst2", "sst_2", "STS-B", "stsb", "MNLI-MM" all match.
// Throws InputError listing the known names when nothing matches.
TaskRef find_task(std::string_view name);
const TaskSpec& task_by_name(std::string_view name);  // find_task(name).task

// A task for users' own data (data/generic.h): classification over `labels` (metrics accuracy and macro-F1,
// primary accuracy) or regression (pearson, spearman; primary pearson). Its split table is empty.
TaskSpec custom_task(std::string name, std::vector<std::string> labels, bool regression);

}  // namespace adapterbias
