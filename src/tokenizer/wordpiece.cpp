#include "tokenizer/wordpiece.h"

#include <fstream>

#include <fmt/format.h>

#include "core/error.h"

namespace adapterbias::tokenizer {

WordPiece::WordPiece(Vocab vocab, WordPieceOptions options, const std::string& source)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
  const auto it = vocab_.find(options_.unk_token);
  if (it == vocab_.end()) {
    throw FormatError(fmt::format("{}: WordPiece unk_token '{}' is missing from the vocabulary", source,
                                  options_.unk_token));
  }
  unk_id_ = it->second;
}

int64_t WordPiece::token_to_id(std::string_view token) const {
  const auto it = vocab_.find(token);
  return it == vocab_.end() ? -1 : it->second;
}

// Mirrors HF models/wordpiece/mod.rs `tokenize`.
void WordPiece::tokenize(const PreToken& word, std::vector<Token>& out) const {
  const std::string& text = word.text;
  const size_t n_chars = word.spans.size();
  if (n_chars > options_.max_input_chars_per_word) {
    out.push_back({unk_id_, options_.unk_token, span_of(word, 0, n_chars)});
    return;
  }
  // Byte offset of each character boundary (n_chars + 1 entries).
  size_t small[64];
  std::vector<size_t> large;
  size_t* bounds = small;
  if (n_chars + 1 > 64) {
    large.resize(n_chars + 1);
    bounds = large.data();
  }
  for (size_t b = 0, c = 0; b < text.size(); ++b) {
    if ((static_cast<unsigned char>(text[b]) & 0xC0) != 0x80) bounds[c++] = b;
  }
  bounds[n_chars] = text.size();

  const size_t first_out = out.size();
  std::string candidate;
  size_t start = 0;
  while (start < n_chars) {
    size_t end = n_chars;
    int64_t found = -1;
    while (start < end) {
      const std::string_view piece(text.data() + bounds[start], bounds[end] - bounds[start]);
      Vocab::const_iterator it;
      if (start > 0) {
        candidate.assign(options_.continuing_subword_prefix);
        candidate.append(piece);
        it = vocab_.find(candidate);
      } else {
        it = vocab_.find(piece);
      }
      if (it != vocab_.end()) {
        found = it->second;
        out.push_back({found, it->first, span_of(word, start, end)});
        break;
      }
      --end;
    }
    if (found < 0) {
      out.resize(first_out);
      out.push_back({unk_id_, options_.unk_token, span_of(word, 0, n_chars)});
      return;
    }
    start = end;
  }
}

Vocab read_wordpiece_vocab(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open the WordPiece vocabulary", path));
  Vocab vocab;
  std::string line;
  int64_t id = 0;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // A duplicated line keeps its last id, as transformers' load_vocab does.
    vocab[line] = id++;
  }
  if (vocab.empty()) throw FormatError(fmt::format("{}: the WordPiece vocabulary is empty", path));
  return vocab;
}

}  // namespace adapterbias::tokenizer
