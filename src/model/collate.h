// Token sequences -> the encoder's input: padded (B, T), padded only to the batch's own longest sequence, or
// packed (the real tokens alone, with their layout). Both are built on the host from the rows' lengths.
#pragma once
#include <vector>

#include "model/bert.h"
#include "tokenizer/tokenizer.h"

namespace adapterbias {

enum class BatchLayout { padded, packed };

EncoderInput collate(const std::vector<const Encoding*>& batch, int64_t pad_token_id);
EncoderInput collate_packed(const std::vector<const Encoding*>& batch);
EncoderInput collate(const std::vector<const Encoding*>& batch, int64_t pad_token_id, BatchLayout layout);

// A packed `input` with `filler_rows` rows appended (token 0 at position 0; no real row attends to them, so their
// values reach nothing and their gradients are zero) and its attention grid widened to `grid_length` >=
// max_length columns, the new ones masked. BertModelImpl::forward lays batches out so (for kernels that are
// faster on a few shapes, and for AttentionGathers) and drops the filler rows from its output.
EncoderInput widen_packed(const EncoderInput& input, int64_t filler_rows, int64_t grid_length);

}  // namespace adapterbias
