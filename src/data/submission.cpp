#include "data/submission.h"

#include <fmt/format.h>

#include "core/error.h"
#include "core/io.h"

namespace adapterbias {

namespace {

void check_count(const TaskSpec& task, size_t examples, size_t predictions) {
  if (examples != predictions)
    throw MismatchError(fmt::format("{} submission: expected one prediction per test example ({}), found {}",
                                    task.name, examples, predictions));
}

constexpr std::string_view kHeader = "index\tprediction\n";

}  // namespace

std::string submission_file_name(const TaskSpec& task, std::string_view split) {
  const SplitSpec& spec = task.split(split);
  if (spec.submission_file.empty())
    throw InputError(fmt::format("task {}: split '{}' is not a test split; GLUE submissions are made from "
                                 "unlabeled test splits",
                                 task.name, spec.name));
  return spec.submission_file;
}

std::string format_submission(const TaskSpec& task, std::span<const Example> examples,
                              std::span<const int64_t> predicted_classes) {
  if (task.regression)
    throw MismatchError(fmt::format("{} submission: expected float scores for a regression task, found class ids",
                                    task.name));
  check_count(task, examples.size(), predicted_classes.size());
  std::string out(kHeader);
  for (size_t i = 0; i < examples.size(); ++i) {
    const int64_t c = predicted_classes[i];
    if (c < 0 || c >= task.num_labels())
      throw MismatchError(fmt::format("{} submission: expected a class id in [0, {}) for example {}, found {}",
                                      task.name, task.num_labels(), examples[i].id, c));
    out += fmt::format("{}\t{}\n", examples[i].id, task.labels[c]);
  }
  return out;
}

std::string format_submission(const TaskSpec& task, std::span<const Example> examples,
                              std::span<const double> predicted_scores) {
  if (!task.regression)
    throw MismatchError(fmt::format("{} submission: expected class ids for a classification task, found floats",
                                    task.name));
  check_count(task, examples.size(), predicted_scores.size());
  std::string out(kHeader);
  for (size_t i = 0; i < examples.size(); ++i) out += fmt::format("{}\t{:.3f}\n", examples[i].id, predicted_scores[i]);
  return out;
}

}  // namespace adapterbias
