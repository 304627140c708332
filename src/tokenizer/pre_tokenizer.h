// Stage 2: the pre-tokenizer interface (HF `PreTokenizer`). Splits a NormalizedString into words; the model
// tokenizes each word on its own.
#pragma once
#include <vector>

#include "tokenizer/normalized_string.h"

namespace adapterbias::tokenizer {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Appends the words of `text` to `out`.
  virtual void pre_tokenize(const NormalizedString& text, std::vector<PreToken>& out) const = 0;
};

// Appends text.chars[begin, end) as one word (UTF-8 text, spans copied).
void append_word(const NormalizedString& text, size_t begin, size_t end, std::vector<PreToken>& out);

// tokenizer.json `"pre_tokenizer": null`: the whole text is one word.
class IdentityPreTokenizer final : public PreTokenizer {
 public:
  void pre_tokenize(const NormalizedString& text, std::vector<PreToken>& out) const override {
    if (!text.empty()) append_word(text, 0, text.chars.size(), out);
  }
};

}  // namespace adapterbias::tokenizer
