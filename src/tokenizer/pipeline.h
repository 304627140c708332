// The concrete Tokenizer: added tokens -> normalizer -> pre-tokenizer -> model, then truncation
// (longest_first, as HF truncate_encodings) and the post-processor. Built by the loader in tokenizer.cpp.
#pragma once
#include <memory>

#include "tokenizer/added_vocabulary.h"
#include "tokenizer/model.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace adapterbias::tokenizer {

struct Pipeline {
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<Model> model;
  PostProcessor post_processor;
  AddedVocabulary added;
  int64_t pad_token_id = 0;
};

class PipelineTokenizer final : public Tokenizer {
 public:
  explicit PipelineTokenizer(Pipeline pipeline);

  Encoding encode(std::string_view text, std::optional<std::string_view> text_pair,
                  const EncodeOptions& options) const override;
  std::vector<Encoding> encode_batch(const std::vector<std::pair<std::string, std::optional<std::string>>>& inputs,
                                     const EncodeOptions& options) const override;
  int64_t token_to_id(std::string_view token) const override;
  int64_t pad_token_id() const override { return p_.pad_token_id; }
  int64_t vocab_size() const override { return vocab_size_; }

  // The model tokens of one sequence, before truncation and post-processing. `what` names the input in errors.
  std::vector<Token> tokenize(std::string_view text, std::string_view what) const;

 private:
  void tokenize_normalized(const NormalizedString& text, std::vector<Token>& out) const;

  Pipeline p_;
  int64_t vocab_size_ = 0;
};

// HF truncate_encodings, strategy longest_first, direction right: cuts `a` (and `b`) so that together they
// have at most max_tokens tokens.
void truncate_longest_first(std::vector<Token>& a, std::vector<Token>* b, size_t max_tokens);

}  // namespace adapterbias::tokenizer
