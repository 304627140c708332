// What the readers produce: examples (text, optional pair, label), the options every reader takes, and the
// report of rows that were skipped. Readers: data/glue.h (GLUE folders), data/generic.h (users' CSV/TSV/JSONL).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/io.h"

namespace adapterbias {

struct Example {
  std::string text_a{};
  std::optional<std::string> text_b{};// the second sentence of pair tasks
  int64_t label = -1;                 // class index into Dataset::labels; -1 when unlabeled or regression
  double target = 0.0;                // regression target (STS-B score); 0 when unlabeled or classification
  bool has_label = false;             // false for test splits
  std::string id{};                   // GLUE `index`/`id` column, or the 0-based row number when there is none
  int64_t line = 0;                   // 1-based line of the row in its file (first line of a multi-line CSV record)
};

struct ReadOptions {
  int64_t max_examples = -1;   // keep the first N good rows; < 0 keeps all
  bool skip_bad_rows = false;  // false: the first malformed row throws InputError; true: skip and count it
  size_t max_reasons = 5;      // how many skip reasons the report keeps
  size_t max_line_bytes = kDefaultMaxLineBytes;  // a longer line is an InputError (core/io.h)
};

// Rows skipped because of `skip_bad_rows`; nothing is dropped without being counted here.
struct ReadReport {
  int64_t rows = 0;                  // data rows looked at (header and blank lines excluded)
  int64_t skipped = 0;
  std::vector<std::string> reasons;  // the first `max_reasons` messages, each "FILE:LINE: ..."
  // "" when nothing was skipped, else e.g. "skipped 3 of 1000 rows; first: a.tsv:7: ...; a.tsv:9: ...".
  std::string summary() const;
};

struct Dataset {
  std::filesystem::path path;
  std::vector<Example> examples;
  std::vector<std::string> labels;  // class names in model-output order; empty for regression
  bool regression = false;
  bool has_labels = false;          // every example has a label
  ReadReport report;

  size_t size() const { return examples.size(); }
};

// The examples of `data` at `indices`, in that order (everything else as in `data`).
Dataset subset(const Dataset& data, const std::vector<int64_t>& indices);

// ---------------------------------------------------------------------------------------------------------
// Helpers shared by the readers

// Splits on '\t' with no quoting: GLUE TSVs contain literal '"' characters.
std::vector<std::string_view> split_tabs(std::string_view line);

// A field shown in an error message: quoted, cut to a readable length.
std::string preview(std::string_view field);

// Why `text` cannot be a text field ("a NUL byte at byte 3", "invalid UTF-8 at byte 7"), or "" when it can.
// Byte offsets are 0-based within the field.
std::string text_problem(std::string_view text);

// Whether `text` is empty or only spaces, tabs and line breaks.
bool blank(std::string_view text);

// Removes a UTF-8 byte order mark (EF BB BF) at the start of `line`.
void strip_bom(std::string& line);

// Parses a whole field as a finite double (surrounding spaces allowed); nullopt otherwise.
std::optional<double> parse_double(std::string_view field);

// Collects bad rows: throws InputError at the first one, or counts it when skipping.
class BadRows {
 public:
  BadRows(const ReadOptions& options, ReadReport& report) : options_(options), report_(report) {}
  // `message` already starts with "FILE:LINE: ".
  void add(std::string message);

 private:
  const ReadOptions& options_;
  ReadReport& report_;
};

}  // namespace adapterbias
