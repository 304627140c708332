// Self-contained figures for the token-shift reports (explain, analyze): inline SVG strings and HTML
// fragments, no scripts, no network. One sequential colour scale (ColorBrewer YlOrRd) for every figure.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace adapterbias::report {

// `value` in [lo, hi] -> "#rrggbb" on the YlOrRd scale (clamped); and a text colour readable on it.
std::string color(double value, double lo, double hi);
std::string text_color(double value, double lo, double hi);

// Escapes &, <, >, " and ' for HTML text and attributes.
std::string escape(std::string_view text);

// Heatmap of values[row][col]: rows = layers (labelled "layer 0".. from the top), columns = tokens
// (labels rotated). Colour scale [lo, hi] with a legend bar.
std::string heatmap_svg(const std::vector<std::vector<double>>& values, const std::vector<std::string>& columns,
                        double lo, double hi, std::string_view title);

// A legend bar from lo to hi, `width` pixels wide, as inline SVG.
std::string legend_svg(double lo, double hi, std::string_view label, int width = 300);

// One series per layer: the mean (points and line) with a band from q_lo to q_hi.
std::string layer_profile_svg(const std::vector<double>& mean, const std::vector<double>& q_lo,
                              const std::vector<double>& q_hi, std::string_view title, std::string_view y_label,
                              std::string_view band_label);

// Horizontal bars, one per label, longest first as given.
std::string bar_chart_svg(const std::vector<std::string>& labels, const std::vector<double>& values,
                          std::string_view title, std::string_view x_label);

// The figures above are for inlining in HTML (no namespace, so a page holds no URL at all); this makes one
// a standalone .svg file (XML declaration and the SVG namespace).
std::string standalone_svg(std::string_view svg);

// The page around `body`: <!doctype html>, title, inline CSS.
std::string html_page(std::string_view title, std::string_view body);

// A number for display: 3 significant digits.
std::string num(double value);

}  // namespace adapterbias::report
