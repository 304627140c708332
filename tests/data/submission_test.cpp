// GLUE submission files: names, header, label strings or 0/1 or scores, ids from the test split.
#include "data/submission.h"

#include <gtest/gtest.h>

#include "core/io.h"
#include "data/glue.h"
#include "test_util.h"

namespace adapterbias {
namespace {

using adapterbias::testing::TempDir;

std::vector<Example> test_examples(std::initializer_list<const char*> ids) {
  std::vector<Example> out;
  for (const char* id : ids) out.push_back({.text_a = "t", .id = id});
  return out;
}

TEST(Submission, FileNamesAsTheGlueSiteExpects) {
  EXPECT_EQ(submission_file_name(task_by_name("cola"), "test"), "CoLA.tsv");
  EXPECT_EQ(submission_file_name(task_by_name("sst2"), "test"), "SST-2.tsv");
  EXPECT_EQ(submission_file_name(task_by_name("stsb"), "test"), "STS-B.tsv");
  EXPECT_EQ(submission_file_name(task_by_name("mnli"), "test"), "MNLI-m.tsv");
  EXPECT_EQ(submission_file_name(task_by_name("mnli"), "test_mismatched"), "MNLI-mm.tsv");
  EXPECT_EQ(submission_file_name(task_by_name("mnli"), find_task("ax").test_split), "AX.tsv");
  EXPECT_THROW_WITH(submission_file_name(task_by_name("rte"), "dev"), InputError, "not a test split");
}

TEST(Submission, LabelStringsForNliTasks) {
  const auto ex = test_examples({"0", "1", "2"});
  EXPECT_EQ(format_submission(task_by_name("mnli"), ex, std::vector<int64_t>{2, 0, 1}),
            "index\tprediction\n0\tneutral\n1\tcontradiction\n2\tentailment\n");
  EXPECT_EQ(format_submission(task_by_name("rte"), ex, std::vector<int64_t>{1, 0, 1}),
            "index\tprediction\n0\tnot_entailment\n1\tentailment\n2\tnot_entailment\n");
}

TEST(Submission, ZeroOneAndScores) {
  const auto ex = test_examples({"10", "11"});
  EXPECT_EQ(format_submission(task_by_name("cola"), ex, std::vector<int64_t>{1, 0}),
            "index\tprediction\n10\t1\n11\t0\n");
  EXPECT_EQ(format_submission(task_by_name("stsb"), ex, std::vector<double>{4.12345, 0.5}),
            "index\tprediction\n10\t4.123\n11\t0.500\n");
}

TEST(Submission, Mismatches) {
  const auto ex = test_examples({"0", "1"});
  EXPECT_THROW_WITH(format_submission(task_by_name("sst2"), ex, std::vector<int64_t>{1}), MismatchError,
                    "(2), found 1");
  EXPECT_THROW_WITH(format_submission(task_by_name("sst2"), ex, std::vector<int64_t>{1, 2}), MismatchError,
                    "class id in [0, 2) for example 1, found 2");
  EXPECT_THROW_WITH(format_submission(task_by_name("stsb"), ex, std::vector<int64_t>{1, 0}), MismatchError, "float");
  EXPECT_THROW_WITH(format_submission(task_by_name("qqp"), ex, std::vector<double>{1, 0}), MismatchError, "class ids");
}

TEST(Submission, UsesTheTestSplitIds) {
  TempDir dir;
  dir.write("WNLI/test.tsv", "index\tsentence1\tsentence2\n7\ta\tb\n9\tc\td\n");
  const TaskSpec& wnli = task_by_name("wnli");
  const Dataset test = read_glue_split(dir.path(), wnli, "test");
  EXPECT_EQ(submission_file_name(wnli, "test"), "WNLI.tsv");
  EXPECT_EQ(format_submission(wnli, test.examples, std::vector<int64_t>{0, 1}), "index\tprediction\n7\t0\n9\t1\n");
}

}  // namespace
}  // namespace adapterbias
