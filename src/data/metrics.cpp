// Metric definitions follow sklearn.metrics (accuracy_score, f1_score, matthews_corrcoef) and scipy.stats
// (pearsonr, spearmanr, rankdata); the tests compare against values those libraries printed.
#include "data/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"

namespace adapterbias {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

template <typename T, typename U>
void check_sizes(std::span<const T> pred, std::span<const U> gold, std::string_view what) {
  if (pred.size() != gold.size())
    throw MismatchError(fmt::format("{}: expected as many predictions as gold values, found {} and {}", what,
                                    pred.size(), gold.size()));
}

struct Counts {
  int64_t tp = 0, fp = 0, fn = 0;
};

Counts count(std::span<const int64_t> pred, std::span<const int64_t> gold, int64_t positive) {
  Counts c;
  for (size_t i = 0; i < pred.size(); ++i) {
    const bool p = pred[i] == positive, g = gold[i] == positive;
    c.tp += p && g;
    c.fp += p && !g;
    c.fn += !p && g;
  }
  return c;
}

double f1_from(const Counts& c) {
  // sklearn: zero_division -> 0 when there is no positive prediction nor gold.
  const int64_t denominator = 2 * c.tp + c.fp + c.fn;
  return denominator == 0 ? 0.0 : 2.0 * static_cast<double>(c.tp) / static_cast<double>(denominator);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Classification

double accuracy(std::span<const int64_t> pred, std::span<const int64_t> gold) {
  check_sizes(pred, gold, "accuracy");
  if (pred.empty()) return kNaN;
  int64_t correct = 0;
  for (size_t i = 0; i < pred.size(); ++i) correct += pred[i] == gold[i];
  return static_cast<double>(correct) / static_cast<double>(pred.size());
}

double f1_score(std::span<const int64_t> pred, std::span<const int64_t> gold, int64_t positive) {
  check_sizes(pred, gold, "f1");
  if (pred.empty()) return kNaN;
  return f1_from(count(pred, gold, positive));
}

double macro_f1(std::span<const int64_t> pred, std::span<const int64_t> gold) {
  check_sizes(pred, gold, "macro_f1");
  if (pred.empty()) return kNaN;
  std::vector<int64_t> classes(pred.begin(), pred.end());
  classes.insert(classes.end(), gold.begin(), gold.end());
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  double sum = 0;
  for (const int64_t c : classes) sum += f1_from(count(pred, gold, c));
  return sum / static_cast<double>(classes.size());
}

double matthews_corrcoef(std::span<const int64_t> pred, std::span<const int64_t> gold) {
  check_sizes(pred, gold, "matthews_correlation");
  if (pred.empty()) return kNaN;
  // sklearn's multiclass form: from the confusion matrix C with t_k = gold counts, p_k = predicted counts,
  // c = trace, s = total:  (c*s - t.p) / sqrt((s^2 - p.p) * (s^2 - t.t)).
  std::map<int64_t, std::pair<double, double>> totals;  // class -> (t_k, p_k)
  double correct = 0;
  for (size_t i = 0; i < pred.size(); ++i) {
    totals[gold[i]].first += 1;
    totals[pred[i]].second += 1;
    correct += pred[i] == gold[i];
  }
  const auto s = static_cast<double>(pred.size());
  double tp = 0, pp = 0, tt = 0;
  for (const auto& [k, tp_k] : totals) {
    tp += tp_k.first * tp_k.second;
    pp += tp_k.second * tp_k.second;
    tt += tp_k.first * tp_k.first;
  }
  const double cov_ytyp = correct * s - tp, cov_ypyp = s * s - pp, cov_ytyt = s * s - tt;
  if (cov_ypyp * cov_ytyt == 0) return 0.0;
  return cov_ytyp / std::sqrt(cov_ytyt * cov_ypyp);
}

// ---------------------------------------------------------------------------------------------------------
// Regression

double pearson(std::span<const double> x, std::span<const double> y) {
  check_sizes(x, y, "pearson");
  if (x.size() < 2) return kNaN;
  const auto n = static_cast<double>(x.size());
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double dx = x[i] - mx, dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx == 0 || syy == 0) return kNaN;  // scipy: ConstantInputWarning, nan
  return std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0);
}

std::vector<double> average_ranks(std::span<const double> values) {
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
  std::vector<double> ranks(values.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i + 1;
    while (j < order.size() && values[order[j]] == values[order[i]]) ++j;
    const double rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;  // mean of ranks i+1..j
    for (size_t k = i; k < j; ++k) ranks[order[k]] = rank;
    i = j;
  }
  return ranks;
}

double spearman(std::span<const double> x, std::span<const double> y) {
  check_sizes(x, y, "spearman");
  const auto rx = average_ranks(x), ry = average_ranks(y);
  return pearson(rx, ry);
}

double mean_squared_error(std::span<const double> pred, std::span<const double> gold) {
  check_sizes(pred, gold, "mse");
  if (pred.empty()) return kNaN;
  double sum = 0;
  for (size_t i = 0; i < pred.size(); ++i) sum += (pred[i] - gold[i]) * (pred[i] - gold[i]);
  return sum / static_cast<double>(pred.size());
}

// ---------------------------------------------------------------------------------------------------------
// Per task

