#include "analysis/split_analysis.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "analysis/report.h"  // defines: report::layer_profile_svg, bar_chart_svg, html_page, ...
#include "data/metrics.h"     // defines: pearson, spearman

namespace adapterbias {
namespace {

const std::vector<double> kQuantiles = {0.05, 0.25, 0.5, 0.75, 0.95};

// Linear-interpolated quantile of sorted values (numpy's default).
double quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return std::nan("");
  const double x = q * static_cast<double>(sorted.size() - 1);
  const size_t i = static_cast<size_t>(std::floor(x));
  const size_t j = std::min(i + 1, sorted.size() - 1);
  return sorted[i] + (x - static_cast<double>(i)) * (sorted[j] - sorted[i]);
}

double mean(const std::vector<double>& v) {
  return v.empty() ? std::nan("") : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

nlohmann::ordered_json distribution(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  nlohmann::ordered_json q = nlohmann::ordered_json::object();
  for (const double p : kQuantiles) q[fmt::format("{:g}", p)] = quantile(values, p);
  return {{"mean", mean(values)}, {"quantiles", q}};
}

// ASCII lowercase: the ranking key of a word (SST-2 and MiniLM are lowercased already).
std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

struct WordStats {
  int64_t count = 0;
  double shift_sum = 0, relative_sum = 0;
};

}  // namespace

SplitAnalysis analyze_split(const std::vector<TokenShifts>& shifts, const Dataset& data, const TaskSpec& task,
                            const std::string& split, const AdapterInfo& info, const at::Tensor& v_norm,
                            const std::string& adapter, const std::string& model_name, int64_t min_count, int64_t top_count) {
  const int64_t L = v_norm.size(0);
  // Per layer: every content token's shift and relative shift.
  std::vector<std::vector<double>> layer_shift(L), layer_relative(L);
  std::map<std::string, WordStats> words;
  std::vector<double> example_shift, confidence;
  std::vector<int> correct;
  int64_t n_tokens = 0;
  for (size_t i = 0; i < shifts.size(); ++i) {
    const TokenShifts& s = shifts[i];
    const at::Tensor shift_t = s.shift.to(at::kDouble).contiguous(), relative_t = s.relative.to(at::kDouble).contiguous();
    const auto shift = shift_t.accessor<double, 2>();
    const auto relative = relative_t.accessor<double, 2>();
    double total = 0;
    int64_t content = 0;
    for (size_t t = 0; t < s.encoding.tokens.size(); ++t) {
      if (s.encoding.sequence_ids[t] < 0) continue;
      ++content;
      for (int64_t l = 0; l < L; ++l) {
        const double value = shift[l][static_cast<int64_t>(t)];
        layer_shift[l].push_back(value);
        layer_relative[l].push_back(relative[l][static_cast<int64_t>(t)]);
        total += value;
      }
    }
    n_tokens += content;
    for (const Word& w : merge_words(s, data.examples[i].text_a, data.examples[i].text_b)) {
      WordStats& stats = words[lower(w.text)];
      ++stats.count;
      stats.shift_sum += w.total;
      stats.relative_sum += w.relative_total;
    }
    if (!info.regression && content > 0) {
      const at::Tensor probs = at::softmax(s.logits.to(at::kDouble), 0);
      example_shift.push_back(total / static_cast<double>(content));
      confidence.push_back(probs.max().item<double>());
      if (data.has_labels) correct.push_back(s.logits.argmax().item<int64_t>() == data.examples[i].label);
    }
  }

  nlohmann::ordered_json summary;
  summary["adapter"] = adapter;
  summary["task"] = task.name;
  summary["split"] = split;
  summary["examples"] = data.size();
  summary["content_tokens"] = n_tokens;
  summary["definitions"] = {
      {"shift", "|alpha_{l,t}| * ||v_l||_2, the size of the vector AdapterBias adds at token t in layer l"},
      {"relative", "shift / ||Dropout(W2 h + b2)||_2 at that token, the FFN output before the shift"},
      {"tokens", "content tokens only (special tokens excluded)"},
      {"word", "pieces whose offsets touch, lowercased; a word's shift is the max over its pieces of the token "
               "shift summed over layers"}};
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  std::vector<double> layer_mean(L), layer_q25(L), layer_q75(L), rel_mean(L), rel_q25(L), rel_q75(L);
  for (int64_t l = 0; l < L; ++l) {
    const auto d = distribution(layer_shift[l]);
    const auto r = distribution(layer_relative[l]);
    layers.push_back({{"layer", l}, {"v_norm", v_norm[l].item<double>()}, {"shift", d}, {"relative", r}});
    layer_mean[l] = d["mean"];
    layer_q25[l] = d["quantiles"]["0.25"];
    layer_q75[l] = d["quantiles"]["0.75"];
    rel_mean[l] = r["mean"];
    rel_q25[l] = r["quantiles"]["0.25"];
    rel_q75[l] = r["quantiles"]["0.75"];
  }
  summary["layers"] = layers;

  // Word ranking: mean shift over occurrences, then count, then the word.
  struct Ranked {
    std::string word;
    WordStats stats;
    double mean_shift() const { return stats.shift_sum / static_cast<double>(stats.count); }
    double mean_relative() const { return stats.relative_sum / static_cast<double>(stats.count); }
  };
  std::vector<Ranked> ranked;
  for (const auto& [word, stats] : words) ranked.push_back({word, stats});
  std::sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) {
    if (a.mean_shift() != b.mean_shift()) return a.mean_shift() > b.mean_shift();
    if (a.stats.count != b.stats.count) return a.stats.count > b.stats.count;
    return a.word < b.word;
  });
  std::string tsv = "word\tcount\tmean_shift\tmean_relative\n";
  for (const auto& r : ranked)
    tsv += fmt::format("{}\t{}\t{:.9g}\t{:.9g}\n", r.word, r.stats.count, r.mean_shift(), r.mean_relative());
  std::vector<Ranked> frequent;
  for (const auto& r : ranked)
    if (r.stats.count >= min_count) frequent.push_back(r);
  nlohmann::ordered_json top = nlohmann::ordered_json::array();
  for (size_t i = 0; i < frequent.size() && static_cast<int64_t>(i) < top_count; ++i)
    top.push_back({{"word", frequent[i].word},
                   {"count", frequent[i].stats.count},
                   {"mean_shift", frequent[i].mean_shift()},
                   {"mean_relative", frequent[i].mean_relative()}});
  summary["words"] = {{"distinct", ranked.size()},
                      {"min_count", min_count},
                      {"ranked", frequent.size()},
                      {"top", top}};

  // Shift vs confidence: each example's mean content-token shift (summed over layers) against its top
  // probability; five equal-count confidence bins.
  nlohmann::ordered_json vs = nullptr;
  std::string bins_html;
  if (!confidence.empty()) {
    std::vector<size_t> order(confidence.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return confidence[a] < confidence[b]; });
    nlohmann::ordered_json bins = nlohmann::ordered_json::array();
    constexpr size_t kBins = 5;
    for (size_t b = 0; b < kBins; ++b) {
      const size_t lo = order.size() * b / kBins, hi = order.size() * (b + 1) / kBins;
      if (hi <= lo) continue;
      std::vector<double> c, sh;
      for (size_t k = lo; k < hi; ++k) {
        c.push_back(confidence[order[k]]);
        sh.push_back(example_shift[order[k]]);
      }
      bins.push_back({{"confidence_min", c.front()}, {"confidence_max", c.back()}, {"n", hi - lo},
                      {"mean_confidence", mean(c)}, {"mean_shift", mean(sh)}});
      bins_html += fmt::format("<tr><td>{:.3f} – {:.3f}</td><td>{}</td><td>{}</td></tr>", c.front(), c.back(), hi - lo,
                               report::num(mean(sh)));
    }
    vs = {{"measure", "per example: mean over content tokens of the shift summed over layers, vs max probability"},
          {"pearson", pearson(example_shift, confidence)},
          {"spearman", spearman(example_shift, confidence)},
          {"bins", bins}};
    if (!correct.empty()) {
      std::vector<double> right, wrong;
      for (size_t i = 0; i < correct.size(); ++i) (correct[i] ? right : wrong).push_back(example_shift[i]);
      vs["accuracy"] = static_cast<double>(right.size()) / static_cast<double>(correct.size());
      vs["mean_shift_correct"] = mean(right);
      vs["mean_shift_wrong"] = mean(wrong);
    }
  }
  summary["shift_vs_confidence"] = vs;

  // Figures and the page.
  const std::string layers_svg = report::layer_profile_svg(layer_mean, layer_q25, layer_q75,
                                                           fmt::format("Mean shift per layer ({} {})", task.name, split),
                                                           "|alpha| * ||v||", "25th to 75th percentile of tokens");
  const std::string relative_svg = report::layer_profile_svg(rel_mean, rel_q25, rel_q75, "Mean relative shift per layer",
                                                             "shift / ||FFN output||", "25th to 75th percentile of tokens");
  std::vector<std::string> labels;
  std::vector<double> values;
  for (size_t i = 0; i < frequent.size() && static_cast<int64_t>(i) < top_count; ++i) {
    labels.push_back(frequent[i].word);
    values.push_back(frequent[i].mean_shift());
  }
  const std::string words_svg = report::bar_chart_svg(
      labels, values, fmt::format("Top {} words by mean shift (count >= {})", labels.size(), min_count),
      "mean shift (max over pieces, summed over layers)");

  std::string body = fmt::format("<h1>AdapterBias shifts over {} {}</h1>", report::escape(task.name), report::escape(split));
  body += fmt::format(
      "<p class=\"note\">Adapter <code>{}</code> on <code>{}</code>: {} examples, {} content tokens. Shift = "
      "|alpha<sub>l,t</sub>| ||v<sub>l</sub>||, the size of what AdapterBias adds at token t in layer l; relative = "
      "shift / ||FFN output|| at that token.</p>",
      report::escape(adapter), report::escape(model_name), data.size(), n_tokens);
  body += "<h2>Per layer</h2><div>" + layers_svg + " " + relative_svg + "</div>";
  body += "<table><tr><th>layer</th><th>||v||</th><th>mean shift</th><th>5%</th><th>50%</th><th>95%</th><th>mean relative</th></tr>";
  for (int64_t l = 0; l < L; ++l) {
    const auto& d = layers[l]["shift"];
    body += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", l,
                        report::num(v_norm[l].item<double>()), report::num(d["mean"].get<double>()),
                        report::num(d["quantiles"]["0.05"].get<double>()), report::num(d["quantiles"]["0.5"].get<double>()),
                        report::num(d["quantiles"]["0.95"].get<double>()), report::num(rel_mean[l]));
  }
  body += "</table>";
  body += fmt::format("<h2>Words</h2><p class=\"note\">{} distinct words; {} seen at least {} times are ranked.</p>",
                      ranked.size(), frequent.size(), min_count);
  body += "<div>" + words_svg + "</div>";
  if (!vs.is_null()) {
    body += fmt::format("<h2>Shift vs confidence</h2><p class=\"note\">Per example: mean shift of its content tokens "
                        "(summed over layers) vs the top class probability. Pearson r = {:.3f}, Spearman rho = {:.3f}.",
                        vs["pearson"].get<double>(), vs["spearman"].get<double>());
    if (vs.contains("accuracy"))
      body += fmt::format(" Accuracy {:.4f}; mean shift {:.4g} on correct, {:.4g} on wrong predictions.",
                          vs["accuracy"].get<double>(), vs["mean_shift_correct"].get<double>(),
                          vs["mean_shift_wrong"].get<double>());
    body += "</p><table><tr><th>confidence</th><th>n</th><th>mean shift</th></tr>" + bins_html + "</table>";
  }

  SplitAnalysis analysis;
  analysis.summary = summary;
  analysis.files = {{"summary.json", summary.dump(2) + "\n"},
                    {"words.tsv", tsv},
                    {"layers.svg", report::standalone_svg(layers_svg)},
                    {"layers_relative.svg", report::standalone_svg(relative_svg)},
                    {"top_words.svg", report::standalone_svg(words_svg)},
                    {"report.html", report::html_page("AdapterBias shifts: " + task.name, body)}};
  return analysis;
}

}  // namespace adapterbias
