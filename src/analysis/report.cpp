#include "analysis/report.h"

#include <algorithm>
#include <array>
#include <cmath>

#include <fmt/format.h>

namespace adapterbias::report {
namespace {

struct Rgb {
  double r, g, b;
};
// ColorBrewer YlOrRd, 5 classes, interpolated linearly.
constexpr std::array<Rgb, 5> kStops = {{{255, 255, 204}, {254, 217, 118}, {253, 141, 60}, {227, 26, 28}, {128, 0, 38}}};

double unit(double value, double lo, double hi) {
  if (!(hi > lo) || !std::isfinite(value)) return 0.0;
  return std::clamp((value - lo) / (hi - lo), 0.0, 1.0);
}

Rgb rgb_at(double u) {
  const double x = u * (kStops.size() - 1);
  const size_t i = std::min(static_cast<size_t>(x), kStops.size() - 2);
  const double f = x - static_cast<double>(i);
  const Rgb& a = kStops[i];
  const Rgb& b = kStops[i + 1];
  return {a.r + f * (b.r - a.r), a.g + f * (b.g - a.g), a.b + f * (b.b - a.b)};
}

std::string hex(const Rgb& c) {
  return fmt::format("#{:02x}{:02x}{:02x}", static_cast<int>(std::lround(c.r)), static_cast<int>(std::lround(c.g)),
                     static_cast<int>(std::lround(c.b)));
}

constexpr std::string_view kFont = "font-family=\"Helvetica,Arial,sans-serif\"";

}  // namespace

std::string color(double value, double lo, double hi) { return hex(rgb_at(unit(value, lo, hi))); }

std::string text_color(double value, double lo, double hi) {
  const Rgb c = rgb_at(unit(value, lo, hi));
  return 0.299 * c.r + 0.587 * c.g + 0.114 * c.b < 140 ? "#ffffff" : "#111111";
}

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string num(double value) { return fmt::format("{:.3g}", value); }

std::string legend_svg(double lo, double hi, std::string_view label, int width) {
  constexpr int kSteps = 50;
  const double step = static_cast<double>(width) / kSteps;
  std::string out = fmt::format(
      "<svg width=\"{}\" height=\"44\" {} font-size=\"11\">", width + 20, kFont);
  for (int i = 0; i < kSteps; ++i)
    out += fmt::format("<rect x=\"{:.1f}\" y=\"4\" width=\"{:.1f}\" height=\"14\" fill=\"{}\"/>", 10 + i * step,
                       step + 0.5, color(lo + (hi - lo) * (i + 0.5) / kSteps, lo, hi));
  out += fmt::format("<rect x=\"10\" y=\"4\" width=\"{}\" height=\"14\" fill=\"none\" stroke=\"#888\"/>", width);
  out += fmt::format("<text x=\"10\" y=\"32\">{}</text>", num(lo));
  out += fmt::format("<text x=\"{}\" y=\"32\" text-anchor=\"end\">{}</text>", width + 10, num(hi));
  out += fmt::format("<text x=\"{}\" y=\"32\" text-anchor=\"middle\">{}</text>", 10 + width / 2, escape(label));
  return out + "</svg>";
}

std::string heatmap_svg(const std::vector<std::vector<double>>& values, const std::vector<std::string>& columns,
                        double lo, double hi, std::string_view title) {
  const int rows = static_cast<int>(values.size());
  const int cols = static_cast<int>(columns.size());
  const int cell_w = 22, cell_h = 20, left = 60, top = 30;
  int label_h = 20;
  for (const auto& c : columns) label_h = std::max(label_h, static_cast<int>(std::min<size_t>(c.size(), 16)) * 6 + 10);
  const int width = std::max(left + cols * cell_w + 20, 480);  // room for the legend and its label
  const int grid_bottom = top + rows * cell_h;
  const int height = grid_bottom + label_h + 50;
  std::string out = fmt::format(
      "<svg width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" {} "
      "font-size=\"11\"><rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>",
      width, height, width, height, kFont);
  out += fmt::format("<text x=\"{}\" y=\"18\" font-size=\"13\" font-weight=\"bold\">{}</text>", left, escape(title));
  for (int r = 0; r < rows; ++r) {
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">layer {}</text>", left - 6,
                       top + r * cell_h + cell_h / 2 + 4, r);
    for (int c = 0; c < cols && c < static_cast<int>(values[r].size()); ++c)
      out += fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{} layer {}: {}</title></rect>",
          left + c * cell_w, top + r * cell_h, cell_w - 1, cell_h - 1, color(values[r][c], lo, hi),
          escape(columns[c]), r, num(values[r][c]));
  }
  for (int c = 0; c < cols; ++c) {
    std::string label = columns[c].size() > 16 ? columns[c].substr(0, 15) + "~" : columns[c];
    const int x = left + c * cell_w + cell_w / 2;
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\" transform=\"rotate(-60 {} {})\">{}</text>", x + 3,
                       grid_bottom + 8, x + 3, grid_bottom + 8, escape(label));
  }
  // Legend under the token labels.
  const int legend_w = 200, ly = grid_bottom + label_h + 10;
  for (int i = 0; i < 40; ++i)
    out += fmt::format("<rect x=\"{:.1f}\" y=\"{}\" width=\"5.5\" height=\"12\" fill=\"{}\"/>", left + i * 5.0, ly,
                       color(lo + (hi - lo) * (i + 0.5) / 40, lo, hi));
  out += fmt::format("<text x=\"{}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>", left,
                     ly + 26, num(lo), left + legend_w, ly + 26, num(hi));
  out += fmt::format("<text x=\"{}\" y=\"{}\">|alpha| * ||v|| per token and layer</text>", left + legend_w + 10,
                     ly + 10);
  return out + "</svg>";
}

