#include "analysis/method_comparison.h"

#include <algorithm>
#include <array>
#include <cmath>

#include <fmt/format.h>

namespace adapterbias {

MethodResult aggregate_runs(const std::string& method, double lr, const std::vector<nlohmann::json>& summaries) {
  MethodResult row;
  row.method = method;
  row.lr = lr;
  {
    const double n = static_cast<double>(summaries.size());
    double nonzero = 0.0;
    bool has_nonzero = true;
    for (const auto& s : summaries) {
      row.trainable = s.at("trainable_parameters").get<int64_t>();
      row.backbone = s.at("backbone_parameters").get<int64_t>();
      row.adapter_bytes = std::max(row.adapter_bytes, s.at("adapter_bytes").get<int64_t>());
      row.metric = s.at("dev_metric").get<std::string>();
      row.scores.push_back(s.at("dev_primary").get<double>());
      row.seconds += s.at("train_seconds").get<double>() / n;
      row.tokens_per_s += s.at("train_tokens_per_s").get<double>() / n;
      row.max_rss_mb = std::max(row.max_rss_mb, s.at("peak_rss_mb").get<double>());
      has_nonzero = has_nonzero && s.contains("nonzero_parameters");
      if (has_nonzero) nonzero += s.at("nonzero_parameters").get<double>() / n;
    }
    if (has_nonzero) row.nonzero = std::llround(nonzero);
    for (const double v : row.scores) row.mean += v / n;
    for (const double v : row.scores) row.std += n > 1 ? (v - row.mean) * (v - row.mean) / (n - 1) : 0.0;
    row.std = std::sqrt(row.std);
  }
  return row;
}

MethodResult summarize_tasks(const std::vector<MethodResult>& rows) {
  MethodResult out;
  if (rows.empty()) return out;
  out.method = rows.front().method;
  out.metric = "mean score";
  size_t seeds = rows.front().scores.size();
  for (const auto& r : rows) seeds = std::min(seeds, r.scores.size());
  out.scores.assign(seeds, 0.0);
  const double n = static_cast<double>(rows.size());
  for (const auto& r : rows) {
    out.trainable = std::max(out.trainable, r.trainable);
    out.backbone = r.backbone;
    out.adapter_bytes = std::max(out.adapter_bytes, r.adapter_bytes);
    if (r.nonzero >= 0) out.nonzero = std::max(out.nonzero, r.nonzero);
    for (size_t k = 0; k < seeds; ++k) out.scores[k] += r.scores[k] / n;
    out.mean += r.mean / n;
    out.seconds += r.seconds;
    out.tokens_per_s += r.tokens_per_s / n;
    out.max_rss_mb = std::max(out.max_rss_mb, r.max_rss_mb);
  }
  const double k = static_cast<double>(seeds);
  double seed_mean = 0.0;
  for (const double v : out.scores) seed_mean += v / k;
  for (const double v : out.scores) out.std += k > 1 ? (v - seed_mean) * (v - seed_mean) / (k - 1) : 0.0;
  out.std = std::sqrt(out.std);
  return out;
}

std::string comparison_markdown(const std::vector<MethodResult>& rows, const ComparisonSetup& setup) {
  std::string md = fmt::format("# {} on {}: {} seed(s), {} epoch(s)\n\n", setup.model, setup.task, setup.seeds, setup.epochs);
  const bool any_nonzero = std::any_of(rows.begin(), rows.end(), [](const MethodResult& r) { return r.nonzero >= 0; });
  const bool any_grid = std::any_of(rows.begin(), rows.end(), [](const MethodResult& r) { return !r.lr_grid.empty(); });
  md += fmt::format("| method | lr |{} trainable params | % of backbone |{} adapter bytes | dev {} (mean ± std) | "
                    "train s | tokens/s | peak RSS MB |\n|---|---:|{}---:|---:|{}---:|---:|---:|---:|---:|\n",
                    any_grid ? " lr grid (dev, first seed) |" : "", any_nonzero ? " non-zero after training |" : "",
                    rows.empty() ? "" : rows.front().metric, any_grid ? "---|" : "", any_nonzero ? "---:|" : "");
  for (const auto& r : rows) {
    const std::string nonzero = !any_nonzero ? "" : r.nonzero >= 0 ? fmt::format(" {} |", r.nonzero) : " |";
    std::string grid;
    if (any_grid) {
      for (const auto& [value, dev] : r.lr_grid) grid += fmt::format("{}{:g}: {:.4f}", grid.empty() ? "" : ", ", value, dev);
      grid = " " + grid + " |";
    }
    const std::string partial = static_cast<int64_t>(r.scores.size()) < setup.seeds
                                    ? fmt::format(" ({} of {} seeds)", r.scores.size(), setup.seeds)
                                    : "";
    md += fmt::format("| {} | {} |{} {} | {:.4f} |{} {} | {:.4f} ± {:.4f}{} | {:.2f} | {:.0f} | {:.0f} |\n", r.method,
                      r.lr > 0 ? fmt::format("{:g}", r.lr) : "per task", grid, r.trainable, r.share(), nonzero,
                      r.adapter_bytes, r.mean, r.std, partial, r.seconds, r.tokens_per_s, r.max_rss_mb);
  }
  return md;
}

std::string comparison_svg(const std::vector<MethodResult>& rows, const ComparisonSetup& setup) {
  const double W = 640, Ht = 400, left = 70, right = 30, top = 36, bottom = 50;
  double xmin = 1e300, xmax = -1e300, ymin = 1e300, ymax = -1e300;
  for (const auto& r : rows) {
    const double x = std::log10(std::max<double>(r.trainable, 1));
    xmin = std::min(xmin, x), xmax = std::max(xmax, x);
    ymin = std::min(ymin, r.mean - r.std), ymax = std::max(ymax, r.mean + r.std);
  }
  if (rows.empty()) xmin = 0, xmax = 1, ymin = 0, ymax = 1;
  xmin = std::floor(xmin), xmax = std::max(std::ceil(xmax), xmin + 1);
  if (!(ymax > ymin)) ymin -= 0.05, ymax += 0.05;
  const double pad = 0.1 * (ymax - ymin);
  ymin -= pad, ymax += pad;
  auto px = [&](double x) { return left + (x - xmin) / (xmax - xmin) * (W - left - right); };
  auto py = [&](double y) { return top + (ymax - y) / (ymax - ymin) * (Ht - top - bottom); };
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n"
      "<line x1=\"{2}\" y1=\"{3}\" x2=\"{4}\" y2=\"{3}\" stroke=\"black\"/>\n"
      "<line x1=\"{2}\" y1=\"{5}\" x2=\"{2}\" y2=\"{3}\" stroke=\"black\"/>\n",
      W, Ht, left, Ht - bottom, W - right, top);
  for (double d = xmin; d <= xmax + 1e-9; d += 1)  // decade ticks
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#ddd\"/>"
                       "<text x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\">1e{4:g}</text>\n",
                       px(d), top, Ht - bottom, Ht - bottom + 16, d);
  for (int k = 0; k <= 4; ++k) {
    const double y = ymin + (ymax - ymin) * k / 4;
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{:.3f}</text>\n", left - 6, py(y) + 4, y);
  }
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">trainable parameters (log scale)</text>\n",
                     (left + W - right) / 2, Ht - 10);
  // Two lines: a summary's task list alone can fill the width.
  svg += fmt::format("<text x=\"{0:.1f}\" y=\"14\" text-anchor=\"middle\" font-weight=\"bold\">{1}: dev {2}</text>\n"
                     "<text x=\"{0:.1f}\" y=\"28\" text-anchor=\"middle\" font-size=\"11\">mean ± std over {3} "
                     "seed(s), against trainable parameters</text>\n",
                     (left + W - right) / 2, setup.task, rows.empty() ? "" : rows.front().metric, setup.seeds);
  svg += fmt::format("<text transform=\"translate(16 {:.1f}) rotate(-90)\" text-anchor=\"middle\">dev {}</text>\n",
                     (top + Ht - bottom) / 2, rows.empty() ? "" : rows.front().metric);
  // Labels sit above-right of their point; top to bottom, one that would overlap a placed one moves down.
  std::vector<size_t> order(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return rows[a].mean > rows[b].mean; });
  std::vector<double> label_ys(rows.size());
  std::vector<std::array<double, 4>> placed;  // (x0, y0, x1, y1)
  for (const size_t i : order) {
    const double x = px(std::log10(std::max<double>(rows[i].trainable, 1))) + 6;
    const double w = 7.0 * static_cast<double>(rows[i].method.size());
    double y = py(rows[i].mean) - 6;
    // The test and the move compare y with the same `below`: (b + 13) - 13 can round under b, so testing
    // y - 13 < b after y = b + 13 could move a label onto the same spot for ever.
    for (bool moved = true; moved;) {
      moved = false;
      for (const auto& b : placed) {
        const double below = b[3] + 13;
        if (x < b[2] && x + w > b[0] && y > b[1] && y < below) y = below, moved = true;
      }
    }
    placed.push_back({x, y - 13, x + w, y});
    label_ys[i] = y;
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    const MethodResult& r = rows[i];
    const double x = px(std::log10(std::max<double>(r.trainable, 1)));
    const double label_y = label_ys[i];
    const char* colour = r.method.starts_with("adapterbias") ? "#c0392b" : "steelblue";
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"{7}\"/>"
                       "<circle cx=\"{0:.1f}\" cy=\"{3:.1f}\" r=\"4\" fill=\"{7}\"/>"
                       "<text x=\"{4:.1f}\" y=\"{5:.1f}\" fill=\"{7}\">{6}</text>\n",
                       x, py(r.mean - r.std), py(r.mean + r.std), py(r.mean), x + 6, label_y, r.method, colour);
  }
  return svg + "</svg>\n";
}

}  // namespace adapterbias
