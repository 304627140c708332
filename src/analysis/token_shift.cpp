#include "analysis/token_shift.h"

#include <algorithm>
#include <memory>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/utils.h>

#include "core/error.h"
#include "train/inference.h"     // defines: for_each_batch
#include "peft/adapter_bias.h"   // defines: AdapterBias::shift_of, ShiftRecord
#include "tokenizer/unicode.h"   // defines: decode_utf8, encode_utf8

namespace adapterbias {

namespace {

std::vector<std::shared_ptr<AdapterBiasShift>> shifts_of(TaskModel& model) {
  std::vector<std::shared_ptr<AdapterBiasShift>> shifts;
  for (auto& layer : model.backbone->encoder->layers) {
    auto shift = AdapterBias::shift_of(layer);
    if (!shift) throw InputError(fmt::format("token shifts need an AdapterBias adapter; this model's method is '{}'",
                                             model.method->name()));
    shifts.push_back(shift);
  }
  return shifts;
}

}  // namespace

at::Tensor shift_vector_norms(TaskModel& model) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> norms;
  for (const auto& shift : shifts_of(model)) norms.push_back(shift->v.detach().to(at::kCPU, at::kDouble).norm());
  return at::stack(norms);  // (L)
}

std::vector<TokenShifts> token_shifts(TaskModel& model, const std::vector<Encoding>& encodings,
                                      int64_t batch_size, int64_t pad_token_id, bool show_progress) {
  torch::NoGradGuard no_grad;
  model.eval();
  auto shifts = shifts_of(model);
  const int64_t L = static_cast<int64_t>(shifts.size());
  const at::Tensor v_norm = shift_vector_norms(model).to(at::kFloat);  // (L)

  std::vector<ShiftRecord> records(L);
  // Detaches the recorders even when a forward throws.
  struct Detach {
    std::vector<std::shared_ptr<AdapterBiasShift>>& shifts;
    ~Detach() {
      for (auto& s : shifts) s->recorder = nullptr;
    }
  } detach{shifts};
  for (int64_t l = 0; l < L; ++l) shifts[l]->recorder = &records[l];

  std::vector<TokenShifts> out(encodings.size());
  for_each_batch(model, encodings, batch_size, pad_token_id, show_progress ? "explain" : "",
                 [&](const std::vector<int64_t>& batch, const at::Tensor& logits) {  // logits (B, C)
                   std::vector<at::Tensor> alphas, norms;
                   for (const ShiftRecord& r : records) {
                     alphas.push_back(r.alpha.to(at::kCPU, at::kFloat));
                     norms.push_back(r.ffn_norm.to(at::kCPU, at::kFloat));
                   }
                   const at::Tensor alpha = at::stack(alphas, 1);    // (B, L, Tpad)
                   const at::Tensor ffn_norm = at::stack(norms, 1);  // (B, L, Tpad)
                   for (size_t b = 0; b < batch.size(); ++b) {
                     const int64_t i = batch[b], T = static_cast<int64_t>(encodings[i].ids.size());
                     TokenShifts& s = out[i];
                     s.encoding = encodings[i];
                     s.alpha = alpha[b].narrow(1, 0, T).clone();                // (L, T)
                     s.shift = s.alpha.abs() * v_norm.unsqueeze(1);               // (L, T)
                     s.relative = s.shift / ffn_norm[b].narrow(1, 0, T);          // (L, T)
                     s.logits = logits[b].clone();
                   }
                 },
                 BatchLayout::padded,        // the recorders' (B, T) rows line up with the batch
                 LastLayer::every_token);  // and every token of the last layer is recorded
  return out;
}