namespace {

// A "nice" upper axis limit for `value`.
double nice_max(double value) {
  if (!(value > 0)) return 1.0;
  const double p = std::pow(10.0, std::floor(std::log10(value)));
  for (const double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * p >= value) return m * p;
  return 10 * p;
}

}  // namespace

std::string layer_profile_svg(const std::vector<double>& mean, const std::vector<double>& q_lo,
                              const std::vector<double>& q_hi, std::string_view title, std::string_view y_label,
                              std::string_view band_label) {
  const int n = static_cast<int>(mean.size());
  const int left = 60, top = 34, plot_w = 420, plot_h = 220, width = left + plot_w + 30, height = top + plot_h + 60;
  double ymax = 0;
  for (const double v : q_hi) ymax = std::max(ymax, v);
  for (const double v : mean) ymax = std::max(ymax, v);
  ymax = nice_max(ymax);
  auto x_of = [&](int l) { return left + (n <= 1 ? plot_w / 2.0 : plot_w * (l + 0.5) / n); };
  auto y_of = [&](double v) { return top + plot_h * (1.0 - v / ymax); };
  std::string out = fmt::format(
      "<svg width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" {} "
      "font-size=\"11\"><rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>",
      width, height, width, height, kFont);
  out += fmt::format("<text x=\"{}\" y=\"18\" font-size=\"13\" font-weight=\"bold\">{}</text>", left, escape(title));
  for (int i = 0; i <= 4; ++i) {
    const double v = ymax * i / 4;
    out += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e5e5e5\"/>", left,
                       left + plot_w, y_of(v), y_of(v));
    out += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>", left - 5, y_of(v) + 4, num(v));
  }
  std::string band = "M";
  for (int l = 0; l < n; ++l) band += fmt::format(" {:.1f},{:.1f}", x_of(l), y_of(q_hi[l]));
  for (int l = n - 1; l >= 0; --l) band += fmt::format(" {:.1f},{:.1f}", x_of(l), y_of(q_lo[l]));
  out += fmt::format("<path d=\"{} Z\" fill=\"#fd8d3c\" fill-opacity=\"0.3\" stroke=\"none\"/>", band);
  std::string line;
  for (int l = 0; l < n; ++l) line += fmt::format("{}{:.1f},{:.1f}", l ? " " : "", x_of(l), y_of(mean[l]));
  out += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"#bd0026\" stroke-width=\"2\"/>", line);
  for (int l = 0; l < n; ++l) {
    out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3.5\" fill=\"#bd0026\"><title>layer {}: mean {}</title></circle>",
                       x_of(l), y_of(mean[l]), l, num(mean[l]));
    out += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>", x_of(l), top + plot_h + 16, l);
  }
  out += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#333\"/>", left, left + plot_w,
                     top + plot_h, top + plot_h);
  out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">layer</text>", left + plot_w / 2, top + plot_h + 34);
  out += fmt::format("<text x=\"14\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {})\">{}</text>",
                     top + plot_h / 2, top + plot_h / 2, escape(y_label));
  out += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#555\">line: mean; band: {}</text>", left, top + plot_h + 52,
                     escape(band_label));
  return out + "</svg>";
}

