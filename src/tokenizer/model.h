// Stage 3: the model interface (HF `Model`): one word in, its tokens out, each with the original span it covers.
// Also the vocabulary type the models and the added vocabulary share.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/normalized_string.h"

namespace adapterbias::tokenizer {

// Hash that lets a std::string-keyed map be searched with a string_view (no allocation per lookup).
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using Vocab = std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>>;

class Model {
 public:
  virtual ~Model() = default;
  // Appends the tokens of `word` to `out`.
  virtual void tokenize(const PreToken& word, std::vector<Token>& out) const = 0;
  virtual int64_t token_to_id(std::string_view token) const = 0;  // -1 when absent
  virtual const Vocab& vocab() const = 0;
};

// Span of word characters [first, last) in the original text: HF's expand_alignments.
inline Span span_of(const PreToken& word, size_t first, size_t last) {
  return {word.spans[first].begin, word.spans[last - 1].end};
}

}  // namespace adapterbias::tokenizer
