// WordPiece (HF models/wordpiece): greedy longest-match-first over a word's characters; pieces after the first
// carry the continuing_subword_prefix ("##"). If any part of a word has no match, or the word is longer than
// max_input_chars_per_word characters, the whole word becomes unk_token.
#pragma once
#include <string>

#include "tokenizer/model.h"

namespace adapterbias::tokenizer {

struct WordPieceOptions {
  std::string unk_token = "[UNK]";
  std::string continuing_subword_prefix = "##";
  size_t max_input_chars_per_word = 100;
};

class WordPiece final : public Model {
 public:
  // Throws FormatError naming `source` when unk_token is not in the vocabulary.
  WordPiece(Vocab vocab, WordPieceOptions options, const std::string& source);
  void tokenize(const PreToken& word, std::vector<Token>& out) const override;
  int64_t token_to_id(std::string_view token) const override;
  const Vocab& vocab() const override { return vocab_; }

 private:
  Vocab vocab_;
  WordPieceOptions options_;
  int64_t unk_id_ = -1;
};

// Reads a BERT vocab.txt (one token a line, id = line number). Throws InputError/FormatError naming the file.
Vocab read_wordpiece_vocab(const std::string& path);

}  // namespace adapterbias::tokenizer
