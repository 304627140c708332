// Token sequences -> the encoder's padded (B, T) input, padded only to the batch's own longest sequence.
#pragma once
#include <vector>

#include "model/bert.h"
#include "tokenizer/tokenizer.h"

namespace adapterbias {

EncoderInput collate(const std::vector<const Encoding*>& batch, int64_t pad_token_id);

}  // namespace adapterbias
