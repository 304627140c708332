#include "tokenizer/pipeline.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"
#include "core/thread_pool.h"
#include "tokenizer/unicode.h"

namespace adapterbias::tokenizer {

PipelineTokenizer::PipelineTokenizer(Pipeline pipeline) : p_(std::move(pipeline)) {
  // HF get_vocab_size(with_added_tokens=True) counts model tokens plus added tokens; ids are dense, so it is
  // the largest id + 1.
  int64_t max_id = -1;
  for (const auto& [token, id] : p_.model->vocab()) max_id = std::max(max_id, id);
  for (const AddedToken& t : p_.added.tokens()) max_id = std::max(max_id, t.id);
  vocab_size_ = max_id + 1;
}

int64_t PipelineTokenizer::token_to_id(std::string_view token) const {
  const int64_t added = p_.added.token_to_id(token);
  return added >= 0 ? added : p_.model->token_to_id(token);
}

void PipelineTokenizer::tokenize_normalized(const NormalizedString& text, std::vector<Token>& out) const {
  thread_local std::vector<PreToken> words;
  words.clear();
  p_.pre_tokenizer->pre_tokenize(text, words);
  for (const PreToken& w : words) p_.model->tokenize(w, out);
}

std::vector<Token> PipelineTokenizer::tokenize(std::string_view text, std::string_view what) const {
  const std::u32string chars = decode_utf8(text, what);
  std::vector<Token> out;
  out.reserve(text.size() / 3 + 4);
  std::vector<Segment> segments;
  p_.added.split(chars, /*normalized=*/false, segments);
  NormalizedString normalized;
  for (const Segment& seg : segments) {
    if (seg.id >= 0) {
      out.push_back({seg.id, encode_utf8(std::u32string_view(chars).substr(seg.begin, seg.end - seg.begin)),
                     {static_cast<uint32_t>(seg.begin), static_cast<uint32_t>(seg.end)}});
      continue;
    }
    normalized.chars.clear();
    normalized.spans.clear();
    p_.normalizer->normalize(std::u32string_view(chars).substr(seg.begin, seg.end - seg.begin),
                             static_cast<uint32_t>(seg.begin), normalized);
    if (normalized.empty()) continue;
    if (!p_.added.has_normalized()) {
      tokenize_normalized(normalized, out);
      continue;
    }
    // Added tokens with normalized=true are matched in the normalized text (HF: split_normalized_trie).
    std::vector<Segment> inner;
    p_.added.split(normalized.chars, /*normalized=*/true, inner);
    for (const Segment& s : inner) {
      const auto b = static_cast<std::ptrdiff_t>(s.begin);
      const auto e = static_cast<std::ptrdiff_t>(s.end);
      if (s.id >= 0) {
        out.push_back({s.id, encode_utf8(std::u32string_view(normalized.chars).substr(s.begin, s.end - s.begin)),
                       {normalized.spans[s.begin].begin, normalized.spans[s.end - 1].end}});
        continue;
      }
      NormalizedString piece;
      piece.chars.assign(normalized.chars.begin() + b, normalized.chars.begin() + e);
      piece.spans.assign(normalized.spans.begin() + b, normalized.spans.begin() + e);
      tokenize_normalized(piece, out);
    }
  }
  return out;
}

void truncate_longest_first(std::vector<Token>& a, std::vector<Token>* b, size_t max_tokens) {
  if (b == nullptr) {
    if (a.size() > max_tokens) a.resize(max_tokens);
    return;
  }
  if (a.size() + b->size() <= max_tokens) return;
  // Mirrors HF utils/truncation.rs (LongestFirst with a pair).
  size_t n1 = a.size();
  size_t n2 = b->size();
  const bool swap = n1 > n2;
  if (swap) std::swap(n1, n2);
  n2 = n1 > max_tokens ? n1 : std::max(n1, max_tokens - n1);
  if (n1 + n2 > max_tokens) {
    n1 = max_tokens / 2;
    n2 = n1 + max_tokens % 2;
  }
  if (swap) std::swap(n1, n2);
  if (a.size() > n1) a.resize(n1);
  if (b->size() > n2) b->resize(n2);
}

Encoding PipelineTokenizer::encode(std::string_view text, std::optional<std::string_view> text_pair,
                                   const EncodeOptions& options) const {
  std::vector<Token> a = tokenize(text, "text");
  std::vector<Token> b;
  if (text_pair) b = tokenize(*text_pair, "text_pair");
  std::vector<Token>* pb = text_pair ? &b : nullptr;
  if (options.max_length > 0) {
    const size_t added = options.add_special_tokens ? p_.post_processor.added_tokens(text_pair.has_value()) : 0;
    if (static_cast<size_t>(options.max_length) < added) {
      throw InputError(fmt::format("max_length {} is smaller than the {} special tokens the template adds",
                                   options.max_length, added));
    }
    truncate_longest_first(a, pb, static_cast<size_t>(options.max_length) - added);
  } else if (options.max_length < 0) {
    throw InputError(fmt::format("max_length must be >= 0 (0 = no truncation), got {}", options.max_length));
  }
  Encoding out;
  p_.post_processor.process(a, pb, options.add_special_tokens, out);
  return out;
}

std::vector<Encoding> PipelineTokenizer::encode_batch(
    const std::vector<std::pair<std::string, std::optional<std::string>>>& inputs,
    const EncodeOptions& options) const {
  std::vector<Encoding> out(inputs.size());
  // At least 32 inputs per chunk: below 64 inputs the batch runs inline, where handing it to another thread
  // would cost more than it saves.
  constexpr size_t kGrain = 32;
  ThreadPool::shared().parallel_for(
      inputs.size(),
      [&](size_t begin, size_t end) {
        for (size_t i = begin; i < end; ++i) {
          const auto& [text, pair] = inputs[i];
          out[i] = encode(text, pair ? std::optional<std::string_view>(*pair) : std::nullopt, options);
        }
      },
      kGrain);
  return out;
}

}  // namespace adapterbias::tokenizer
