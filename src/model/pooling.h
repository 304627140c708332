// One vector per sequence from the encoder's outputs: what a task head reads and what `embed` stores.
#pragma once
#include <string>

#include <ATen/core/Tensor.h>

#include "model/bert.h"

namespace adapterbias {

enum class Pooling {
  cls,     // the first token's last hidden state ([CLS] / <s>)
  mean,    // the mean of the real tokens' last hidden states (sentence-transformers' mean pooling)
  pooler,  // the pooler's tanh(dense(first token)), as BertModel's pooler_output
};

// "cls", "mean" or "pooler"; InputError otherwise.
Pooling parse_pooling(const std::string& name);
const char* pooling_name(Pooling pooling);

// (B, H) fp32 (fp64 for fp64 states) on the hidden states' device: one row per sequence of `input` (padded or packed; its
// tensors on that device). Differentiable; reads nothing back to the host.
at::Tensor pool(Pooling pooling, const EncoderInput& input, const EncoderOutput& out);

// What the encoder's last layer must compute for `pooling`: every token for mean, else the first tokens.
LastLayer last_layer_for(Pooling pooling);

}  // namespace adapterbias
