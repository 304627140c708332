// The GLUE task table: names and aliases, label orders, metrics, split layouts.
#include "data/task.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace adapterbias {
namespace {

TEST(TaskTable, HasTheNineGlueTasksInBenchmarkOrder) {
  std::vector<std::string> names;
  for (const auto& t : glue_tasks()) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"CoLA", "SST-2", "MRPC", "STS-B", "QQP", "MNLI", "QNLI", "RTE", "WNLI"}));
}

TEST(TaskTable, NamesAreCaseInsensitiveWithAliases) {
  for (const char* name : {"sst2", "SST-2", "sst-2", "Sst_2"}) EXPECT_EQ(find_task(name).task->name, "SST-2");
  for (const char* name : {"sts-b", "stsb", "STS-B", "sts_b"}) EXPECT_EQ(find_task(name).task->name, "STS-B");
  EXPECT_EQ(find_task("cola").task->name, "CoLA");
  EXPECT_EQ(task_by_name("qnli").name, "QNLI");

  const TaskRef mnli = find_task("mnli");
  EXPECT_EQ(mnli.task->name, "MNLI");
  EXPECT_EQ(mnli.dev_split, "dev_matched");
  EXPECT_EQ(mnli.test_split, "test_matched");
  for (const char* name : {"mnli-mm", "MNLI_MM", "mnli-mismatched"}) {
    const TaskRef mm = find_task(name);
    EXPECT_EQ(mm.task->name, "MNLI");
    EXPECT_EQ(mm.dev_split, "dev_mismatched");
    EXPECT_EQ(mm.test_split, "test_mismatched");
  }
  EXPECT_EQ(find_task("ax").test_split, "diagnostic");
  EXPECT_EQ(task_by_name("mnli-m").name, "MNLI");
}

TEST(TaskTable, UnknownNameListsTheKnownOnes) {
  EXPECT_THROW_WITH(find_task("sst3"), InputError, "unknown task 'sst3'", "SST-2", "MNLI-MM");
}

TEST(TaskTable, LabelOrdersFollowTheGlueProcessors) {
  EXPECT_EQ(task_by_name("mnli").labels, (std::vector<std::string>{"contradiction", "entailment", "neutral"}));
  EXPECT_EQ(task_by_name("qnli").labels, (std::vector<std::string>{"entailment", "not_entailment"}));
  EXPECT_EQ(task_by_name("rte").labels, (std::vector<std::string>{"entailment", "not_entailment"}));
  for (const char* name : {"cola", "sst2", "mrpc", "qqp", "wnli"})
    EXPECT_EQ(task_by_name(name).labels, (std::vector<std::string>{"0", "1"})) << name;
  const TaskSpec& stsb = task_by_name("stsb");
  EXPECT_TRUE(stsb.regression);
  EXPECT_TRUE(stsb.labels.empty());
  EXPECT_EQ(stsb.num_labels(), 1);
  EXPECT_EQ(task_by_name("mnli").num_labels(), 3);
}

TEST(TaskTable, MetricsAndPrimaryMetric) {
  EXPECT_EQ(task_by_name("cola").primary, Metric::kMatthews);
  EXPECT_EQ(task_by_name("mrpc").metrics, (std::vector<Metric>{Metric::kF1, Metric::kAccuracy}));
  EXPECT_EQ(task_by_name("mrpc").primary, Metric::kF1);
  EXPECT_EQ(task_by_name("qqp").primary, Metric::kF1);
  EXPECT_EQ(task_by_name("stsb").metrics, (std::vector<Metric>{Metric::kPearson, Metric::kSpearman}));
  EXPECT_EQ(task_by_name("stsb").primary, Metric::kPearson);
  for (const char* name : {"sst2", "mnli", "qnli", "rte", "wnli"})
    EXPECT_EQ(task_by_name(name).primary, Metric::kAccuracy) << name;
  EXPECT_EQ(metric_name(Metric::kMatthews), "matthews_correlation");
}

TEST(TaskTable, PairTasks) {
  EXPECT_FALSE(task_by_name("cola").is_pair());
  EXPECT_FALSE(task_by_name("sst2").is_pair());
  for (const char* name : {"mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli"})
    EXPECT_TRUE(task_by_name(name).is_pair()) << name;
}

TEST(TaskTable, SplitsAndDefaultAliases) {
  const TaskSpec& mnli = task_by_name("mnli");
  EXPECT_EQ(mnli.split("train").num_columns, 12);
  EXPECT_EQ(mnli.split("dev_mismatched").num_columns, 16);
  EXPECT_EQ(mnli.split("dev_mismatched").label_column, 15);
  EXPECT_EQ(mnli.split("test_mismatched").num_columns, 10);
  EXPECT_EQ(mnli.split("dev").name, "dev_matched");
  EXPECT_EQ(mnli.split("test").name, "test_matched");
  EXPECT_EQ(mnli.split("diagnostic").folder, "diagnostic");
  EXPECT_FALSE(task_by_name("cola").split("train").has_header);
  EXPECT_TRUE(task_by_name("cola").split("test").has_header);
  EXPECT_THROW_WITH(task_by_name("rte").split("validation"), InputError, "unknown split 'validation'",
                    "train, dev, test");
  // Every test split names its submission file; no labeled split does.
  for (const auto& t : glue_tasks())
    for (const auto& s : t.splits) EXPECT_EQ(s.label_column.has_value(), s.submission_file.empty()) << t.name << s.name;
}

TEST(TaskTable, CustomTask) {
  const TaskSpec c = custom_task("reviews", {"neg", "pos", "neu"}, false);
  EXPECT_EQ(c.num_labels(), 3);
  EXPECT_EQ(c.primary, Metric::kAccuracy);
  EXPECT_EQ(c.metrics, (std::vector<Metric>{Metric::kAccuracy, Metric::kMacroF1}));
  const TaskSpec r = custom_task("scores", {}, true);
  EXPECT_TRUE(r.regression);
  EXPECT_EQ(r.primary, Metric::kPearson);
}

}  // namespace
}  // namespace adapterbias
