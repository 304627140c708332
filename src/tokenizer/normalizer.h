// Stage 1: the normalizer interface (HF `Normalizer`). A normalizer turns a slice of the original code points
// into a NormalizedString, keeping for each output character the span of the original character it came from.
#pragma once
#include <string_view>

#include "tokenizer/normalized_string.h"

namespace adapterbias::tokenizer {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // Appends the normalized form of `text` to `out`; text[i] is the original code point at `offset + i`.
  virtual void normalize(std::u32string_view text, uint32_t offset, NormalizedString& out) const = 0;
};

// tokenizer.json `"normalizer": null`: the text unchanged.
class IdentityNormalizer final : public Normalizer {
 public:
  void normalize(std::u32string_view text, uint32_t offset, NormalizedString& out) const override {
    for (size_t i = 0; i < text.size(); ++i) {
      const auto at = offset + static_cast<uint32_t>(i);
      out.push(text[i], {at, at + 1});
    }
  }
};

}  // namespace adapterbias::tokenizer
