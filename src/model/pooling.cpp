#include "model/pooling.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "core/error.h"

namespace adapterbias {

Pooling parse_pooling(const std::string& name) {
  if (name == "cls") return Pooling::cls;
  if (name == "mean") return Pooling::mean;
  if (name == "pooler") return Pooling::pooler;
  throw InputError(fmt::format("pooling '{}': expected cls, mean or pooler", name));
}

const char* pooling_name(Pooling pooling) {
  return pooling == Pooling::cls ? "cls" : pooling == Pooling::mean ? "mean" : "pooler";
}

LastLayer last_layer_for(Pooling pooling) {
  return pooling == Pooling::mean ? LastLayer::every_token : LastLayer::first_tokens;
}

at::Tensor pool(Pooling pooling, const EncoderInput& input, const EncoderOutput& out) {
  // At least fp32: a mean of bf16 states summed in bf16 would lose the low bits of every row.
  const at::ScalarType dtype = at::promote_types(out.first_tokens.scalar_type(), at::kFloat);
  if (pooling == Pooling::pooler) {
    if (!out.pooler_output.defined()) throw InputError("this model has no pooler: pool with cls or mean");
    return out.pooler_output.to(dtype);
  }
  if (pooling == Pooling::cls) return out.first_tokens.to(dtype);
  TORCH_CHECK(out.last_hidden_state.defined(), "mean pooling reads every token: run the encoder with LastLayer::every_token");
  const at::Tensor hidden = out.last_hidden_state.to(dtype);
  if (input.is_packed()) {
    // (N, H) tokens -> (B, H): each sequence's rows summed, divided by its length. The output size is given,
    // so repeat_interleave needs no read-back.
    const at::Tensor lengths = input.packed.cu_seqlens.diff().to(at::kLong);
    const at::Tensor sequence_of_token = at::repeat_interleave(at::arange(lengths.size(0), lengths.options()), lengths,
                                                               /*dim=*/0, /*output_size=*/hidden.size(0));
    const at::Tensor sums = at::zeros({lengths.size(0), hidden.size(1)}, hidden.options()).index_add(0, sequence_of_token, hidden);
    return sums / lengths.unsqueeze(1).to(dtype);
  }
  if (!input.attention_mask.defined()) return hidden.mean(1);
  const at::Tensor mask = input.attention_mask.unsqueeze(2).to(dtype);  // (B, T, 1)
  return (hidden * mask).sum(1) / mask.sum(1);
}

}  // namespace adapterbias
