#include "tokenizer/bert_normalizer.h"

#include "tokenizer/unicode.h"

namespace adapterbias::tokenizer {
namespace {

bool is_chinese_char(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

}  // namespace

// HF applies each step to the whole string in turn; every step is per character, so applying all steps to one
// character at a time gives the same characters and the same alignments.
void BertNormalizer::normalize(std::u32string_view text, uint32_t offset, NormalizedString& out) const {
  out.chars.reserve(out.chars.size() + text.size());
  out.spans.reserve(out.spans.size() + text.size());
  char32_t decomposed[8];
  for (size_t i = 0; i < text.size(); ++i) {
    char32_t c = text[i];
    const Span span{offset + static_cast<uint32_t>(i), offset + static_cast<uint32_t>(i) + 1};
    if (c < 0x80) {  // ASCII fast path: no CJK, no accents
      if (options_.clean_text) {
        if (c == '\t' || c == '\n' || c == '\r' || c == ' ') {
          out.push(' ', span);
          continue;
        }
        if (c < 0x20 || c == 0x7F) continue;  // control characters
      }
      if (options_.lowercase && c >= 'A' && c <= 'Z') c += 32;
      out.push(c, span);
      continue;
    }
    if (options_.clean_text) {
      if (c == 0xFFFD || is_other(c)) continue;
      if (is_whitespace(c)) c = ' ';
    }
    const bool cjk = options_.handle_chinese_chars && is_chinese_char(c);
    if (cjk) out.push(' ', span);
    int n = 1;
    decomposed[0] = c;
    if (options_.strip_accents) n = nfd(c, decomposed, 8);
    for (int k = 0; k < n; ++k) {
      const char32_t d = decomposed[k];
      if (options_.strip_accents && is_nonspacing_mark(d)) continue;
      if (options_.lowercase) {
        char32_t lower[2];
        const int m = to_lowercase(d, lower);
        for (int j = 0; j < m; ++j) out.push(lower[j], span);
      } else {
        out.push(d, span);
      }
    }
    if (cjk) out.push(' ', span);
  }
}

}  // namespace adapterbias::tokenizer
