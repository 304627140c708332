// Unit tests of the tokenizer stages, with literal expectations in the style of HF tokenizers' own tests.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "tokenizer/added_vocabulary.h"
#include "tokenizer/bert_normalizer.h"
#include "tokenizer/bert_pre_tokenizer.h"
#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pipeline.h"
#include "tokenizer/unicode.h"
#include "tokenizer/wordpiece.h"

using namespace adapterbias;
using namespace adapterbias::tokenizer;

namespace {

NormalizedString identity(const std::string& text) {
  NormalizedString out;
  IdentityNormalizer().normalize(decode_utf8(text, "test"), 0, out);
  return out;
}

// (word, (begin, end)) pairs of a pre-tokenization, offsets in code points of the original text.
std::vector<std::pair<std::string, std::pair<uint32_t, uint32_t>>> words_of(const std::vector<PreToken>& words) {
  std::vector<std::pair<std::string, std::pair<uint32_t, uint32_t>>> out;
  for (const PreToken& w : words) out.push_back({w.text, {w.spans.front().begin, w.spans.back().end}});
  return out;
}

std::vector<std::pair<std::string, std::pair<uint32_t, uint32_t>>> tokens_of(const std::vector<Token>& tokens) {
  std::vector<std::pair<std::string, std::pair<uint32_t, uint32_t>>> out;
  for (const Token& t : tokens) out.push_back({t.value, {t.offsets.begin, t.offsets.end}});
  return out;
}

PreToken word(const std::string& text) {
  std::vector<PreToken> words;
  IdentityPreTokenizer().pre_tokenize(identity(text), words);
  return words.at(0);
}

}  // namespace

// ---- unicode -------------------------------------------------------------------------------------------------

