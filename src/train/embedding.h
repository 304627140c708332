// Sentence embeddings from the backbone alone: pooled encoder outputs of many inputs, in packed batches (no
// work on padding), without gradients. The Python package's Backbone.embed; the server's /embed later.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/bert.h"
#include "tokenizer/tokenizer.h"

namespace adapterbias {

enum class Pooling {
  cls,     // the first token's last hidden state ([CLS] / <s>)
  mean,    // the mean of the real tokens' last hidden states (sentence-transformers' mean pooling)
  pooler,  // the pooler's tanh(dense(first token)), as BertModel's pooler_output
};

// "cls", "mean" or "pooler"; InputError otherwise.
Pooling parse_pooling(const std::string& name);

// (N, H) fp32 on the CPU, rows in input order; the model's compute decides device and precision.
at::Tensor embed_pooled(BertModel& model, const std::vector<Encoding>& encodings, int64_t batch_size, Pooling pooling);

}  // namespace adapterbias
