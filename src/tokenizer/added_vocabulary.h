// Added tokens (HF tokenizer/added_vocabulary.rs): special and user tokens such as "[MASK]" or "<mask>" that
// are matched in the text before normalization (or, for normalized ones, in the normalized text) and never
// split. Matching is leftmost-longest; lstrip/rstrip absorb neighbouring whitespace; single_word requires
// word boundaries.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/normalized_string.h"

namespace adapterbias::tokenizer {

struct AddedToken {
  int64_t id = 0;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;  // matched against the normalized text instead of the original
  bool special = false;
};

// A stretch of text [begin, end) (indices into the searched string): an added token when id >= 0.
struct Segment {
  size_t begin = 0;
  size_t end = 0;
  int64_t id = -1;
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  explicit AddedVocabulary(std::vector<AddedToken> tokens);

  // Splits `text` on the added tokens with normalized == `normalized`.
  void split(std::u32string_view text, bool normalized, std::vector<Segment>& out) const;
  bool has_normalized() const { return !normalized_.empty(); }
  bool empty() const { return tokens_.empty(); }
  const std::vector<AddedToken>& tokens() const { return tokens_; }
  int64_t token_to_id(std::string_view content) const;  // -1 when absent

 private:
  struct Pattern {
    std::u32string text;
    size_t token;  // index into tokens_
  };
  std::vector<AddedToken> tokens_;
  std::vector<Pattern> original_;    // longest first
  std::vector<Pattern> normalized_;  // longest first
};

}  // namespace adapterbias::tokenizer
