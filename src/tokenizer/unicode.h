// Unicode helpers shared by the tokenizer stages: strict UTF-8 decoding and encoding, and the character
// classes HF `tokenizers` uses (Rust's `char::is_whitespace`, the `unicode_categories` crate's is_other /
// is_punctuation, Rust's `char::to_lowercase`). Categories, NFD and case come from utf8proc.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace adapterbias::tokenizer {

// Decodes UTF-8 into code points. Throws InputError naming `what` and the byte offset of the first invalid
// sequence (overlong forms, surrogates and code points above U+10FFFF are invalid, as in Rust's str).
std::u32string decode_utf8(std::string_view text, std::string_view what);
void append_utf8(std::string& out, char32_t c);
std::string encode_utf8(std::u32string_view text);

// Rust `char::is_whitespace` (the Unicode White_Space property).
bool is_whitespace(char32_t c);
// `unicode_categories::is_other` minus unassigned code points: Cc, Cf, Co, Cs.
bool is_other(char32_t c);
// Rust `char::is_ascii_punctuation` or Unicode general category P*.
bool is_bert_punctuation(char32_t c);
// Unicode general category Mn (nonspacing mark): what StripAccents removes after NFD.
bool is_nonspacing_mark(char32_t c);
// Rust `char::is_alphanumeric`: categories L*, N*.
bool is_alphanumeric(char32_t c);

// Canonical decomposition (NFD) of one code point into out; returns the number written (at most 8 here).
int nfd(char32_t c, char32_t* out, int capacity);
// Full lowercase mapping of one code point (Rust `char::to_lowercase`); returns the number written (1 or 2).
int to_lowercase(char32_t c, char32_t out[2]);

}  // namespace adapterbias::tokenizer
