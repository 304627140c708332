// The tiny BERT and batch the PEFT tests share: 2 layers, H 8, I 16, two sequences (one padded), two token types.
#pragma once
#include <ATen/ATen.h>

#include "model/bert.h"

namespace adapterbias::testing {

constexpr int64_t kH = 8, kI = 16, kL = 2, kLabels = 3;

inline BertConfig tiny_config() {
  BertConfig c;
  c.vocab_size = 30;
  c.hidden_size = kH;
  c.num_hidden_layers = kL;
  c.num_attention_heads = 2;
  c.intermediate_size = kI;
  c.max_position_embeddings = 16;
  return c;
}

inline EncoderInput tiny_batch() {
  EncoderInput in;
  in.input_ids = at::tensor({2, 7, 9, 4, 11, 3, 2, 5, 8, 0, 0, 0}, at::kLong).view({2, 6});
  in.token_type_ids = at::tensor({0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0, 0}, at::kLong).view({2, 6});
  in.attention_mask = at::tensor({1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0}, at::kLong).view({2, 6});
  return in;
}

}  // namespace adapterbias::testing
