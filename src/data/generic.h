// Reading users' own data: CSV (RFC 4180 quoting, records may span lines), TSV (no quoting, like GLUE) or JSONL
// (one object per line), each optionally gzip-compressed, with the text, pair and label columns named by the
// user (--text-column, --text-pair-column, --label-column). CSV/TSV files start with a header line naming the
// columns. Blank lines are ignored; every other malformed row throws or is counted (ReadOptions).
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace adapterbias {

enum class TableFormat { kAuto, kCsv, kTsv, kJsonl };

// How class names found in a training file are numbered.
enum class LabelOrder {
  kSorted,     // ascending; numerically when every label is an integer ("2" < "10"), else byte-wise. Default:
               // the numbering does not depend on the row order, so a reshuffled file gives the same model.
  kFirstSeen,  // in the order of first appearance in the file
};

struct GenericOptions {
  TableFormat format = TableFormat::kAuto;  // kAuto: from the extension, after a final ".gz"
  std::string text_column = "text";
  std::string text_pair_column;            // "" for single-text tasks
  std::string label_column = "label";
  std::string id_column;                   // "" : the id is the 0-based row number
  bool regression = false;                 // labels are floats (one output, MSE)
  bool require_labels = true;              // false: a missing label column/key gives unlabeled examples
  LabelOrder label_order = LabelOrder::kSorted;
  ReadOptions read;
};

// ".csv" -> kCsv, ".tsv"/".txt" -> kTsv, ".jsonl"/".ndjson"/".json" -> kJsonl, each optionally followed by
// ".gz". Throws InputError naming the file and the accepted extensions otherwise.
TableFormat detect_table_format(const std::filesystem::path& file);

// Reads `file`. With `labels` (the training file's Dataset::labels), every label must be one of them; without,
// the labels are collected from this file and numbered by options.label_order (do this for the training file
// and pass its labels when reading dev/test files). Errors: InputError "FILE:LINE: expected ..., found ...".
Dataset read_generic(const std::filesystem::path& file, const GenericOptions& options,
                     const std::optional<std::vector<std::string>>& labels = std::nullopt);

// Orders collected class names as LabelOrder::kSorted does.
void sort_labels(std::vector<std::string>& labels);

}  // namespace adapterbias
