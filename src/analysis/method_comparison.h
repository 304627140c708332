// What `adapterbias compare` makes of its runs: one row per method aggregated over seeds from the runs'
// summaries (what `train` prints), the Markdown table and the plot of the dev metric against trainable
// parameters. Running the trainings is the CLI's (one child process each, for its own peak memory).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace adapterbias {

// One method's row of the comparison.
struct MethodResult {
  std::string method;
  double lr = 0.0;
  int64_t trainable = 0, backbone = 0, adapter_bytes = 0;
  int64_t nonzero = -1;  // non-zero saved method parameters (adapterbias-l0), over seeds: mean; -1 if not reported
  std::string metric;
  std::vector<double> scores;
  double mean = 0.0, std = 0.0, seconds = 0.0, tokens_per_s = 0.0, max_rss_mb = 0.0;
  std::vector<std::pair<double, double>> lr_grid;  // (lr, dev metric on the first seed) when lr was chosen

  double share() const { return backbone > 0 ? 100.0 * static_cast<double>(trainable) / static_cast<double>(backbone) : 0.0; }
  nlohmann::json to_json() const {
    return {{"method", method}, {"lr", lr}, {"trainable_parameters", trainable}, {"backbone_parameters", backbone},
            {"trainable_percent", share()}, {"adapter_bytes", adapter_bytes},
            {"nonzero_parameters", nonzero >= 0 ? nlohmann::json(nonzero) : nlohmann::json()}, {"dev_metric", metric},
            {"dev_scores", scores}, {"dev_mean", mean}, {"dev_std", std}, {"train_seconds_mean", seconds},
            {"train_tokens_per_s_mean", tokens_per_s}, {"peak_rss_mb", max_rss_mb},
            {"lr_grid", lr_grid_json()}};
  }
  nlohmann::json lr_grid_json() const {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [value, dev] : lr_grid) out.push_back({{"lr", value}, {"dev", dev}});
    return out;
  }
};

// Labels of the table and the plot.
struct ComparisonSetup {
  std::string model, task;
  int64_t seeds = 0, epochs = 0;
};

// `method`'s row from the summaries of its runs (each with "peak_rss_mb" added): sizes from the runs, the dev
// metric's mean and sample std over seeds, mean time and throughput, the largest peak memory.
MethodResult aggregate_runs(const std::string& method, double lr, const std::vector<nlohmann::json>& summaries);

// One method's summary row over tasks (its rows, one per task, seeds in the same order): the mean over tasks of
// the dev metric, with scores the per-seed means over tasks (so std is the seed spread of that mean); the most
// trainable parameters and adapter bytes of any task (heads differ by labels), training time summed over tasks
// (one seed's), tokens/s averaged, the largest peak memory. metric "mean score"; lr 0 (it varies by task).
MethodResult summarize_tasks(const std::vector<MethodResult>& rows);

std::string comparison_markdown(const std::vector<MethodResult>& rows, const ComparisonSetup& setup);

// Dev metric against trainable parameters on a log10 x axis, one point (with ± std bars) per method; the
// AdapterBias family in red, the others in blue.
std::string comparison_svg(const std::vector<MethodResult>& rows, const ComparisonSetup& setup);

}  // namespace adapterbias