TEST(Unicode, DecodesAndRejectsInvalidUtf8) {
  EXPECT_EQ(decode_utf8("a\xC3\xA9\xF0\x9F\x98\x80", "t"), std::u32string(U"a\u00e9\U0001F600"));
  try {
    decode_utf8("ok \xFF", "text");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("text: invalid UTF-8 at byte 3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(decode_utf8("\xC0\xAF", "t"), InputError);          // overlong '/'
  EXPECT_THROW(decode_utf8("\xED\xA0\x80", "t"), InputError);      // surrogate U+D800
  EXPECT_THROW(decode_utf8("\xE2\x82", "t"), InputError);          // truncated
}

TEST(Unicode, CharacterClassesFollowRust) {
  EXPECT_TRUE(is_whitespace(U'\u3000'));
  EXPECT_TRUE(is_whitespace(U'\u0085'));
  EXPECT_FALSE(is_whitespace(U'\u200b'));  // zero-width space is Cf, not White_Space
  EXPECT_TRUE(is_other(U'\u200d'));        // ZWJ: removed by clean_text
  EXPECT_FALSE(is_other(U'\u0378'));       // unassigned: kept, as HF does
  EXPECT_TRUE(is_bert_punctuation(U'$'));  // ASCII symbols count as punctuation
  EXPECT_TRUE(is_bert_punctuation(U'\u3001'));
  EXPECT_FALSE(is_bert_punctuation(U'\u20ac'));  // € is Sc
  char32_t lower[2];
  ASSERT_EQ(to_lowercase(U'\u0130', lower), 2);  // İ -> i + combining dot above
  EXPECT_EQ(lower[1], U'\u0307');
}

// ---- BertNormalizer --------------------------------------------------------------------------------------------

TEST(BertNormalizer, CleansSpacesCjkStripsAccentsAndLowercases) {
  NormalizedString out;
  BertNormalizer({}).normalize(decode_utf8("H\u00e9\tW\x01\u4e2d!", "t"), 0, out);
  EXPECT_EQ(encode_utf8(out.chars), "he w \u4e2d !");
  // Every output character keeps the span of its source: é (1,2), the tab (2,3), 中 and its spaces (5,6).
  std::vector<std::pair<uint32_t, uint32_t>> spans;
  for (const Span& s : out.spans) spans.emplace_back(s.begin, s.end);
  EXPECT_EQ(spans, (std::vector<std::pair<uint32_t, uint32_t>>{{0, 1}, {1, 2}, {2, 3}, {3, 4}, {5, 6}, {5, 6}, {5, 6}, {6, 7}}));
}

TEST(BertNormalizer, CasedKeepsAccents) {
  NormalizedString out;
  BertNormalizer({.clean_text = true, .handle_chinese_chars = true, .strip_accents = false, .lowercase = false})
      .normalize(decode_utf8("Caf\u00e9 \u200dX", "t"), 0, out);
  EXPECT_EQ(encode_utf8(out.chars), "Caf\u00e9 X");
}

// ---- pre-tokenizers --------------------------------------------------------------------------------------------

TEST(BertPreTokenizer, SplitsWhitespaceAndIsolatesPunctuation) {
  // HF pre_tokenizers/bert.rs `basic`.
  std::vector<PreToken> words;
  BertPreTokenizer().pre_tokenize(identity("Hey friend!     How are you?!?"), words);
  EXPECT_EQ(words_of(words), (std::vector<std::pair<std::string, std::pair<uint32_t, uint32_t>>>{
                                 {"Hey", {0, 3}}, {"friend", {4, 10}}, {"!", {10, 11}}, {"How", {16, 19}},
                                 {"are", {20, 23}}, {"you", {24, 27}}, {"?", {27, 28}}, {"!", {28, 29}},
                                 {"?", {29, 30}}}));
}

TEST(ByteLevel, MapsBytesToPrintableCharacters) {
  EXPECT_EQ(byte_to_unicode(' '), "\u0120");   // Ġ
  EXPECT_EQ(byte_to_unicode('\n'), "\u010a");  // Ċ
  EXPECT_EQ(byte_to_unicode('a'), "a");
}

TEST(ByteLevel, SplitsWithTheGpt2Regex) {
  // HF pre_tokenizers/byte_level.rs `pre_tokenization`.
  std::vector<PreToken> words;
  ByteLevelPreTokenizer({.add_prefix_space = false, .use_regex = true})
      .pre_tokenize(identity("Hello my friend, how is your day going?"), words);
  EXPECT_EQ(words_of(words), (std::vector<std::pair<std::string, std::pair<uint32_t, uint32_t>>>{
                                 {"Hello", {0, 5}}, {"\u0120my", {5, 8}}, {"\u0120friend", {8, 15}}, {",", {15, 16}},
                                 {"\u0120how", {16, 20}}, {"\u0120is", {20, 23}}, {"\u0120your", {23, 28}},
                                 {"\u0120day", {28, 32}}, {"\u0120going", {32, 38}}, {"?", {38, 39}}}));
}

TEST(ByteLevel, PrefixSpaceAndMultiByteCharacters) {
  std::vector<PreToken> words;
  ByteLevelPreTokenizer({.add_prefix_space = true, .use_regex = true}).pre_tokenize(identity("\u00e9t\u00e9  x"), words);
  // The prefix space takes é's span; both bytes of each é map back to it; "  x" splits as " " + " x".
  ASSERT_EQ(words.size(), 3u);
  EXPECT_EQ(words[0].text, "\u0120\u00c3\u00a9t\u00c3\u00a9");
  EXPECT_EQ(words[0].spans.size(), 6u);
  EXPECT_EQ(words[0].spans[0].begin, 0u);
  EXPECT_EQ(words[0].spans[2].end, 1u);
  EXPECT_EQ(words[1].text, "\u0120");
  EXPECT_EQ(words[2].text, "\u0120x");
}

TEST(ByteLevel, TrimOffsetsSkipsSpaces) {
  std::vector<Token> tokens{{0, "\u0120hello", {0, 5}}, {1, "\u0120world", {5, 11}}, {2, "\u0120\u0120", {11, 13}}};
  trim_byte_level_offsets(tokens, /*add_prefix_space=*/true);
  EXPECT_EQ(tokens_of(tokens), (std::vector<std::pair<std::string, std::pair<uint32_t, uint32_t>>>{
                                   {"\u0120hello", {0, 5}}, {"\u0120world", {6, 11}}, {"\u0120\u0120", {13, 13}}}));
}

// ---- models ----------------------------------------------------------------------------------------------------

TEST(WordPiece, GreedyLongestMatchAndUnknown) {
  const WordPiece model({{"[UNK]", 0}, {"great", 1}, {"##est", 2}, {"##e", 3}, {"##st", 4}, {"un", 5}},
                        {.unk_token = "[UNK]", .continuing_subword_prefix = "##", .max_input_chars_per_word = 8},
                        "test");
  std::vector<Token> out;
  model.tokenize(word("greatest"), out);
  EXPECT_EQ(tokens_of(out), (std::vector<std::pair<std::string, std::pair<uint32_t, uint32_t>>>{
                                {"great", {0, 5}}, {"##est", {5, 8}}}));
  out.clear();
  model.tokenize(word("unknown"), out);  // "un" matches but "##known" does not: the whole word is [UNK]
  EXPECT_EQ(tokens_of(out), (std::vector<std::pair<std::string, std::pair<uint32_t, uint32_t>>>{{"[UNK]", {0, 7}}}));
  out.clear();
  model.tokenize(word("greatestt"), out);  // 9 characters > max_input_chars_per_word
  EXPECT_EQ(tokens_of(out), (std::vector<std::pair<std::string, std::pair<uint32_t, uint32_t>>>{{"[UNK]", {0, 9}}}));
}

TEST(WordPiece, MissingUnkIsAFormatError) {
  try {
    WordPiece({{"a", 0}}, {}, "vocab.txt");
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_STREQ(e.what(), "vocab.txt: WordPiece unk_token '[UNK]' is missing from the vocabulary");
  }
}

TEST(Bpe, MergesByRank) {
  const Bpe model({{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"bc", 4}, {"abc", 5}},
                  {{"b", "c"}, {"a", "b"}, {"a", "bc"}}, {}, "test");
  std::vector<Token> out;
  model.tokenize(word("abcab"), out);  // (b c) ranks first: a|bc|a|b -> abc|ab
  EXPECT_EQ(tokens_of(out), (std::vector<std::pair<std::string, std::pair<uint32_t, uint32_t>>>{
                                {"abc", {0, 3}}, {"ab", {3, 5}}}));
  out.clear();
  model.tokenize(word("abcab"), out);  // second call hits the cache
  EXPECT_EQ(out.size(), 2u);
}

TEST(Bpe, HugeOrNegativeIdsAreFormatErrorsNotAllocations) {
  EXPECT_THROW(Bpe({{"a", int64_t{1} << 40}}, {}, {}, "vocab.json"), FormatError);
  EXPECT_THROW(Bpe({{"a", -1}}, {}, {}, "vocab.json"), FormatError);
}

TEST(Bpe, MergeWithUnknownTokenIsAFormatError) {
  EXPECT_THROW(Bpe({{"a", 0}}, {{"a", "z"}}, {}, "merges.txt"), FormatError);
}

// ---- added tokens and truncation -------------------------------------------------------------------------------

TEST(AddedVocabulary, LeftmostLongestWithStrip) {
  AddedVocabulary added({{7, "[MASK]", false, false, false, false, true},
                         {8, "<mask>", false, true, false, false, true},
                         {9, "[MASK]]", false, false, true, false, true}});
  std::vector<Segment> out;
  added.split(U"a [MASK]] b  <mask>", false, out);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[1].id, 9);  // the longer token wins; rstrip takes the following space
  EXPECT_EQ(out[1].begin, 2u);
  EXPECT_EQ(out[1].end, 10u);
  EXPECT_EQ(out[3].id, 8);  // lstrip takes the spaces before <mask>
  EXPECT_EQ(out[3].begin, 11u);
}

TEST(Truncation, LongestFirstAsHf) {
  auto lengths = [](size_t n1, size_t n2, size_t max) {
    std::vector<Token> a(n1), b(n2);
    truncate_longest_first(a, &b, max);
    return std::make_pair(a.size(), b.size());
  };
  EXPECT_EQ(lengths(10, 3, 8), std::make_pair(size_t{5}, size_t{3}));
  EXPECT_EQ(lengths(10, 10, 9), std::make_pair(size_t{4}, size_t{5}));
  EXPECT_EQ(lengths(2, 10, 6), std::make_pair(size_t{2}, size_t{4}));
  EXPECT_EQ(lengths(3, 3, 6), std::make_pair(size_t{3}, size_t{3}));
  std::vector<Token> single(20);
  truncate_longest_first(single, nullptr, 14);
  EXPECT_EQ(single.size(), 14u);
}
