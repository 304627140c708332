#include "data/data_source.h"

#include <filesystem>

#include <fmt/format.h>

#include "core/error.h"
#include "data/generic.h"
#include "data/glue.h"

namespace adapterbias {
namespace {

// Accepts both the GLUE root and the task's own folder.
std::filesystem::path glue_root(const DataSource& source, const TaskSpec& task) {
  const std::filesystem::path dir = source.data;
  if (std::filesystem::is_directory(dir / task.folder)) return dir;
  if (dir.filename() == task.folder || std::filesystem::exists(dir / "dev.tsv") || std::filesystem::exists(dir / "train.tsv"))
    return dir.parent_path();
  return dir;
}

GenericOptions generic_options(const DataSource& source, int64_t max_examples) {
  GenericOptions o;
  o.text_column = source.text_column;
  o.text_pair_column = source.text_pair_column;
  o.label_column = source.label_column;
  o.id_column = source.id_column;
  o.regression = source.regression;
  o.read.skip_bad_rows = source.skip_bad_rows;
  o.read.max_line_bytes = source.max_line_bytes;
  o.read.max_examples = max_examples;
  return o;
}

}  // namespace

nlohmann::json DataSource::to_json() const {
  return {{"task", task}, {"data", data}, {"train", train_file}, {"dev", dev_file}, {"test", test_file},
          {"text_column", text_column}, {"text_pair_column", text_pair_column}, {"label_column", label_column},
          {"id_column", id_column}, {"regression", regression}, {"skip_bad_rows", skip_bad_rows},
          {"max_line_bytes", max_line_bytes}};
}

DataSource DataSource::from_json(const nlohmann::json& json) {
  DataSource s;
  const auto take = [&](const char* key, auto& field) {
    if (json.contains(key) && !json.at(key).is_null()) json.at(key).get_to(field);
  };
  take("task", s.task);
  take("data", s.data);
  take("train", s.train_file);
  take("dev", s.dev_file);
  take("test", s.test_file);
  take("text_column", s.text_column);
  take("text_pair_column", s.text_pair_column);
  take("label_column", s.label_column);
  take("id_column", s.id_column);
  take("regression", s.regression);
  take("skip_bad_rows", s.skip_bad_rows);
  take("max_line_bytes", s.max_line_bytes);
  return s;
}

TaskSpec resolve_task(const DataSource& source, const std::vector<std::string>* labels) {
  if (source.is_glue()) {
    if (source.task.empty()) throw InputError("--task is required");
    const TaskRef ref = find_task(source.task);
    TaskSpec task = *ref.task;
    task.dev_split = ref.dev_split;
    task.test_split = ref.test_split;
    return task;
  }
  const std::string name = source.task.empty() ? "custom" : source.task;
  if (labels != nullptr || source.regression)
    return custom_task(name, labels ? *labels : std::vector<std::string>{}, source.regression);
  if (source.train_file.empty()) throw InputError("own data needs --train FILE to learn its label set");
  const Dataset train = read_generic(source.train_file, generic_options(source, -1));
  if (train.labels.size() < 2)
    throw InputError(fmt::format("{}: the training data has {} ({}); classification needs at least 2 (pass "
                                 "--regression for numeric targets)",
                                 source.train_file, train.labels.empty() ? "no labels" : "one label",
                                 train.labels.empty() ? "none" : "'" + train.labels[0] + "'"));
  return custom_task(name, train.labels, source.regression);
}

Dataset read_split(const DataSource& source, const TaskSpec& task, const std::string& split, int64_t max_examples) {
  if (source.is_glue()) {
    if (source.data.empty()) throw InputError("--data DIR is required for GLUE tasks");
    ReadOptions options;
    options.skip_bad_rows = source.skip_bad_rows;
    options.max_line_bytes = source.max_line_bytes;
    options.max_examples = max_examples;
    return read_glue_split(glue_root(source, task), task, split, options);
  }
  const std::string& file = split == "train" ? source.train_file : split == "test" ? source.test_file : source.dev_file;
  if (file.empty()) throw InputError(fmt::format("own data: no file given for split '{}' (--{})", split, split));
  GenericOptions options = generic_options(source, max_examples);
  options.require_labels = split != "test";
  return read_generic(file, options, task.regression ? std::nullopt : std::optional(task.labels));
}

}  // namespace adapterbias