double MetricResult::get(std::string_view name) const {
  for (const auto& [key, value] : values)
    if (key == name) return value;
  std::vector<std::string> names;
  for (const auto& kv : values) names.push_back(kv.first);
  throw InputError(fmt::format("unknown metric '{}'; expected one of: {}", name, fmt::join(names, ", ")));
}

std::string MetricResult::to_string() const {
  std::string out;
  for (const auto& [key, value] : values) out += fmt::format("{}{}={:.4f}", out.empty() ? "" : " ", key, value);
  return out;
}

namespace {

MetricResult finish(const TaskSpec& task, std::vector<std::pair<std::string, double>> values) {
  MetricResult result;
  result.values = std::move(values);
  result.primary_name = std::string(metric_name(task.primary));
  result.primary = result.get(result.primary_name);
  return result;
}

std::vector<int64_t> gold_classes(const TaskSpec& task, std::span<const Example> gold) {
  std::vector<int64_t> out;
  out.reserve(gold.size());
  for (const auto& ex : gold) {
    if (!ex.has_label)
      throw MismatchError(fmt::format("{}: cannot score example {} (line {}): it has no gold label", task.name, ex.id,
                                      ex.line));
    out.push_back(ex.label);
  }
  return out;
}

std::vector<double> gold_targets(const TaskSpec& task, std::span<const Example> gold) {
  std::vector<double> out;
  out.reserve(gold.size());
  for (const auto& ex : gold) {
    if (!ex.has_label)
      throw MismatchError(fmt::format("{}: cannot score example {} (line {}): it has no gold score", task.name, ex.id,
                                      ex.line));
    out.push_back(ex.target);
  }
  return out;
}

}  // namespace

MetricResult compute_metrics(const TaskSpec& task, std::span<const int64_t> pred, std::span<const int64_t> gold) {
  if (task.regression)
    throw MismatchError(
        fmt::format("{}: expected float predictions for a regression task, found class ids", task.name));
  std::vector<std::pair<std::string, double>> values;
  for (const Metric m : task.metrics) {
    double v = kNaN;
    switch (m) {
      case Metric::kAccuracy: v = accuracy(pred, gold); break;
      case Metric::kF1: v = f1_score(pred, gold, 1); break;
      case Metric::kMacroF1: v = macro_f1(pred, gold); break;
      case Metric::kMatthews: v = matthews_corrcoef(pred, gold); break;
      case Metric::kPearson:
      case Metric::kSpearman:
        throw MismatchError(fmt::format("{}: metric {} needs float predictions", task.name, metric_name(m)));
    }
    values.emplace_back(metric_name(m), v);
  }
  return finish(task, std::move(values));
}

MetricResult compute_metrics(const TaskSpec& task, std::span<const double> pred, std::span<const double> gold) {
  if (!task.regression)
    throw MismatchError(fmt::format("{}: expected class-id predictions for a classification task, found floats",
                                    task.name));
  std::vector<std::pair<std::string, double>> values;
  for (const Metric m : task.metrics) {
    if (m != Metric::kPearson && m != Metric::kSpearman)
      throw MismatchError(fmt::format("{}: metric {} needs class-id predictions", task.name, metric_name(m)));
    values.emplace_back(metric_name(m), m == Metric::kPearson ? pearson(pred, gold) : spearman(pred, gold));
  }
  return finish(task, std::move(values));
}

MetricResult compute_metrics(const TaskSpec& task, std::span<const int64_t> pred, std::span<const Example> gold) {
  const auto g = gold_classes(task, gold);
  return compute_metrics(task, pred, std::span<const int64_t>(g));
}

MetricResult compute_metrics(const TaskSpec& task, std::span<const double> pred, std::span<const Example> gold) {
  const auto g = gold_targets(task, gold);
  return compute_metrics(task, pred, std::span<const double>(g));
}

Baseline constant_baseline(const TaskSpec& task, std::span<const Example> train, std::span<const Example> eval) {
  if (train.empty()) throw InputError(fmt::format("{}: a baseline needs training examples, found none", task.name));
  Baseline b;
  if (task.regression) {
    const auto targets = gold_targets(task, train);
    const double mean = std::accumulate(targets.begin(), targets.end(), 0.0) / static_cast<double>(targets.size());
    const std::vector<double> pred(eval.size(), mean);
    const auto gold = gold_targets(task, eval);
    b.metrics = compute_metrics(task, std::span<const double>(pred), std::span<const double>(gold));
    b.metrics.values.emplace_back("mse", mean_squared_error(pred, gold));
    b.description = fmt::format("train mean {:.3f} ({} train examples)", mean, train.size());
    return b;
  }
  const auto classes = gold_classes(task, train);
  std::map<int64_t, int64_t> counts;
  for (const int64_t c : classes) ++counts[c];
  auto best = counts.begin();
  for (auto it = counts.begin(); it != counts.end(); ++it)
    if (it->second > best->second) best = it;  // strict: ties keep the lower class id
  const std::vector<int64_t> pred(eval.size(), best->first);
  b.metrics = compute_metrics(task, std::span<const int64_t>(pred), eval);
  const std::string name = best->first >= 0 && best->first < static_cast<int64_t>(task.labels.size())
                               ? task.labels[best->first]
                               : std::to_string(best->first);
  b.description = fmt::format("majority class '{}' ({:.1f}% of {} train examples)", name,
                              100.0 * static_cast<double>(best->second) / static_cast<double>(classes.size()),
                              classes.size());
  return b;
}

}  // namespace adapterbias