std::vector<Word> merge_words(const TokenShifts& shifts, const std::string& text,
                              const std::optional<std::string>& text_pair) {
  const Encoding& e = shifts.encoding;
  const int64_t L = shifts.shift.size(0);
  const at::Tensor shift = shifts.shift.to(at::kDouble).contiguous();       // (L, T)
  const at::Tensor total_t = shift.sum(0);                                  // (T)
  const at::Tensor relative_t = shifts.relative.to(at::kDouble).sum(0).contiguous();  // (T)
  const auto shift_at = shift.accessor<double, 2>();
  const auto total = total_t.accessor<double, 1>();
  const auto relative_total = relative_t.accessor<double, 1>();
  const std::u32string chars[2] = {tokenizer::decode_utf8(text, "text"),
                                    tokenizer::decode_utf8(text_pair ? *text_pair : std::string(), "text_pair")};
  // Whether token t's characters are all punctuation (BERT's definition, which includes ASCII symbols) other
  // than apostrophes, which belong to words ("'s", "n't", "don't").
  auto punctuation = [&](size_t t) {
    const std::u32string& c = chars[e.sequence_ids[t] == 1 ? 1 : 0];
    for (int64_t i = e.offsets[t].first; i < e.offsets[t].second; ++i)
      if (i >= static_cast<int64_t>(c.size()) || c[i] == U'\'' || c[i] == U'\u2019' ||
          !tokenizer::is_bert_punctuation(c[i]))
        return false;
    return true;
  };

  // 1. Groups of consecutive content tokens whose offsets touch.
  std::vector<std::vector<size_t>> groups;
  for (size_t t = 0; t < e.tokens.size(); ++t) {
    const int32_t seq = e.sequence_ids[t];
    const auto [begin, end] = e.offsets[t];
    if (seq < 0 || end <= begin) continue;  // special tokens (and empty spans) belong to no word
    const bool joins = !groups.empty() && groups.back().back() + 1 == t && e.sequence_ids[t - 1] == seq &&
                       e.offsets[t - 1].second == begin;
    if (!joins) groups.emplace_back();
    groups.back().push_back(t);
  }
  // 2. Punctuation at either edge of a group is split off, one word per piece ("journey." -> "journey", ".";
  //    "'s", "n't" and "don't" stay whole); a group of punctuation only stays one word ("...").
  std::vector<std::vector<size_t>> pieces_of_words;
  for (const auto& g : groups) {
    size_t first = 0, last = g.size();
    while (first < last && punctuation(g[first])) ++first;
    while (last > first && punctuation(g[last - 1])) --last;
    if (first == last) {
      pieces_of_words.push_back(g);
      continue;
    }
    for (size_t i = 0; i < first; ++i) pieces_of_words.push_back({g[i]});
    pieces_of_words.emplace_back(g.begin() + static_cast<std::ptrdiff_t>(first), g.begin() + static_cast<std::ptrdiff_t>(last));
    for (size_t i = last; i < g.size(); ++i) pieces_of_words.push_back({g[i]});
  }

  std::vector<Word> words;
  for (const auto& pieces : pieces_of_words) {
    Word w;
    w.sequence = e.sequence_ids[pieces.front()];
    w.begin = e.offsets[pieces.front()].first;
    w.end = e.offsets[pieces.back()].second;
    w.shift.assign(L, 0.0);
    for (const size_t t : pieces) {
      w.tokens.push_back(static_cast<int64_t>(t));
      for (int64_t l = 0; l < L; ++l) w.shift[l] = std::max(w.shift[l], shift_at[l][static_cast<int64_t>(t)]);
      w.total = std::max(w.total, total[static_cast<int64_t>(t)]);
      w.relative_total = std::max(w.relative_total, relative_total[static_cast<int64_t>(t)]);
    }
    const std::u32string& c = chars[w.sequence == 1 ? 1 : 0];
    const int64_t n = static_cast<int64_t>(c.size());
    const int64_t b = std::clamp<int64_t>(w.begin, 0, n), en = std::clamp<int64_t>(w.end, b, n);
    w.text = tokenizer::encode_utf8(std::u32string_view(c).substr(b, en - b));
    words.push_back(std::move(w));
  }
  return words;
}

}  // namespace adapterbias
