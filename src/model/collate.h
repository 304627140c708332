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

}  // namespace adapterbias
