// What AdapterBias learns, per token (issue 7). For token t in layer l the method adds alpha_{l,t} * v_l to
// the FFN output (peft/adapter_bias.h). This module runs a task model with AdapterBias and reports
//
//   alpha     alpha_{l,t} = L_alpha(h_{l,t})
//   shift     |alpha_{l,t}| * ||v_l||_2                          the size of the added vector
//   relative  shift / ||Dropout(W2 h_{l,t} + b2)||_2              relative to the FFN output before the shift
//
// as (L, T) tensors per input, with the prediction, the tokens and their character offsets. The activations
// come from AdapterBiasShift::recorder, set for the duration of one forward. Docs: docs/explain.md.
//
// Dimension legend: L layers, T tokens of one input (no padding).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "peft/task_model.h"
#include "tokenizer/tokenizer.h"

namespace adapterbias {

struct TokenShifts {
  Encoding encoding;   // tokens, offsets (code points into the input's own text), sequence_ids
  at::Tensor alpha;    // (L, T)
  at::Tensor shift;    // (L, T) |alpha| * ||v||
  at::Tensor relative; // (L, T) shift / ||FFN output||
  at::Tensor logits;   // (num_labels); regression: (1)
};

// Runs `model` (which must use AdapterBias) on `encodings` in length-bucketed batches without gradients,
// in eval mode; results in input order. Throws InputError when the model has no AdapterBias shifts.
std::vector<TokenShifts> token_shifts(TaskModel& model, const std::vector<Encoding>& encodings,
                                      int64_t batch_size, int64_t pad_token_id, bool show_progress = false);

// ||v_l||_2 per layer (L), double. Throws InputError when the model has no AdapterBias shifts.
at::Tensor shift_vector_norms(TaskModel& model);

// A word of the input, merged from its word pieces. Rule: consecutive tokens of the same sequence whose
// offsets touch (the next begins exactly where the previous ends, no gap) are one word, except that
// punctuation pieces (BERT's punctuation, apostrophes excepted) at either edge of such a group are words of
// their own ("journey." -> "journey", "."; "'s", "n't", "don't" and "e-mail" stay whole; "..." alone stays one
// word). Special tokens belong to no word. This needs
// only the offsets and the original text, so it holds for WordPiece ("##" pieces) and byte-level BPE alike.
// A word's shift is the maximum over its pieces (per layer, and of the pieces' totals over layers), so
// it does not grow with the number of pieces the vocabulary happens to split the word into.
struct Word {
  std::string text;                   // the original characters, text[begin, end)
  int32_t sequence = 0;               // 0 text, 1 text_pair
  int64_t begin = 0, end = 0;         // code points into that text
  std::vector<int64_t> tokens;        // token indices
  std::vector<double> shift;          // (L) max over pieces per layer
  double total = 0.0;                 // max over pieces of sum over layers of the shift
  double relative_total = 0.0;        // max over pieces of sum over layers of the relative shift
};

std::vector<Word> merge_words(const TokenShifts& shifts, const std::string& text,
                              const std::optional<std::string>& text_pair);

}  // namespace adapterbias
