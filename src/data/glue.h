// Reading GLUE task files (the `glue_data/` folder written by download_glue_data.py) into examples.
// Fields are split on tabs with no quoting: '"' is literal text in GLUE TSVs. `.tsv.gz` files are read
// transparently. Column positions, headers and labels come from the task table (data/task.h).
#pragma once
#include <filesystem>
#include <string_view>

#include "data/dataset.h"
#include "data/task.h"

namespace adapterbias {

// Where a split lives: <glue_dir>/<split.folder>/<split.file>, or that path plus ".gz" when only the
// compressed file exists. Throws InputError naming both candidates when neither exists.
std::filesystem::path glue_split_path(const std::filesystem::path& glue_dir, const SplitSpec& split);

// Reads `split` ("train", "dev", "test", MNLI's "dev_mismatched", ...; "dev"/"test" mean the task's
// default splits) of `task` from the GLUE root `glue_dir`.
Dataset read_glue_split(const std::filesystem::path& glue_dir, const TaskSpec& task, std::string_view split,
                        const ReadOptions& options = {});

// Reads one file with the layout of `split`. Every row must have exactly split.num_columns tab-separated fields
// (the header too), non-empty text, and a label from task.labels (or a finite float for regression).
// Otherwise throws InputError "FILE:LINE: expected ..., found ..." (or skips and counts, see ReadOptions).
Dataset read_glue_file(const std::filesystem::path& file, const TaskSpec& task, const SplitSpec& split,
                       const ReadOptions& options = {});

}  // namespace adapterbias
