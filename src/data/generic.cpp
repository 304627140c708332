// Readers for users' CSV/TSV/JSONL files. Rows are first turned into named raw fields (a "Record"), then one
// function turns a record into an Example, so all three formats share validation and messages.
#include "data/generic.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/io.h"

namespace adapterbias {

namespace {

// "an array", "a number": for messages about JSON values.
std::string a_json(const nlohmann::json& value) {
  const std::string type = value.type_name();
  return (type == "array" || type == "object" ? "an " : "a ") + type;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string_view trim_spaces(std::string_view s) {
  const size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

std::optional<int64_t> parse_int(std::string_view s) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

// ---------------------------------------------------------------------------------------------------------
// CSV (RFC 4180): fields separated by ',', optionally enclosed in '"'; inside quotes '""' is one '"', and
// commas and line breaks are literal. A '"' inside an unquoted field is kept as text (as Python's csv does).

// Reads the next record into `fields`; false at end of file. `error` is set for a malformed record.
bool next_csv_record(LineReader& reader, std::vector<std::string>& fields, int64_t& first_line, std::string& error) {
  std::string line;
  if (!reader.next(line)) return false;
  first_line = reader.line_number();
  if (first_line == 1) strip_bom(line);
  fields.clear();
  error.clear();
  enum class State { kStart, kUnquoted, kQuoted, kAfterQuote } state = State::kStart;
  std::string field;
  size_t i = 0;
  while (true) {
    if (i == line.size()) {
      if (state == State::kQuoted) {  // a line break inside quotes belongs to the field
        if (!reader.next(line)) {
          error = fmt::format("expected a closing '\"' for field {} opened on this line, found the end of the file",
                              fields.size() + 1);
          return true;
        }
        field.push_back('\n');
        i = 0;
        continue;
      }
      fields.push_back(std::move(field));
      return true;
    }
    const char c = line[i++];
    switch (state) {
      case State::kStart:
        if (c == '"') {
          state = State::kQuoted;
        } else if (c == ',') {
          fields.emplace_back();
        } else {
          field.push_back(c);
          state = State::kUnquoted;
        }
        break;
      case State::kUnquoted:
        if (c == ',') {
          fields.push_back(std::move(field));
          field.clear();
          state = State::kStart;
        } else {
          field.push_back(c);
        }
        break;
      case State::kQuoted:
        if (c == '"')
          state = State::kAfterQuote;
        else
          field.push_back(c);
        break;
      case State::kAfterQuote:
        if (c == '"') {
          field.push_back('"');
          state = State::kQuoted;
        } else if (c == ',') {
          fields.push_back(std::move(field));
          field.clear();
          state = State::kStart;
        } else {
          error = fmt::format("expected ',' or the end of the line after the closing '\"' of field {}, found '{}'",
                              fields.size() + 1, c);
          return true;  // the rest of the line goes with the bad record

        }
        break;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Record -> Example

// One row's raw values. A missing value (column absent, JSON key absent or null) is nullopt.
struct Record {
  std::optional<std::string> text_a, text_b, label, id;
  std::optional<double> number;  // a JSON number label, kept exact for regression
};

class Builder {
 public:
  Builder(const std::filesystem::path& file, const GenericOptions& options,
          const std::optional<std::vector<std::string>>& labels, Dataset& data)
      : file_(file), options_(options), data_(data), bad_(options.read, data.report), fixed_labels_(labels) {
    if (labels) {
      data_.labels = *labels;
      for (size_t i = 0; i < labels->size(); ++i) index_[(*labels)[i]] = static_cast<int64_t>(i);
    }
  }

  bool full() const {
    return options_.read.max_examples >= 0 && static_cast<int64_t>(data_.examples.size()) >= options_.read.max_examples;
  }

  void bad(int64_t line, const std::string& what) { bad_.add(fmt::format("{}: {}", where(file_, line), what)); }

  void add(Record r, int64_t line, int64_t row_number) {
    const std::pair<const std::optional<std::string>*, const std::string*> fields[] = {
        {&r.text_a, &options_.text_column}, {&r.text_b, &options_.text_pair_column},
        {&r.label, &options_.label_column}, {&r.id, &options_.id_column}};
    for (const auto& [value, column] : fields) {
      if (!*value) continue;
      if (const std::string problem = text_problem(**value); !problem.empty()) {
        bad(line, fmt::format("expected text in '{}', found {}", *column, problem));
        return;
      }
    }
    // Surrounding spaces are not part of a label (" yes" and "yes" are one class); inner tabs and line breaks
    // would break the submission file's columns.
    if (r.label && !r.number) {
      r.label = std::string(trim_spaces(*r.label));
      if (r.label->find_first_of("\t\r\n") != std::string::npos) {
        bad(line, fmt::format("expected a label in '{}' without tabs or line breaks, found {}", options_.label_column,
                              preview(*r.label)));
        return;
      }
    }
    if (!r.text_a || blank(*r.text_a)) {
      bad(line, fmt::format("expected text in '{}', found {}", options_.text_column,
                            r.text_a ? "an empty field" : "no value"));
      return;
    }
    Example ex;
    ex.line = line;
    ex.text_a = std::move(*r.text_a);
    if (!options_.text_pair_column.empty()) {
      if (!r.text_b || blank(*r.text_b)) {
        bad(line, fmt::format("expected text in '{}', found {}", options_.text_pair_column,
                              r.text_b ? "an empty field" : "no value"));
        return;
      }
      ex.text_b = std::move(*r.text_b);
    }
    const bool has_label = r.label.has_value() && !(r.label->empty() && !r.number);
    if (!has_label && options_.require_labels) {
      bad(line, fmt::format("expected a label in '{}', found {}", options_.label_column,
                            r.label ? "an empty field" : "no value"));
      return;
    }
    if (has_label) {
      if (options_.regression) {
        const auto value = r.number ? r.number : parse_double(*r.label);
        if (!value) {
          bad(line, fmt::format("expected a float in '{}', found {}", options_.label_column, preview(*r.label)));
          return;
        }
        ex.target = *value;
      } else {
        const auto it = index_.find(*r.label);
        if (it != index_.end()) {
          ex.label = it->second;
        } else if (fixed_labels_) {
          bad(line, fmt::format("expected a label in {{{}}} (those of the training file) in '{}', found {}",
                                fmt::join(data_.labels, ", "), options_.label_column, preview(*r.label)));
          return;
        } else {
          ex.label = static_cast<int64_t>(data_.labels.size());
          index_.emplace(*r.label, ex.label);
          data_.labels.push_back(*r.label);
        }
      }
      ex.has_label = true;
    }
    ex.id = r.id ? std::move(*r.id) : std::to_string(row_number);
    data_.examples.push_back(std::move(ex));
  }

  // Renumbers collected labels in sorted order (they were numbered first-seen while reading).
  void finish() {
    data_.regression = options_.regression;
    const auto labeled = [](const Example& e) { return e.has_label; };
    data_.has_labels =
        !data_.examples.empty() && std::all_of(data_.examples.begin(), data_.examples.end(), labeled);
    if (fixed_labels_ || options_.regression || options_.label_order != LabelOrder::kSorted) return;
    std::vector<std::string> sorted = data_.labels;
    sort_labels(sorted);
    std::vector<int64_t> remap(sorted.size());
    for (size_t i = 0; i < sorted.size(); ++i) remap[index_.at(sorted[i])] = static_cast<int64_t>(i);
    for (auto& ex : data_.examples)
      if (ex.has_label) ex.label = remap[ex.label];
    data_.labels = std::move(sorted);
  }

 private:
  const std::filesystem::path& file_;
  const GenericOptions& options_;
  Dataset& data_;
  BadRows bad_;
  const std::optional<std::vector<std::string>>& fixed_labels_;
  std::unordered_map<std::string, int64_t> index_;
};

// ---------------------------------------------------------------------------------------------------------
// CSV / TSV with a header

void read_table(LineReader& reader, bool csv, const GenericOptions& options, Builder& builder, Dataset& data) {
  const auto& file = reader.path();
  std::vector<std::string> fields;
  std::string error, line;
  int64_t first_line = 0;
  // Returns false at end of file.
  const auto next = [&]() -> bool {
    if (csv) return next_csv_record(reader, fields, first_line, error);
    if (!reader.next(line)) return false;
    first_line = reader.line_number();
    if (first_line == 1) strip_bom(line);
    fields.clear();
    for (const auto f : split_tabs(line)) fields.emplace_back(f);
    return true;
  };
  const auto is_blank_line = [&] { return error.empty() && fields.size() == 1 && fields[0].empty(); };

  do {
    if (!next())
      throw InputError(fmt::format("{}: expected a header line naming the columns, found an empty file",
                                   where(file, 1)));
  } while (is_blank_line());
  if (!error.empty()) throw InputError(fmt::format("{}: in the header, {}", where(file, first_line), error));
  const std::vector<std::string> header = fields;
  const int64_t header_line = first_line;
  // A missing column means wrong flags or a wrong file, not a bad row: never skipped.
  const auto column = [&](const std::string& name, const char* flag, bool required) -> std::optional<size_t> {
    if (name.empty()) return std::nullopt;
    const auto it = std::find(header.begin(), header.end(), name);
    if (it != header.end()) return static_cast<size_t>(it - header.begin());
    if (!required) return std::nullopt;
    throw InputError(fmt::format("{}: expected a column named '{}' ({}), found columns: {}",
                                 where(file, header_line), name, flag, fmt::join(header, ", ")));
  };
  const auto text_a = column(options.text_column, "--text-column", true);
  const auto text_b = column(options.text_pair_column, "--text-pair-column", true);
  const auto label = column(options.label_column, "--label-column", options.require_labels);
  const auto id = column(options.id_column, "--id-column", true);

  int64_t row_number = -1;
  while (!builder.full() && next()) {
    if (is_blank_line()) continue;
    ++row_number;
    ++data.report.rows;
    if (!error.empty()) {
      builder.bad(first_line, error);
      continue;
    }
    if (fields.size() != header.size()) {
      builder.bad(first_line, fmt::format("expected {} {}-separated fields (as in the header), found {}", header.size(),
                                          csv ? "comma" : "tab", fields.size()));
      continue;
    }
    Record r;
    r.text_a = std::move(fields[*text_a]);
    if (text_b) r.text_b = std::move(fields[*text_b]);
    if (label) r.label = std::move(fields[*label]);
    if (id) r.id = std::move(fields[*id]);
    builder.add(std::move(r), first_line, row_number);
  }
}

// ---------------------------------------------------------------------------------------------------------
// JSONL

void read_jsonl(LineReader& reader, const GenericOptions& options, Builder& builder, Dataset& data) {
  std::string line;
  int64_t row_number = -1;
  while (!builder.full() && reader.next(line)) {
    const int64_t at = reader.line_number();
    if (at == 1) strip_bom(line);
    if (blank(line)) continue;
    ++row_number;
    ++data.report.rows;
    if (const std::string problem = text_problem(line); !problem.empty()) {
      builder.bad(at, fmt::format("expected a line of JSON text, found {}", problem));
      continue;
    }
    nlohmann::json obj;
    try {
      obj = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number too large
      builder.bad(at, fmt::format("expected a JSON object, found invalid JSON ({})", e.what()));
      continue;
    }
    if (!obj.is_object()) {
      builder.bad(at, fmt::format("expected a JSON object, found {}", a_json(obj)));
      continue;
    }
    // Text must be a string; labels and ids may be strings, numbers or booleans.
    std::string problem;
    const auto text = [&](const std::string& key) -> std::optional<std::string> {
      const auto it = obj.find(key);
      if (it == obj.end() || it->is_null()) return std::nullopt;
      if (!it->is_string()) {
        if (problem.empty()) problem = fmt::format("expected a string in \"{}\", found {}", key, a_json(*it));
        return std::nullopt;
      }
      return it->get<std::string>();
    };
    const auto scalar = [&](const std::string& key) -> std::optional<std::string> {
      const auto it = obj.find(key);
      if (it == obj.end() || it->is_null()) return std::nullopt;
      if (it->is_string()) return it->get<std::string>();
      if (it->is_number() || it->is_boolean()) return it->dump();
      if (problem.empty()) problem = fmt::format("expected a string or number in \"{}\", found {}", key, a_json(*it));
      return std::nullopt;
    };
    Record r;
    r.text_a = text(options.text_column);
    if (!options.text_pair_column.empty()) r.text_b = text(options.text_pair_column);
    r.label = scalar(options.label_column);
    if (const auto it = obj.find(options.label_column); it != obj.end() && it->is_number())
      r.number = it->get<double>();
    if (!options.id_column.empty()) r.id = scalar(options.id_column);
    if (!problem.empty()) {
      builder.bad(at, problem);
      continue;
    }
    builder.add(std::move(r), at, row_number);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Public

TableFormat detect_table_format(const std::filesystem::path& file) {
  std::string name = file.filename().string();
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ends_with(name, ".gz")) name.resize(name.size() - 3);
  if (ends_with(name, ".csv")) return TableFormat::kCsv;
  if (ends_with(name, ".tsv") || ends_with(name, ".txt")) return TableFormat::kTsv;
  if (ends_with(name, ".jsonl") || ends_with(name, ".ndjson") || ends_with(name, ".json")) return TableFormat::kJsonl;
  throw InputError(fmt::format("{}: cannot tell the format from the file name; expected a name ending in .csv, "
                               ".tsv, .txt, .jsonl, .ndjson or .json (optionally followed by .gz)",
                               file.string()));
}

void sort_labels(std::vector<std::string>& labels) {
  const auto is_int = [](const std::string& l) { return parse_int(l).has_value(); };
  if (std::all_of(labels.begin(), labels.end(), is_int))
    std::sort(labels.begin(), labels.end(),
              [](const std::string& a, const std::string& b) { return *parse_int(a) < *parse_int(b); });
  else
    std::sort(labels.begin(), labels.end());
}

Dataset read_generic(const std::filesystem::path& file, const GenericOptions& options,
                     const std::optional<std::vector<std::string>>& labels) {
  if (options.text_column.empty()) throw InputError("--text-column: expected a column name, found an empty string");
  if (options.label_column.empty()) throw InputError("--label-column: expected a column name, found an empty string");
  check_readable(file);
  const TableFormat format = options.format == TableFormat::kAuto ? detect_table_format(file) : options.format;
  Dataset data;
  data.path = file;
  LineReader reader(file, options.read.max_line_bytes);
  Builder builder(file, options, labels, data);
  if (format == TableFormat::kJsonl)
    read_jsonl(reader, options, builder, data);
  else
    read_table(reader, format == TableFormat::kCsv, options, builder, data);
  if (data.report.rows == 0 && options.read.max_examples != 0)
    throw InputError(fmt::format("{}: expected data rows{}, found none", where(file, reader.line_number() + 1),
                                 format == TableFormat::kJsonl ? "" : " after the header"));
  builder.finish();
  return data;
}

}  // namespace adapterbias
