// The GLUE task table. Column positions follow the files written by download_glue_data.py and the
// transformers GLUE processors (transformers/data/processors/glue.py), which read the same files.
#include "data/task.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"

namespace adapterbias {

std::string_view metric_name(Metric metric) {
  switch (metric) {
    case Metric::kAccuracy: return "accuracy";
    case Metric::kF1: return "f1";
    case Metric::kMatthews: return "matthews_correlation";
    case Metric::kPearson: return "pearson";
    case Metric::kSpearman: return "spearman";
    case Metric::kMacroF1: return "macro_f1";
  }
  return "unknown";
}

bool TaskSpec::is_pair() const {
  for (const auto& s : splits)
    if (s.name == "train") return s.text_b_column.has_value();
  return !splits.empty() && splits.front().text_b_column.has_value();
}

const SplitSpec& TaskSpec::split(std::string_view wanted) const {
  for (const auto& s : splits)
    if (s.name == wanted) return s;
  // "dev"/"test" name the task's default evaluation/submission split (MNLI: dev_matched, test_matched).
  const std::string_view alias = wanted == "dev" ? std::string_view(dev_split)
                                 : wanted == "test" ? std::string_view(test_split)
                                                    : std::string_view();
  if (!alias.empty() && alias != wanted) return split(alias);
  std::vector<std::string> names;
  for (const auto& s : splits) names.push_back(s.name);
  throw InputError(fmt::format("task {}: unknown split '{}'; expected one of: {}", name, wanted,
                               fmt::join(names, ", ")));
}

int64_t TaskSpec::label_index(std::string_view label) const {
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] == label) return static_cast<int64_t>(i);
  return -1;
}

// ---------------------------------------------------------------------------------------------------------
// The table

namespace {

SplitSpec labeled(std::string name, std::string folder, std::string file, int columns, int a, std::optional<int> b,
                  int label, std::optional<int> id, bool header = true) {
  SplitSpec s;
  s.name = std::move(name);
  s.folder = std::move(folder);
  s.file = std::move(file);
  s.has_header = header;
  s.num_columns = columns;
  s.text_a_column = a;
  s.text_b_column = b;
  s.label_column = label;
  s.id_column = id;
  return s;
}

SplitSpec unlabeled(std::string name, std::string folder, std::string file, int columns, int a, std::optional<int> b,
                    int id, std::string submission) {
  SplitSpec s;
  s.name = std::move(name);
  s.folder = std::move(folder);
  s.file = std::move(file);
  s.num_columns = columns;
  s.text_a_column = a;
  s.text_b_column = b;
  s.id_column = id;
  s.submission_file = std::move(submission);
  return s;
}

TaskSpec make_task(std::string name, std::string folder, std::vector<std::string> labels, bool regression,
              std::vector<Metric> metrics, Metric primary, std::vector<SplitSpec> splits) {
  TaskSpec t;
  t.name = std::move(name);
  t.folder = std::move(folder);
  t.labels = std::move(labels);
  t.regression = regression;
  t.metrics = std::move(metrics);
  t.primary = primary;
  t.splits = std::move(splits);
  return t;
}

std::vector<TaskSpec> build_table() {
  const std::vector<std::string> binary = {"0", "1"};
  const std::vector<std::string> entailment = {"entailment", "not_entailment"};
  std::vector<TaskSpec> t;

  // CoLA: source, label, original-annotation, sentence; no header in train/dev. Test: index, sentence.
  t.push_back(make_task("CoLA", "CoLA", binary, false, {Metric::kMatthews}, Metric::kMatthews,
                        {labeled("train", "CoLA", "train.tsv", 4, 3, std::nullopt, 1, std::nullopt, false),
                         labeled("dev", "CoLA", "dev.tsv", 4, 3, std::nullopt, 1, std::nullopt, false),
                         unlabeled("test", "CoLA", "test.tsv", 2, 1, std::nullopt, 0, "CoLA.tsv")}));
  // SST-2: sentence, label. Test: index, sentence.
  t.push_back(make_task("SST-2", "SST-2", binary, false, {Metric::kAccuracy}, Metric::kAccuracy,
                        {labeled("train", "SST-2", "train.tsv", 2, 0, std::nullopt, 1, std::nullopt),
                         labeled("dev", "SST-2", "dev.tsv", 2, 0, std::nullopt, 1, std::nullopt),
                         unlabeled("test", "SST-2", "test.tsv", 2, 1, std::nullopt, 0, "SST-2.tsv")}));
  // MRPC: Quality, #1 ID, #2 ID, #1 String, #2 String. Test: index, #1 ID, #2 ID, #1 String, #2 String.
  t.push_back(make_task("MRPC", "MRPC", binary, false, {Metric::kF1, Metric::kAccuracy}, Metric::kF1,
                        {labeled("train", "MRPC", "train.tsv", 5, 3, 4, 0, std::nullopt),
                         labeled("dev", "MRPC", "dev.tsv", 5, 3, 4, 0, std::nullopt),
                         unlabeled("test", "MRPC", "test.tsv", 5, 3, 4, 0, "MRPC.tsv")}));
  // STS-B: index genre filename year old_index source1 source2 sentence1 sentence2 score (test: no score).
  t.push_back(make_task("STS-B", "STS-B", {}, true, {Metric::kPearson, Metric::kSpearman}, Metric::kPearson,
                        {labeled("train", "STS-B", "train.tsv", 10, 7, 8, 9, 0),
                         labeled("dev", "STS-B", "dev.tsv", 10, 7, 8, 9, 0),
                         unlabeled("test", "STS-B", "test.tsv", 9, 7, 8, 0, "STS-B.tsv")}));
  // QQP: id qid1 qid2 question1 question2 is_duplicate. Test: id question1 question2.
  t.push_back(make_task("QQP", "QQP", binary, false, {Metric::kF1, Metric::kAccuracy}, Metric::kF1,
                        {labeled("train", "QQP", "train.tsv", 6, 3, 4, 5, 0),
                         labeled("dev", "QQP", "dev.tsv", 6, 3, 4, 5, 0),
                         unlabeled("test", "QQP", "test.tsv", 3, 1, 2, 0, "QQP.tsv")}));
  // MNLI: index promptID pairID genre sentence{1,2}_binary_parse sentence{1,2}_parse sentence1 sentence2, then
  // label1 gold_label (train, 12 columns) or label1..label5 gold_label (dev, 16); test stops at sentence2 (10).
  // The diagnostic set (AX) is evaluated with the MNLI model: index sentence1 sentence2.
  TaskSpec mnli = make_task(
      "MNLI", "MNLI", {"contradiction", "entailment", "neutral"}, false, {Metric::kAccuracy}, Metric::kAccuracy,
      {labeled("train", "MNLI", "train.tsv", 12, 8, 9, 11, 0),
       labeled("dev_matched", "MNLI", "dev_matched.tsv", 16, 8, 9, 15, 0),
       labeled("dev_mismatched", "MNLI", "dev_mismatched.tsv", 16, 8, 9, 15, 0),
       unlabeled("test_matched", "MNLI", "test_matched.tsv", 10, 8, 9, 0, "MNLI-m.tsv"),
       unlabeled("test_mismatched", "MNLI", "test_mismatched.tsv", 10, 8, 9, 0, "MNLI-mm.tsv"),
       unlabeled("diagnostic", "diagnostic", "diagnostic.tsv", 3, 1, 2, 0, "AX.tsv")});
  mnli.dev_split = "dev_matched";
  mnli.test_split = "test_matched";
  t.push_back(std::move(mnli));
  // QNLI: index question sentence label. Test: index question sentence.
  t.push_back(make_task("QNLI", "QNLI", entailment, false, {Metric::kAccuracy}, Metric::kAccuracy,
                        {labeled("train", "QNLI", "train.tsv", 4, 1, 2, 3, 0),
                         labeled("dev", "QNLI", "dev.tsv", 4, 1, 2, 3, 0),
                         unlabeled("test", "QNLI", "test.tsv", 3, 1, 2, 0, "QNLI.tsv")}));
  // RTE and WNLI: index sentence1 sentence2 label. Test: index sentence1 sentence2.
  t.push_back(make_task("RTE", "RTE", entailment, false, {Metric::kAccuracy}, Metric::kAccuracy,
                        {labeled("train", "RTE", "train.tsv", 4, 1, 2, 3, 0),
                         labeled("dev", "RTE", "dev.tsv", 4, 1, 2, 3, 0),
                         unlabeled("test", "RTE", "test.tsv", 3, 1, 2, 0, "RTE.tsv")}));
  t.push_back(make_task("WNLI", "WNLI", binary, false, {Metric::kAccuracy}, Metric::kAccuracy,
                        {labeled("train", "WNLI", "train.tsv", 4, 1, 2, 3, 0),
                         labeled("dev", "WNLI", "dev.tsv", 4, 1, 2, 3, 0),
                         unlabeled("test", "WNLI", "test.tsv", 3, 1, 2, 0, "WNLI.tsv")}));
  return t;
}

// Lower case without '-', '_' and spaces: "SST-2" -> "sst2", "MNLI-MM" -> "mnlimm".
std::string normalize(std::string_view name) {
  std::string out;
  for (const char c : name)
    if (c != '-' && c != '_' && c != ' ') out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return out;
}

}  // namespace

