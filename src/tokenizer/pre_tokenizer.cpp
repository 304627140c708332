#include "tokenizer/pre_tokenizer.h"

#include "tokenizer/unicode.h"

namespace adapterbias::tokenizer {

void append_word(const NormalizedString& text, size_t begin, size_t end, std::vector<PreToken>& out) {
  PreToken& word = out.emplace_back();
  word.text.reserve(end - begin);
  for (size_t i = begin; i < end; ++i) append_utf8(word.text, text.chars[i]);
  word.spans.assign(text.spans.begin() + static_cast<std::ptrdiff_t>(begin),
                    text.spans.begin() + static_cast<std::ptrdiff_t>(end));
}

}  // namespace adapterbias::tokenizer
