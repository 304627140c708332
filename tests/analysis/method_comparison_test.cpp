#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "analysis/method_comparison.h"

namespace adapterbias {
namespace {

MethodResult row(std::string method, int64_t trainable, double mean, double std) {
  MethodResult r;
  r.method = std::move(method);
  r.trainable = trainable;
  r.metric = "accuracy";
  r.mean = mean;
  r.std = std;
  r.scores = {mean};
  return r;
}

struct Label {
  double x, y;
  std::string text;
};

std::vector<Label> labels(const std::string& svg) {
  static const std::regex text(R"re(<text x="([-0-9.]+)" y="([-0-9.]+)" fill="[^"]+">([^<]+)</text>)re");
  std::vector<Label> out;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), text); it != std::sregex_iterator(); ++it)
    out.push_back({std::stod((*it)[1]), std::stod((*it)[2]), (*it)[3]});
  return out;
}

// Labels that would cover each other are stacked downwards. Many methods at one parameter count with close
// scores stack long columns, whose positions once rounded into a label moved onto the same spot for ever
// (about one in four of these layouts hung).
TEST(ComparisonSvg, StackedLabelsEndAndDoNotOverlap) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> close(0.80, 0.81);
  for (int layout = 0; layout < 200; ++layout) {
    std::vector<MethodResult> rows;
    for (int i = 0; i < 6; ++i) rows.push_back(row("adapterbias-" + std::to_string(i), 17672, close(rng), 0.0));
    rows.push_back(row("head", 770, 0.5, 0.0));
    rows.push_back(row("full", 22713216, 0.9, 0.0));
    const std::string svg = comparison_svg(rows, {"minilm", "sst-2", 3, 3});
    const std::vector<Label> placed = labels(svg);
    ASSERT_EQ(placed.size(), rows.size()) << svg;
    for (size_t a = 0; a < placed.size(); ++a)
      for (size_t b = a + 1; b < placed.size(); ++b) {
        const double wa = 7.0 * placed[a].text.size(), wb = 7.0 * placed[b].text.size();
        const bool x_overlap = placed[a].x < placed[b].x + wb && placed[b].x < placed[a].x + wa;
        // One decimal in the SVG: boxes that touch may read as up to 0.1 inside each other.
        const bool y_overlap = std::abs(placed[a].y - placed[b].y) < 13 - 0.1 - 1e-9;
        EXPECT_FALSE(x_overlap && y_overlap) << "layout " << layout << ": " << placed[a].text << " and "
                                             << placed[b].text;
      }
  }
}

}  // namespace
}  // namespace adapterbias
