#include "data/dataset.h"

#include <charconv>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <utf8proc.h>

#include "core/error.h"

namespace adapterbias {

std::string ReadReport::summary() const {
  if (skipped == 0) return "";
  return fmt::format("skipped {} of {} rows; first: {}", skipped, rows, fmt::join(reasons, "; "));
}

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (true) {
    const size_t tab = line.find('\t', start);
    if (tab == std::string_view::npos) {
      fields.push_back(line.substr(start));
      return fields;
    }
    fields.push_back(line.substr(start, tab - start));
    start = tab + 1;
  }
}

std::string preview(std::string_view field) {
  constexpr size_t kMax = 60;
  if (field.size() <= kMax) return fmt::format("'{}'", field);
  return fmt::format("'{}...' ({} bytes)", field.substr(0, kMax), field.size());
}

std::string text_problem(std::string_view text) {
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  const auto size = static_cast<utf8proc_ssize_t>(text.size());
  for (utf8proc_ssize_t i = 0; i < size;) {
    if (bytes[i] == 0) return fmt::format("a NUL byte at byte {}", i);
    utf8proc_int32_t codepoint = 0;
    const utf8proc_ssize_t n = utf8proc_iterate(bytes + i, size - i, &codepoint);
    if (n < 0) return fmt::format("invalid UTF-8 at byte {}", i);
    i += n;
  }
  return "";
}

bool blank(std::string_view text) { return text.find_first_not_of(" \t\r\n") == std::string_view::npos; }

void strip_bom(std::string& line) {
  if (line.size() >= 3 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
}

std::optional<double> parse_double(std::string_view field) {
  while (!field.empty() && (field.front() == ' ' || field.front() == '\t')) field.remove_prefix(1);
  while (!field.empty() && (field.back() == ' ' || field.back() == '\t')) field.remove_suffix(1);
  if (!field.empty() && field.front() == '+') field.remove_prefix(1);
  double value = 0;
  const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (field.empty() || ec != std::errc() || end != field.data() + field.size() || !std::isfinite(value))
    return std::nullopt;
  return value;
}

void BadRows::add(std::string message) {
  if (!options_.skip_bad_rows)
    throw InputError(message + "; hint: skip_bad_rows (CLI --skip-bad-rows) skips and counts such rows");
  ++report_.skipped;
  if (report_.reasons.size() < options_.max_reasons) report_.reasons.push_back(std::move(message));
}

Dataset subset(const Dataset& data, const std::vector<int64_t>& indices) {
  Dataset part = data;
  part.examples.clear();
  for (const int64_t i : indices) part.examples.push_back(data.examples[static_cast<size_t>(i)]);
  return part;
}

}  // namespace adapterbias
