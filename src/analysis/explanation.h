// The JSON document of `adapterbias explain --format json` (and the Python package's TaskModel.explain): per
// input the prediction, every token with its offsets and its alpha / shift / relative shift per layer and in
// total, and the words merged from the pieces (analysis/token_shift.h). Schema: docs/explain.md.
#pragma once
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "analysis/token_shift.h"
#include "data/dataset.h"
#include "peft/adapter_file.h"

namespace adapterbias {

// One input's entry: text, text_pair, prediction, tokens, words.
nlohmann::ordered_json explanation_json(const AdapterInfo& info, const Example& example, const TokenShifts& shifts);

// The whole document: adapter, task, layers, ||v_l|| per layer, the word rule, and every input's entry.
nlohmann::ordered_json explanations_json(const std::string& adapter, const AdapterInfo& info,
                                         const std::vector<Example>& examples, const std::vector<TokenShifts>& shifts,
                                         const at::Tensor& v_norm);

// The values of a tensor as doubles, in row-major order.
std::vector<double> to_doubles(const at::Tensor& t);

}  // namespace adapterbias
