#include "analysis/explanation.h"

#include <ATen/ATen.h>

#include "train/inference.h"

namespace adapterbias {

std::vector<double> to_doubles(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kDouble).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

nlohmann::ordered_json explanation_json(const AdapterInfo& info, const Example& example, const TokenShifts& s) {
  nlohmann::ordered_json out;
  out["text"] = example.text_a;
  out["text_pair"] = example.text_b ? nlohmann::ordered_json(*example.text_b) : nlohmann::ordered_json(nullptr);
  out["prediction"] = prediction_json(info, s.logits);
  // (T), summed in double as merge_words does, so that a word total equals its largest piece total exactly.
  const at::Tensor shift_total = s.shift.to(at::kDouble).sum(0), relative_total = s.relative.to(at::kDouble).sum(0);
  nlohmann::ordered_json tokens = nlohmann::ordered_json::array();
  for (size_t t = 0; t < s.encoding.tokens.size(); ++t) {
    const auto i = static_cast<int64_t>(t);
    tokens.push_back({{"token", s.encoding.tokens[t]},
                      {"offsets", {s.encoding.offsets[t].first, s.encoding.offsets[t].second}},
                      {"sequence", s.encoding.sequence_ids[t]},
                      {"alpha", to_doubles(s.alpha.select(1, i))},
                      {"shift", to_doubles(s.shift.select(1, i))},
                      {"relative", to_doubles(s.relative.select(1, i))},
                      {"shift_total", shift_total[i].item<double>()},
                      {"relative_total", relative_total[i].item<double>()}});
  }
  out["tokens"] = tokens;
  nlohmann::ordered_json words = nlohmann::ordered_json::array();
  for (const Word& w : merge_words(s, example.text_a, example.text_b))
    words.push_back({{"word", w.text},
                     {"sequence", w.sequence},
                     {"offsets", {w.begin, w.end}},
                     {"tokens", w.tokens},
                     {"shift", w.shift},
                     {"shift_total", w.total},
                     {"relative_total", w.relative_total}});
  out["words"] = words;
  return out;
}

nlohmann::ordered_json explanations_json(const std::string& adapter, const AdapterInfo& info,
                                         const std::vector<Example>& examples, const std::vector<TokenShifts>& shifts,
                                         const at::Tensor& v_norm) {
  nlohmann::ordered_json out;
  out["adapter"] = adapter;
  out["task"] = info.task;
  out["layers"] = v_norm.size(0);
  out["v_norm"] = to_doubles(v_norm);
  out["word_rule"] = "pieces whose offsets touch form one word; a word's shift is the max over its pieces";
  nlohmann::ordered_json inputs = nlohmann::ordered_json::array();
  for (size_t i = 0; i < shifts.size(); ++i) inputs.push_back(explanation_json(info, examples[i], shifts[i]));
  out["inputs"] = inputs;
  return out;
}

}  // namespace adapterbias
