#include "tokenizer/bert_pre_tokenizer.h"

#include "tokenizer/unicode.h"

namespace adapterbias::tokenizer {

void BertPreTokenizer::pre_tokenize(const NormalizedString& text, std::vector<PreToken>& out) const {
  size_t word_begin = 0;
  const size_t n = text.chars.size();
  for (size_t i = 0; i < n; ++i) {
    const char32_t c = text.chars[i];
    if (is_whitespace(c)) {
      if (word_begin < i) append_word(text, word_begin, i, out);
      word_begin = i + 1;
    } else if (is_bert_punctuation(c)) {
      if (word_begin < i) append_word(text, word_begin, i, out);
      append_word(text, i, i + 1, out);
      word_begin = i + 1;
    }
  }
  if (word_begin < n) append_word(text, word_begin, n, out);
}

}  // namespace adapterbias::tokenizer
