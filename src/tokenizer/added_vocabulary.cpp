#include "tokenizer/added_vocabulary.h"

#include <algorithm>

#include "tokenizer/unicode.h"

namespace adapterbias::tokenizer {

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i].content.empty()) continue;
    Pattern p{decode_utf8(tokens_[i].content, "added token"), i};
    (tokens_[i].normalized ? normalized_ : original_).push_back(std::move(p));
  }
  // Longest first, so the first pattern that matches at a position is the leftmost-longest match.
  auto longer = [](const Pattern& a, const Pattern& b) { return a.text.size() > b.text.size(); };
  std::stable_sort(original_.begin(), original_.end(), longer);
  std::stable_sort(normalized_.begin(), normalized_.end(), longer);
}

int64_t AddedVocabulary::token_to_id(std::string_view content) const {
  for (const AddedToken& t : tokens_) {
    if (t.content == content) return t.id;
  }
  return -1;
}

namespace {
// HF: ENDS_WITH_WORD = \w$, STARTS_WITH_WORD = ^\w (regex crate \w: alphanumeric, marks, connector punctuation).
bool is_word_char(char32_t c) { return c == '_' || is_alphanumeric(c) || is_nonspacing_mark(c); }
}  // namespace

// Mirrors HF AddedVocabulary::find_matches. A handful of added tokens is the norm, so a scan that tries each
// pattern at each position is as fast as an Aho-Corasick automaton here and much simpler.
void AddedVocabulary::split(std::u32string_view text, bool normalized, std::vector<Segment>& out) const {
  const std::vector<Pattern>& patterns = normalized ? normalized_ : original_;
  if (patterns.empty() || text.empty()) {
    out.push_back({0, text.size(), -1});
    return;
  }
  size_t start_offset = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const Pattern* found = nullptr;
    for (const Pattern& p : patterns) {
      if (p.text[0] == text[pos] && text.substr(pos, p.text.size()) == p.text) {
        found = &p;
        break;
      }
    }
    if (found == nullptr) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[found->token];
    size_t start = pos;
    size_t stop = pos + found->text.size();
    if (token.single_word) {
      const bool start_space = start == 0 || !is_word_char(text[start - 1]);
      const bool stop_space = stop == text.size() || !is_word_char(text[stop]);
      if (!start_space || !stop_space) {
        ++pos;
        continue;
      }
    }
    if (token.lstrip) {
      size_t s = start;
      while (s > start_offset && is_whitespace(text[s - 1])) --s;
      start = s;
    }
    if (token.rstrip) {
      while (stop < text.size() && is_whitespace(text[stop])) ++stop;
    }
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, token.id});
    start_offset = stop;
    pos = stop;
  }
  if (start_offset < text.size()) out.push_back({start_offset, text.size(), -1});
}

}  // namespace adapterbias::tokenizer
