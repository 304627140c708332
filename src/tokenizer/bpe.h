// BPE (HF models/bpe): a word starts as one symbol per character and pairs are merged by rank, lowest first
// (leftmost on ties), until no known merge is left. Used with the ByteLevel pre-tokenizer for RoBERTa/GPT-2.
// Results are cached per thread, as HF does.
#pragma once
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/model.h"

namespace adapterbias::tokenizer {

struct BpeOptions {
  std::optional<std::string> unk_token;          // characters missing from the vocabulary: unk, or dropped
  std::string continuing_subword_prefix;         // prepended to non-initial characters
  std::string end_of_word_suffix;                // appended to the last character
  bool fuse_unk = false;                         // consecutive unknown characters become one unk
  bool ignore_merges = false;                    // a word that is itself in the vocabulary is one token
};

class Bpe final : public Model {
 public:
  // merges: pairs of tokens in rank order. Throws FormatError naming `source` when a merge names a token that
  // is not in the vocabulary.
  Bpe(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
      const std::string& source);
  void tokenize(const PreToken& word, std::vector<Token>& out) const override;
  int64_t token_to_id(std::string_view token) const override;
  const Vocab& vocab() const override { return vocab_; }

 private:
  struct Piece {
    int64_t id;
    uint32_t first_char;  // characters [first_char, end_char) of the word
    uint32_t end_char;
  };
  void merge_word(const std::string& text, std::vector<Piece>& pieces) const;

  Vocab vocab_;
  std::vector<const std::string*> id_to_token_;  // into vocab_ keys
  // (left id, right id) -> (rank, merged id)
  std::unordered_map<uint64_t, std::pair<uint32_t, int64_t>> merges_;
  BpeOptions options_;
  int64_t unk_id_ = -1;
  uint64_t cache_id_ = 0;
};

// Reads vocab.json ({"token": id}) and merges.txt ("a b" per line, optional "#version" header).
Vocab read_bpe_vocab(const std::string& path);
std::vector<std::pair<std::string, std::string>> read_bpe_merges(const std::string& path);

}  // namespace adapterbias::tokenizer