const std::vector<TaskSpec>& glue_tasks() {
  static const std::vector<TaskSpec> table = build_table();
  return table;
}

TaskRef find_task(std::string_view name) {
  const std::string key = normalize(name);
  // Variants that select MNLI's other evaluation files.
  struct Variant {
    const char* alias;
    const char* dev;
    const char* test;
  };
  static constexpr Variant kMnliVariants[] = {
      {"mnlim", "dev_matched", "test_matched"},         {"mnlimatched", "dev_matched", "test_matched"},
      {"mnlimm", "dev_mismatched", "test_mismatched"},  {"mnlimismatched", "dev_mismatched", "test_mismatched"},
      {"ax", "dev_matched", "diagnostic"},              {"diagnostic", "dev_matched", "diagnostic"},
  };
  for (const auto& task : glue_tasks())
    if (normalize(task.name) == key) return {&task, task.dev_split, task.test_split};
  for (const auto& v : kMnliVariants)
    if (key == v.alias) return {&task_by_name("MNLI"), v.dev, v.test};
  std::vector<std::string> names;
  for (const auto& task : glue_tasks()) names.push_back(task.name);
  throw InputError(fmt::format("unknown task '{}'; expected one of: {}, MNLI-MM, AX (case-insensitive)", name,
                               fmt::join(names, ", ")));
}

const TaskSpec& task_by_name(std::string_view name) {
  const std::string key = normalize(name);
  for (const auto& task : glue_tasks())
    if (normalize(task.name) == key) return task;
  return *find_task(name).task;
}

TaskSpec custom_task(std::string name, std::vector<std::string> labels, bool regression) {
  TaskSpec t;
  t.name = std::move(name);
  t.regression = regression;
  if (regression) {
    t.metrics = {Metric::kPearson, Metric::kSpearman};
    t.primary = Metric::kPearson;
  } else {
    t.labels = std::move(labels);
    t.metrics = {Metric::kAccuracy, Metric::kMacroF1};
    t.primary = Metric::kAccuracy;
  }
  return t;
}

}  // namespace adapterbias
