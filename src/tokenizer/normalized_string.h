// The data that flows between the tokenizer stages. Offsets are carried as code-point spans into the
// ORIGINAL text from the first stage on, so every token knows where it came from: this is HF's
// NormalizedString alignment kept per code point instead of per byte (HF converts its byte alignments to
// code points at the end; every alignment falls on a character boundary, so the results are the same).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace adapterbias::tokenizer {

// [begin, end) in code points of the original text.
struct Span {
  uint32_t begin = 0;
  uint32_t end = 0;
};

// Text after the normalizer: one original span per code point (a character the normalizer inserted, such as
// the spaces around a CJK character or the letters of a decomposition, has the span of its source character).
struct NormalizedString {
  std::u32string chars;
  std::vector<Span> spans;

  void push(char32_t c, Span s) {
    chars.push_back(c);
    spans.push_back(s);
  }
  bool empty() const { return chars.empty(); }
};

// One pre-token ("word"): the UTF-8 string the model sees and one original span per code point of it. For
// byte-level BPE the text is already mapped byte -> printable character.
struct PreToken {
  std::string text;
  std::vector<Span> spans;
};

// One model token.
struct Token {
  int64_t id = 0;
  std::string value;
  Span offsets;
};

}  // namespace adapterbias::tokenizer
