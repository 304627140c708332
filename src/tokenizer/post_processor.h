// Stage 4: the post-processor (HF processors/{template,bert,roberta,byte_level,sequence}.rs). Every variant is
// expressed as a template: special tokens and sequences A/B with their type ids, e.g. BERT
// `[CLS] A [SEP] B [SEP]` with types 0 0 0 1 1 and RoBERTa `<s> A </s> </s> B </s>` with types all 0, plus
// optional ByteLevel offset trimming that runs first.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/normalized_string.h"
#include "tokenizer/tokenizer.h"

namespace adapterbias::tokenizer {

struct TemplatePiece {
  bool is_sequence = false;  // a sequence (A or B) rather than special tokens
  int sequence = 0;          // 0 = A, 1 = B (when is_sequence)
  std::vector<int64_t> ids;  // the special token's ids (when !is_sequence)
  std::vector<std::string> tokens;
  int64_t type_id = 0;
};

class PostProcessor {
 public:
  // No special tokens; the pair's tokens get type id 1 (HF's behaviour without a post-processor).
  PostProcessor();
  PostProcessor(std::vector<TemplatePiece> single, std::vector<TemplatePiece> pair);

  // Number of special tokens added for one or two sequences (what truncation must leave room for).
  size_t added_tokens(bool pair) const;
  // ByteLevel trim_offsets (RobertaProcessing and ByteLevel post-processors).
  void set_trim_offsets(bool trim, bool add_prefix_space) {
    trim_offsets_ = trim;
    add_prefix_space_ = add_prefix_space;
  }
  // Builds the final encoding from the (already truncated) tokens of each sequence.
  void process(std::vector<Token>& a, std::vector<Token>* b, bool add_special_tokens, Encoding& out) const;

  // BertProcessing / RobertaProcessing as templates.
  static PostProcessor bert(const std::string& cls, int64_t cls_id, const std::string& sep, int64_t sep_id);
  static PostProcessor roberta(const std::string& cls, int64_t cls_id, const std::string& sep, int64_t sep_id);

 private:
  std::vector<TemplatePiece> single_;
  std::vector<TemplatePiece> pair_;
  bool trim_offsets_ = false;
  bool add_prefix_space_ = false;
};

}  // namespace adapterbias::tokenizer
