// BertNormalizer (HF normalizers/bert.rs): clean text, spaces around CJK ideographs, accent stripping (NFD then
// drop Mn) and lowercasing, applied in that order.
#pragma once
#include "tokenizer/normalizer.h"

namespace adapterbias::tokenizer {

struct BertNormalizerOptions {
  bool clean_text = true;            // drop \0, U+FFFD and control characters; map every whitespace to ' '
  bool handle_chinese_chars = true;  // put spaces around CJK ideographs so each becomes a word
  bool strip_accents = true;         // HF: `strip_accents.unwrap_or(lowercase)`
  bool lowercase = true;
};

class BertNormalizer final : public Normalizer {
 public:
  explicit BertNormalizer(BertNormalizerOptions options) : options_(options) {}
  void normalize(std::u32string_view text, uint32_t offset, NormalizedString& out) const override;

 private:
  BertNormalizerOptions options_;
};

}  // namespace adapterbias::tokenizer
