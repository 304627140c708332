// The tokenizer: text in, ids out, exactly as Hugging Face `tokenizers` produces them.
// Pipeline (as in tokenizer.json): normalizer -> pre-tokenizer -> model (WordPiece | byte-level BPE)
// -> post-processor (special-token template, token types), then truncation and padding.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace adapterbias {

// One encoded input. All vectors have the same length.
struct Encoding {
  std::vector<int64_t> ids;
  std::vector<int64_t> type_ids;
  std::vector<int64_t> attention_mask;
  std::vector<std::string> tokens;
  // Character (Unicode code point) spans [begin, end) in the original text the token came from, as the
  // Python `tokenizers` bindings report them; (0, 0) for special tokens.
  std::vector<std::pair<int64_t, int64_t>> offsets;
  // Which input a token came from: 0 (text), 1 (text_pair), -1 (special tokens).
  std::vector<int32_t> sequence_ids;
};

struct EncodeOptions {
  // Truncate (strategy longest_first) so that the encoding, special tokens included, has at most this many
  // tokens; 0 means no truncation.
  int64_t max_length = 0;
  bool add_special_tokens = true;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Loads from a checkpoint folder: tokenizer.json when present, else vocab.txt (+ tokenizer_config.json)
  // for WordPiece, else vocab.json + merges.txt for byte-level BPE. Throws FormatError naming file and key.
  static std::unique_ptr<Tokenizer> from_pretrained(const std::filesystem::path& dir);

  virtual Encoding encode(std::string_view text, std::optional<std::string_view> text_pair,
                          const EncodeOptions& options) const = 0;
  // Encodes many inputs on all cores; results in input order.
  virtual std::vector<Encoding> encode_batch(
      const std::vector<std::pair<std::string, std::optional<std::string>>>& inputs,
      const EncodeOptions& options) const = 0;

  virtual int64_t token_to_id(std::string_view token) const = 0;  // -1 when absent
  virtual int64_t pad_token_id() const = 0;
  virtual int64_t vocab_size() const = 0;
};

}  // namespace adapterbias
