// Metrics against values printed by sklearn 1.9.1 / scipy 1.17.1 for fixed vectors (script in each test's
// comment), degenerate cases, per-task results and the constant baseline.
#include "data/metrics.h"

#include <cmath>

#include <gtest/gtest.h>

#include "test_util.h"

namespace adapterbias {
namespace {

// Same arithmetic up to summation order: a few ulps.
constexpr double kTol = 1e-12;

// from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef  (y_true = gold, y_pred = pred)
const std::vector<int64_t> kPred = {1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0};
const std::vector<int64_t> kGold = {1, 0, 0, 1, 0, 1, 1, 0, 1, 0, 1, 1};
const std::vector<int64_t> kPred3 = {0, 1, 2, 2, 1, 0, 2, 1, 0, 0, 2, 1, 1};
const std::vector<int64_t> kGold3 = {0, 1, 2, 1, 1, 0, 2, 2, 0, 1, 2, 0, 1};
// from scipy.stats import pearsonr, spearmanr, rankdata  (x has a triple and a double tie, y a double tie)
const std::vector<double> kX = {0.5, 2.0, 2.0, 3.5, 1.0, 4.75, 4.75, 4.75, 0.0, 2.5};
const std::vector<double> kY = {1.0, 1.8, 2.2, 3.0, 1.0, 4.0, 5.0, 3.9, 0.2, 2.5};

TEST(Metrics, BinaryMatchesSklearn) {
  EXPECT_NEAR(accuracy(kPred, kGold), 0.66666666666666663, kTol);
  EXPECT_NEAR(f1_score(kPred, kGold), 0.7142857142857143, kTol);
  EXPECT_NEAR(matthews_corrcoef(kPred, kGold), 0.31428571428571428, kTol);
}

TEST(Metrics, MulticlassMatchesSklearn) {
  EXPECT_NEAR(accuracy(kPred3, kGold3), 0.69230769230769229, kTol);
  EXPECT_NEAR(matthews_corrcoef(kPred3, kGold3), 0.5357142857142857, kTol);
  EXPECT_NEAR(macro_f1(kPred3, kGold3), 0.70000000000000007, kTol);  // f1_score(average="macro")
}

TEST(Metrics, DegenerateCasesFollowSklearn) {
  // matthews_corrcoef([1,1,1], [1,0,1]) == 0.0; f1_score([0,0,0], [0,0,0]) == 0.0 (zero_division)
  const std::vector<int64_t> ones = {1, 1, 1}, mixed = {1, 0, 1}, zeros = {0, 0, 0};
  EXPECT_EQ(matthews_corrcoef(mixed, ones), 0.0);
  EXPECT_EQ(f1_score(zeros, zeros), 0.0);
  EXPECT_EQ(accuracy(zeros, zeros), 1.0);
  EXPECT_TRUE(std::isnan(accuracy(std::vector<int64_t>{}, std::vector<int64_t>{})));
  EXPECT_THROW_WITH(accuracy(ones, std::vector<int64_t>{1}), MismatchError, "found 3 and 1");
}

TEST(Metrics, CorrelationsMatchScipyWithTies) {
  EXPECT_NEAR(pearson(kX, kY), 0.97612697228157341, kTol);
  EXPECT_NEAR(spearman(kX, kY), 0.98155628667052963, kTol);
  EXPECT_EQ(average_ranks(kX), (std::vector<double>{2.0, 4.5, 4.5, 7.0, 3.0, 9.0, 9.0, 9.0, 1.0, 6.0}));
  EXPECT_EQ(average_ranks(kY), (std::vector<double>{2.5, 4.0, 5.0, 7.0, 2.5, 9.0, 10.0, 8.0, 1.0, 6.0}));
  // scipy returns nan (ConstantInputWarning) for a constant input.
  const std::vector<double> constant(kX.size(), 2.0);
  EXPECT_TRUE(std::isnan(pearson(constant, kY)));
  EXPECT_TRUE(std::isnan(spearman(constant, kY)));
  EXPECT_NEAR(pearson(kX, kX), 1.0, kTol);
}

TEST(TaskMetrics, OrderedValuesAndPrimary) {
  const MetricResult mrpc = compute_metrics(task_by_name("mrpc"), kPred, kGold);
  ASSERT_EQ(mrpc.values.size(), 2u);
  EXPECT_EQ(mrpc.values[0].first, "f1");
  EXPECT_EQ(mrpc.values[1].first, "accuracy");
  EXPECT_EQ(mrpc.primary_name, "f1");
  EXPECT_NEAR(mrpc.primary, 0.7142857142857143, kTol);
  EXPECT_EQ(mrpc.to_string(), "f1=0.7143 accuracy=0.6667");

  const MetricResult cola = compute_metrics(task_by_name("cola"), kPred, kGold);
  EXPECT_EQ(cola.primary_name, "matthews_correlation");
  EXPECT_NEAR(cola.get("matthews_correlation"), 0.31428571428571428, kTol);
  EXPECT_THROW_WITH(cola.get("f1"), InputError, "unknown metric 'f1'", "matthews_correlation");

  const MetricResult mnli = compute_metrics(task_by_name("mnli"), kPred3, kGold3);
  EXPECT_EQ(mnli.primary_name, "accuracy");

  const MetricResult stsb = compute_metrics(task_by_name("stsb"), kX, kY);
  EXPECT_EQ(stsb.primary_name, "pearson");
  EXPECT_NEAR(stsb.get("spearman"), 0.98155628667052963, kTol);

  EXPECT_THROW_WITH(compute_metrics(task_by_name("stsb"), kPred, kGold), MismatchError, "STS-B", "float predictions");
  EXPECT_THROW_WITH(compute_metrics(task_by_name("sst2"), kX, kY), MismatchError, "SST-2", "class-id predictions");

  const MetricResult custom = compute_metrics(custom_task("mine", {"a", "b", "c"}, false), kPred3, kGold3);
  EXPECT_NEAR(custom.get("macro_f1"), 0.70000000000000007, kTol);
}

TEST(TaskMetrics, FromExamples) {
  std::vector<Example> gold(kGold.size());
  for (size_t i = 0; i < gold.size(); ++i) {
    gold[i].label = kGold[i];
    gold[i].has_label = true;
  }
  EXPECT_NEAR(compute_metrics(task_by_name("qqp"), kPred, gold).get("accuracy"), 0.66666666666666663, kTol);
  gold[3].has_label = false;
  gold[3].id = "77";
  EXPECT_THROW_WITH(compute_metrics(task_by_name("qqp"), kPred, gold), MismatchError, "example 77", "no gold label");
}

TEST(Baseline, MajorityClassAndTrainMean) {
  std::vector<Example> train(5), eval(4);
  const int64_t train_labels[] = {1, 0, 1, 1, 0}, eval_labels[] = {1, 1, 0, 1};
  for (int i = 0; i < 5; ++i) train[i] = {.label = train_labels[i], .has_label = true};
  for (int i = 0; i < 4; ++i) eval[i] = {.label = eval_labels[i], .has_label = true};
  const Baseline b = constant_baseline(task_by_name("sst2"), train, eval);
  EXPECT_DOUBLE_EQ(b.metrics.primary, 0.75);
  EXPECT_EQ(b.description, "majority class '1' (60.0% of 5 train examples)");
  // MRPC: predicting all-positive gives f1 = 2*3/(2*3+1) = 6/7.
  EXPECT_NEAR(constant_baseline(task_by_name("mrpc"), train, eval).metrics.get("f1"), 6.0 / 7.0, kTol);

  std::vector<Example> rtrain(3), reval(2);
  const double rt[] = {1.0, 2.0, 4.5}, re[] = {3.0, 1.0};
  for (int i = 0; i < 3; ++i) rtrain[i] = {.target = rt[i], .has_label = true};
  for (int i = 0; i < 2; ++i) reval[i] = {.target = re[i], .has_label = true};
  const Baseline r = constant_baseline(task_by_name("stsb"), rtrain, reval);
  EXPECT_EQ(r.description, "train mean 2.500 (3 train examples)");
  EXPECT_TRUE(std::isnan(r.metrics.primary));
  EXPECT_DOUBLE_EQ(r.metrics.get("mse"), (0.25 + 2.25) / 2);
}

}  // namespace
}  // namespace adapterbias
