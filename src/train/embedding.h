// Sentence embeddings from the backbone alone: pooled encoder outputs of many inputs, in packed batches (no
// work on padding), without gradients. The Python package's Backbone.embed; the server's /embed later.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/bert.h"
#include "model/pooling.h"
#include "tokenizer/tokenizer.h"

namespace adapterbias {

// (N, H) fp32 on the CPU, rows in input order; the model's compute decides device and precision.
at::Tensor embed_pooled(BertModel& model, const std::vector<Encoding>& encodings, int64_t batch_size, Pooling pooling);

// What write_embeddings stores per input.
struct EmbeddingOutputs {
  std::optional<Pooling> pooling = Pooling::pooler;  // "pooled" (N, H); nullopt: no pooled tensor
  bool tokens = false;  // "last_hidden_state" (real tokens of all inputs, H) with "offsets" (N + 1, I64): input
                        // i's tokens are rows [offsets[i], offsets[i + 1]); no padding is stored
};

// Streams the embeddings of `encodings` (only ids and type_ids are read) into the safetensors file `path`, one
// batch in memory at a time: tensors are declared up front and each batch's rows are written in place, so
// memory stays at one batch's activations whatever the number of inputs. fp32, rows in input order; the file
// appears atomically (core/safetensors_writer.h). `metadata` is stored with "pooling" added.
void write_embeddings(BertModel& model, const std::vector<Encoding>& encodings, int64_t batch_size,
                      const EmbeddingOutputs& outputs, const std::filesystem::path& path,
                      std::map<std::string, std::string> metadata);

}  // namespace adapterbias
