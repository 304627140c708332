// BertPreTokenizer (HF pre_tokenizers/bert.rs): split on whitespace (removed), then isolate every
// punctuation character (ASCII punctuation or Unicode P*) as its own word.
#pragma once
#include "tokenizer/pre_tokenizer.h"

namespace adapterbias::tokenizer {

class BertPreTokenizer final : public PreTokenizer {
 public:
  void pre_tokenize(const NormalizedString& text, std::vector<PreToken>& out) const override;
};

}  // namespace adapterbias::tokenizer
