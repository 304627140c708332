#include "data/glue.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "core/io.h"

namespace adapterbias {

std::filesystem::path glue_split_path(const std::filesystem::path& glue_dir, const SplitSpec& split) {
  const auto plain = glue_dir / split.folder / split.file;
  if (std::filesystem::is_regular_file(plain)) return plain;
  auto gz = plain;
  gz += ".gz";
  if (std::filesystem::is_regular_file(gz)) return gz;
  throw InputError(fmt::format("{}: no such file (nor {}); hint: point --data-dir at the GLUE root holding "
                               "{}/{} as written by download_glue_data.py",
                               plain.string(), gz.filename().string(), split.folder, split.file));
}

Dataset read_glue_split(const std::filesystem::path& glue_dir, const TaskSpec& task, std::string_view split,
                        const ReadOptions& options) {
  const SplitSpec& spec = task.split(split);
  return read_glue_file(glue_split_path(glue_dir, spec), task, spec, options);
}

Dataset read_glue_file(const std::filesystem::path& file, const TaskSpec& task, const SplitSpec& split,
                       const ReadOptions& options) {
  Dataset data;
  data.path = file;
  data.labels = task.labels;
  data.regression = task.regression;
  data.has_labels = split.label_column.has_value();
  BadRows bad(options, data.report);
  const std::string what = fmt::format("{} {}", task.name, split.name);
  const auto expected_columns = static_cast<size_t>(split.num_columns);

  LineReader reader(file, options.max_line_bytes);
  std::string line;
  std::vector<std::string> header;
  if (split.has_header) {
    if (!reader.next(line))
      throw InputError(fmt::format("{}: expected the {} header line ({} tab-separated columns), found an empty file",
                                   where(file, 1), what, split.num_columns));
    strip_bom(line);
    for (const auto field : split_tabs(line)) header.emplace_back(field);
    // A wrong header means a wrong file or task, not one bad row: never skipped.
    if (header.size() != expected_columns)
      throw InputError(fmt::format("{}: expected the {} header with {} tab-separated columns, found {} ({}); "
                                   "hint: is this the right file for task {}?",
                                   where(file, 1), what, split.num_columns, header.size(),
                                   preview(line), task.name));
  }
  const auto column_name = [&](int column) {
    return column < static_cast<int>(header.size()) ? fmt::format("column {} ('{}')", column, header[column])
                                                    : fmt::format("column {}", column);
  };

  int64_t row_number = -1;  // 0-based among data rows: the id of rows without an id column
  const auto want_more = [&] {
    return options.max_examples < 0 || static_cast<int64_t>(data.examples.size()) < options.max_examples;
  };
  while (want_more() && reader.next(line)) {
    if (reader.line_number() == 1) strip_bom(line);
    ++row_number;
    ++data.report.rows;
    const auto at = [&] { return where(file, reader.line_number()); };  // only built for messages
    if (const std::string problem = text_problem(line); !problem.empty()) {
      bad.add(fmt::format("{}: expected a line of text, found {}", at(), problem));
      continue;
    }
    const auto fields = split_tabs(line);
    if (fields.size() != expected_columns) {
      bad.add(fmt::format("{}: expected {} tab-separated columns ({}), found {}: {}", at(), split.num_columns, what,
                          fields.size(), preview(line)));
      continue;
    }
    Example ex;
    ex.line = reader.line_number();
    ex.text_a = fields[split.text_a_column];
    if (blank(ex.text_a)) {
      bad.add(fmt::format("{}: expected text in {}, found an empty field", at(), column_name(split.text_a_column)));
      continue;
    }
    if (split.text_b_column) {
      ex.text_b = std::string(fields[*split.text_b_column]);
      if (blank(*ex.text_b)) {
        bad.add(fmt::format("{}: expected text in {}, found an empty field", at(),
                            column_name(*split.text_b_column)));
        continue;
      }
    }
    if (split.label_column) {
      const std::string_view field = fields[*split.label_column];
      if (task.regression) {
        const auto value = parse_double(field);
        if (!value) {
          bad.add(fmt::format("{}: expected a float score in {}, found {}", at(), column_name(*split.label_column),
                              preview(field)));
          continue;
        }
        ex.target = *value;
      } else {
        ex.label = task.label_index(field);
        if (ex.label < 0) {
          bad.add(fmt::format("{}: expected a label in {{{}}} in {}, found {}", at(), fmt::join(task.labels, ", "),
                              column_name(*split.label_column), preview(field)));
          continue;
        }
      }
      ex.has_label = true;
    }
    ex.id = split.id_column ? std::string(fields[*split.id_column]) : std::to_string(row_number);
    data.examples.push_back(std::move(ex));
  }
  if (data.report.rows == 0 && options.max_examples != 0)
    throw InputError(fmt::format("{}: expected {} data rows{}, found none", where(file, reader.line_number() + 1),
                                 what, split.has_header ? " after the header" : ""));
  return data;
}

}  // namespace adapterbias
