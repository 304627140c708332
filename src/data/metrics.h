// GLUE metrics, computed as sklearn.metrics / scipy.stats compute them: accuracy, F1 of class 1, Matthews
// correlation, Pearson and Spearman (average ranks for ties), plus macro-F1 for users' classification data.
// Degenerate inputs follow the references: F1 with no positive predictions or gold is 0, Matthews with a
// constant prediction or gold is 0, correlations of a constant vector are NaN. Empty inputs give NaN.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "data/dataset.h"
#include "data/task.h"

namespace adapterbias {

// Predicted and gold vectors must have the same length (else MismatchError).
double accuracy(std::span<const int64_t> pred, std::span<const int64_t> gold);
double f1_score(std::span<const int64_t> pred, std::span<const int64_t> gold, int64_t positive = 1);
double macro_f1(std::span<const int64_t> pred, std::span<const int64_t> gold);  // over classes in pred or gold
double matthews_corrcoef(std::span<const int64_t> pred, std::span<const int64_t> gold);  // any number of classes
double pearson(std::span<const double> x, std::span<const double> y);
double spearman(std::span<const double> x, std::span<const double> y);
double mean_squared_error(std::span<const double> pred, std::span<const double> gold);
// 1-based ranks; tied values get the mean of their ranks (scipy.stats.rankdata method="average").
std::vector<double> average_ranks(std::span<const double> values);

// A task's metrics, in the task's order, and the one used for model selection.
struct MetricResult {
  std::vector<std::pair<std::string, double>> values;  // e.g. {"f1", 0.89}, {"accuracy", 0.85}
  std::string primary_name;
  double primary = 0.0;

  // The named value; throws InputError listing the names when absent.
  double get(std::string_view name) const;
  // "f1=0.8912 accuracy=0.8505" (4 decimals).
  std::string to_string() const;
};

// Classification: `pred`/`gold` are class ids. Regression: scores. Calling the wrong overload for the task
// throws MismatchError.
MetricResult compute_metrics(const TaskSpec& task, std::span<const int64_t> pred, std::span<const int64_t> gold);
MetricResult compute_metrics(const TaskSpec& task, std::span<const double> pred, std::span<const double> gold);
// From examples' gold labels (`gold` must all be labeled).
MetricResult compute_metrics(const TaskSpec& task, std::span<const int64_t> pred, std::span<const Example> gold);
MetricResult compute_metrics(const TaskSpec& task, std::span<const double> pred, std::span<const Example> gold);

// The score of a trivial predictor, for reports: the training set's majority class (ties: the lower class id)
// for classification, the training mean for regression. Regression also reports "mse", since the
// correlations of a constant prediction are undefined (NaN).
struct Baseline {
  std::string description;  // "majority class '1' (55.8% of 67349 train examples)" / "train mean 2.701"
  MetricResult metrics;
};
Baseline constant_baseline(const TaskSpec& task, std::span<const Example> train, std::span<const Example> eval);

}  // namespace adapterbias
