#include "tokenizer/post_processor.h"

#include "tokenizer/byte_level.h"

namespace adapterbias::tokenizer {
namespace {

TemplatePiece special(const std::string& token, int64_t id, int64_t type_id) {
  return {false, 0, {id}, {token}, type_id};
}
TemplatePiece sequence(int which, int64_t type_id) { return {true, which, {}, {}, type_id}; }

}  // namespace

PostProcessor::PostProcessor()
    : single_{sequence(0, 0)}, pair_{sequence(0, 0), sequence(1, 1)} {}

PostProcessor::PostProcessor(std::vector<TemplatePiece> single, std::vector<TemplatePiece> pair)
    : single_(std::move(single)), pair_(std::move(pair)) {}

PostProcessor PostProcessor::bert(const std::string& cls, int64_t cls_id, const std::string& sep, int64_t sep_id) {
  return PostProcessor({special(cls, cls_id, 0), sequence(0, 0), special(sep, sep_id, 0)},
                       {special(cls, cls_id, 0), sequence(0, 0), special(sep, sep_id, 0), sequence(1, 1),
                        special(sep, sep_id, 1)});
}

PostProcessor PostProcessor::roberta(const std::string& cls, int64_t cls_id, const std::string& sep,
                                     int64_t sep_id) {
  return PostProcessor({special(cls, cls_id, 0), sequence(0, 0), special(sep, sep_id, 0)},
                       {special(cls, cls_id, 0), sequence(0, 0), special(sep, sep_id, 0), special(sep, sep_id, 0),
                        sequence(1, 0), special(sep, sep_id, 0)});
}

size_t PostProcessor::added_tokens(bool pair) const {
  size_t n = 0;
  for (const TemplatePiece& p : pair ? pair_ : single_) n += p.ids.size();
  return n;
}

void PostProcessor::process(std::vector<Token>& a, std::vector<Token>* b, bool add_special_tokens,
                            Encoding& out) const {
  if (trim_offsets_) {
    trim_byte_level_offsets(a, add_prefix_space_);
    if (b != nullptr) trim_byte_level_offsets(*b, add_prefix_space_);
  }
  const size_t n = a.size() + (b ? b->size() : 0) + (add_special_tokens ? added_tokens(b != nullptr) : 0);
  out.ids.reserve(n);
  out.type_ids.reserve(n);
  out.tokens.reserve(n);
  out.offsets.reserve(n);
  out.sequence_ids.reserve(n);
  for (const TemplatePiece& piece : b ? pair_ : single_) {
    if (piece.is_sequence) {
      std::vector<Token>& seq = piece.sequence == 0 ? a : *b;
      for (Token& t : seq) {
        out.ids.push_back(t.id);
        out.type_ids.push_back(piece.type_id);
        out.tokens.push_back(std::move(t.value));
        out.offsets.emplace_back(t.offsets.begin, t.offsets.end);
        out.sequence_ids.push_back(piece.sequence);
      }
    } else if (add_special_tokens) {
      for (size_t k = 0; k < piece.ids.size(); ++k) {
        out.ids.push_back(piece.ids[k]);
        out.type_ids.push_back(piece.type_id);
        out.tokens.push_back(piece.tokens[k]);
        out.offsets.emplace_back(0, 0);
        out.sequence_ids.push_back(-1);
      }
    }
  }
  out.attention_mask.assign(out.ids.size(), 1);
}

}  // namespace adapterbias::tokenizer
