// ByteLevel (HF pre_tokenizers/byte_level.rs), the GPT-2/RoBERTa pre-tokenizer: optionally prepend a space,
// split with the GPT-2 regex, then map every UTF-8 byte to a printable character (bytes_to_unicode) so that
// BPE works on bytes. Also the ByteLevel offset trimming that RobertaProcessing applies (trim_offsets).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/normalized_string.h"
#include "tokenizer/pre_tokenizer.h"

namespace adapterbias::tokenizer {

// GPT-2's bytes_to_unicode: byte b -> the UTF-8 of the printable code point that stands for it.
const std::string& byte_to_unicode(unsigned char b);

struct ByteLevelOptions {
  bool add_prefix_space = true;  // prepend ' ' to each piece that does not start with one
  bool use_regex = true;         // split with the GPT-2 regex
};

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  explicit ByteLevelPreTokenizer(ByteLevelOptions options);
  ~ByteLevelPreTokenizer() override;
  void pre_tokenize(const NormalizedString& text, std::vector<PreToken>& out) const override;

 private:
  struct Regex;
  ByteLevelOptions options_;
  std::unique_ptr<Regex> regex_;
};

// HF byte_level.rs process_offsets: moves each token's offsets past its leading/trailing 'Ġ' (space) characters,
// except the single prefix space that add_prefix_space put before the first token.
void trim_byte_level_offsets(std::vector<Token>& tokens, bool add_prefix_space);

}  // namespace adapterbias::tokenizer
