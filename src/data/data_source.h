// Where a task's data comes from: a GLUE folder (task name + folder) or the user's own CSV/TSV/JSONL files
// with named columns. One description shared by `train`, `eval`, `predict`, the server and the Python
// package, so that each resolves a task and reads a split the same way.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "data/task.h"

namespace adapterbias {

struct DataSource {
  std::string task;  // GLUE name, or a name for the user's own data ("custom" when empty)
  std::string data;  // GLUE root (the folder holding SST-2/, CoLA/, ...) or one task's folder
  std::string train_file, dev_file, test_file;
  std::string text_column = "text", text_pair_column, label_column = "label", id_column;
  bool regression = false;
  bool skip_bad_rows = false;
  size_t max_line_bytes = kDefaultMaxLineBytes;

  bool is_glue() const { return train_file.empty() && dev_file.empty() && test_file.empty(); }

  // Under `adapterbias train`'s flag names: task, data, train, dev, test, text_column, text_pair_column,
  // label_column, id_column, regression, skip_bad_rows, max_line_bytes. from_json keeps the defaults of absent or null keys.
  nlohmann::json to_json() const;
  static DataSource from_json(const nlohmann::json& json);
};

// The task the source names. GLUE: the table's entry (with the dev/test splits its name selects); own data:
// a custom task whose labels come from the train file (or `labels` when given, e.g. from an adapter).
TaskSpec resolve_task(const DataSource& source, const std::vector<std::string>* labels = nullptr);

// One split: "train", "dev", "test" (GLUE also dev_matched, ...); rows skipped under skip_bad_rows are
// counted in the result's report.
Dataset read_split(const DataSource& source, const TaskSpec& task, const std::string& split,
                   int64_t max_examples = -1);

}  // namespace adapterbias
