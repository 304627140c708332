// The AdapterBias shift over a whole split, as `adapterbias analyze` reports it (docs/explain.md): per layer the
// mean and quantiles of the shift and the relative shift, the word ranking (words seen at least min_count times),
// and the shift against the prediction's confidence; with the figures and one HTML page. Statistics are over
// content tokens (special tokens excluded); a word's shift follows merge_words.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "analysis/token_shift.h"
#include "data/dataset.h"
#include "data/task.h"
#include "peft/adapter_file.h"

namespace adapterbias {

struct SplitAnalysis {
  nlohmann::ordered_json summary;  // what summary.json holds
  // The report's files by name: summary.json, words.tsv, layers.svg, layers_relative.svg, top_words.svg,
  // report.html.
  std::vector<std::pair<std::string, std::string>> files;
};

// `shifts` are token_shifts of `data`'s examples in order; `adapter` and `model_name` only label the report.
SplitAnalysis analyze_split(const std::vector<TokenShifts>& shifts, const Dataset& data, const TaskSpec& task,
                            const std::string& split, const AdapterInfo& info, const at::Tensor& v_norm,
                            const std::string& adapter, const std::string& model_name, int64_t min_count, int64_t top_count);

}  // namespace adapterbias
