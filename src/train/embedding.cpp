#include "train/embedding.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/utils.h>

#include "core/error.h"
#include "core/progress.h"
#include "core/safetensors_writer.h"
#include "data/batching.h"
#include "model/collate.h"

namespace adapterbias {

namespace {

// Runs the encoder over `encodings` in packed batches (lengths sorted into batches, no padding) and hands each
// batch's input indices, lengths and outputs (the last layer computed as `last_layer` says) to `use`.
template <typename Use>
void for_each_batch(BertModel& model, const std::vector<Encoding>& encodings, int64_t batch_size, LastLayer last_layer,
                    Use&& use) {
  torch::NoGradGuard no_grad;
  model->eval();
  std::vector<int64_t> lengths;
  for (const auto& e : encodings) lengths.push_back(static_cast<int64_t>(e.ids.size()));
  for (const auto& batch : plan_batches(lengths, BatchPlanOptions{.batch_size = batch_size, .shuffle = false})) {
    std::vector<const Encoding*> rows;
    std::vector<int64_t> row_lengths;
    for (const int64_t i : batch) {
      rows.push_back(&encodings[i]);
      row_lengths.push_back(lengths[i]);
    }
    const EncoderInput input = collate_packed(rows).to(model->compute().device);
    use(batch, row_lengths, input, model->forward(input, last_layer));
  }
}

std::string_view bytes_of(const at::Tensor& t) {
  return {static_cast<const char*>(t.data_ptr()), t.nbytes()};
}

}  // namespace

at::Tensor embed_pooled(BertModel& model, const std::vector<Encoding>& encodings, int64_t batch_size, Pooling pooling) {
  at::Tensor pooled = at::zeros({static_cast<int64_t>(encodings.size()), model->config().hidden_size});
  for_each_batch(model, encodings, batch_size, last_layer_for(pooling),
                 [&](const std::vector<int64_t>& batch, const std::vector<int64_t>&, const EncoderInput& input,
                     const EncoderOutput& out) {
                   pooled.index_copy_(0, at::tensor(batch, at::kLong), pool(pooling, input, out).cpu());
                 });
  return pooled;
}

void write_embeddings(BertModel& model, const std::vector<Encoding>& encodings, int64_t batch_size,
                      const EmbeddingOutputs& outputs, const std::filesystem::path& path,
                      std::map<std::string, std::string> metadata) {
  if (!outputs.pooling && !outputs.tokens) throw InputError("embeddings: nothing to write (no pooling, no tokens)");
  const int64_t N = static_cast<int64_t>(encodings.size()), H = model->config().hidden_size;
  std::vector<int64_t> offsets(encodings.size() + 1, 0);
  for (size_t i = 0; i < encodings.size(); ++i) offsets[i + 1] = offsets[i] + static_cast<int64_t>(encodings[i].ids.size());
  std::vector<SafetensorsTensorSpec> specs;
  if (outputs.pooling) specs.push_back({"pooled", "F32", {N, H}});
  if (outputs.tokens) {
    specs.push_back({"last_hidden_state", "F32", {offsets.back(), H}});
    specs.push_back({"offsets", "I64", {N + 1}});
  }
  metadata["pooling"] = outputs.pooling ? pooling_name(*outputs.pooling) : "none";
  SafetensorsWriter writer(path, specs, metadata);
  if (outputs.tokens)
    writer.write("offsets", 0, std::string_view(reinterpret_cast<const char*>(offsets.data()), offsets.size() * 8));
  const size_t row_bytes = static_cast<size_t>(H) * sizeof(float);
  Progress progress((N + batch_size - 1) / batch_size, "embed");
  const LastLayer last_layer = outputs.tokens ? LastLayer::every_token : last_layer_for(*outputs.pooling);
  for_each_batch(model, encodings, batch_size, last_layer,
                 [&](const std::vector<int64_t>& batch, const std::vector<int64_t>& lengths, const EncoderInput& input,
                     const EncoderOutput& out) {
                   int64_t tokens = 0;
                   if (outputs.pooling) {
                     const at::Tensor pooled = pool(*outputs.pooling, input, out).cpu().contiguous();
                     for (size_t b = 0; b < batch.size(); ++b)
                       writer.write("pooled", static_cast<size_t>(batch[b]) * row_bytes,
                                    bytes_of(pooled[static_cast<int64_t>(b)]));
                   }
                   // Packed rows: sequence b's tokens follow sequence b - 1's.
                   const at::Tensor hidden = outputs.tokens ? out.last_hidden_state.to(at::kFloat).cpu().contiguous()
                                                            : at::Tensor();
                   for (size_t b = 0; b < batch.size(); ++b) {
                     if (outputs.tokens)
                       writer.write("last_hidden_state", static_cast<size_t>(offsets[batch[b]]) * row_bytes,
                                    bytes_of(hidden.narrow(0, tokens, lengths[b])));
                     tokens += lengths[b];
                   }
                   progress.advance(1, tokens);
                 });
  progress.finish();
  writer.commit();
}

}  // namespace adapterbias