std::string bar_chart_svg(const std::vector<std::string>& labels, const std::vector<double>& values,
                          std::string_view title, std::string_view x_label) {
  const int n = static_cast<int>(labels.size());
  const int left = 120, top = 30, bar_h = 16, plot_w = 360, width = left + plot_w + 60;
  const int height = top + n * bar_h + 50;
  double xmax = 0;
  for (const double v : values) xmax = std::max(xmax, v);
  xmax = nice_max(xmax);
  std::string out = fmt::format(
      "<svg width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" {} "
      "font-size=\"11\"><rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>",
      width, height, width, height, kFont);
  out += fmt::format("<text x=\"{}\" y=\"18\" font-size=\"13\" font-weight=\"bold\">{}</text>", 10, escape(title));
  for (int i = 0; i < n; ++i) {
    const double w = plot_w * values[i] / xmax;
    const int y = top + i * bar_h;
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>", left - 6, y + bar_h - 4,
                       escape(labels[i]));
    out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"{}\"><title>{}: {}</title></rect>",
                       left, y + 1, w, bar_h - 3, color(values[i], 0, xmax), escape(labels[i]), num(values[i]));
    out += fmt::format("<text x=\"{:.1f}\" y=\"{}\" fill=\"#555\">{}</text>", left + w + 4, y + bar_h - 4,
                       num(values[i]));
  }
  const int axis_y = top + n * bar_h + 4;
  out += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#333\"/>", left, left + plot_w, axis_y, axis_y);
  for (int i = 0; i <= 4; ++i)
    out += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>", left + plot_w * i / 4.0,
                       axis_y + 14, num(xmax * i / 4));
  out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>", left + plot_w / 2, axis_y + 32,
                     escape(x_label));
  return out + "</svg>";
}

std::string standalone_svg(std::string_view svg) {
  std::string out(svg);
  if (out.rfind("<svg ", 0) == 0) out.insert(5, "xmlns=\"http://www.w3.org/2000/svg\" ");
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + out + "\n";
}

std::string html_page(std::string_view title, std::string_view body) {
  return fmt::format(R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 24px; color: #111; max-width: 1150px; }}
h1 {{ font-size: 20px; }} h2 {{ font-size: 16px; margin-top: 28px; }}
.input {{ border-top: 1px solid #ddd; padding: 12px 0; }}
.tokens {{ line-height: 2.1; font-size: 16px; }}
.tok {{ padding: 2px 3px; margin: 0 1px; border-radius: 3px; }}
.special {{ opacity: 0.55; font-size: 12px; }}
.pred {{ color: #333; font-size: 13px; margin: 6px 0; }}
table {{ border-collapse: collapse; font-size: 13px; }} td, th {{ border: 1px solid #ddd; padding: 3px 8px; text-align: right; }}
th {{ background: #f5f5f5; }} td.l, th.l {{ text-align: left; }}
.note {{ color: #555; font-size: 13px; }}
</style></head><body>
{}
</body></html>
)",
                     escape(title), body);
}

}  // namespace adapterbias::report
