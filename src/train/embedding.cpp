#include "train/embedding.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/utils.h>

#include "core/error.h"
#include "data/batching.h"
#include "model/collate.h"

namespace adapterbias {

Pooling parse_pooling(const std::string& name) {
  if (name == "cls") return Pooling::cls;
  if (name == "mean") return Pooling::mean;
  if (name == "pooler") return Pooling::pooler;
  throw InputError(fmt::format("pooling '{}': expected cls, mean or pooler", name));
}

at::Tensor embed_pooled(BertModel& model, const std::vector<Encoding>& encodings, int64_t batch_size, Pooling pooling) {
  torch::NoGradGuard no_grad;
  model->eval();
  std::vector<int64_t> lengths;
  for (const auto& e : encodings) lengths.push_back(static_cast<int64_t>(e.ids.size()));
  at::Tensor pooled = at::zeros({static_cast<int64_t>(encodings.size()), model->config().hidden_size});
  for (const auto& batch : plan_batches(lengths, BatchPlanOptions{.batch_size = batch_size, .shuffle = false})) {
    std::vector<const Encoding*> rows;
    std::vector<int64_t> row_lengths;
    for (const int64_t i : batch) {
      rows.push_back(&encodings[i]);
      row_lengths.push_back(lengths[i]);
    }
    const EncoderInput input = collate_packed(rows).to(model->compute().device);
    const EncoderOutput out = model->forward(input);
    at::Tensor rows_pooled;
    if (pooling == Pooling::pooler) {
      rows_pooled = out.pooler_output;
    } else if (pooling == Pooling::cls) {
      rows_pooled = out.last_hidden_state.index_select(0, input.packed.first_token);
    } else {
      // (N, H) tokens -> (B, H): sum each sequence's rows, divide by its length.
      const at::Tensor counts = at::tensor(row_lengths, at::kLong).to(input.input_ids.device());
      const at::Tensor sequence_of_token = at::repeat_interleave(at::arange(counts.size(0), counts.options()), counts);
      const at::Tensor hidden = out.last_hidden_state.to(at::kFloat);
      rows_pooled = at::zeros({counts.size(0), hidden.size(1)}, hidden.options()).index_add_(0, sequence_of_token, hidden) /
                    counts.unsqueeze(1).to(at::kFloat);
    }
    pooled.index_copy_(0, at::tensor(batch, at::kLong), rows_pooled.to(at::kCPU, at::kFloat));
  }
  return pooled;
}

}  // namespace adapterbias
