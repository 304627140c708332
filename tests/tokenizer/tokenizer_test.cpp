// End-to-end tests of Tokenizer::from_pretrained on small checkpoint folders written by the test, and the
// loader's error messages.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

using namespace adapterbias;
namespace fs = std::filesystem;

namespace {

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("ab_tokenizer_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                                         "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  void write(const std::string& name, const std::string& text) const { std::ofstream(path_ / name) << text; }

 private:
  fs::path path_;
};

constexpr const char* kVocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n!\ncafe\n##s\n中\n";

std::string bert_json(const std::string& model_type) {
  return R"({"version":"1.0","truncation":null,"padding":null,
  "added_tokens":[{"id":0,"content":"[PAD]","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
                  {"id":4,"content":"[MASK]","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],
  "normalizer":{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":null,"lowercase":true},
  "pre_tokenizer":{"type":"BertPreTokenizer"},
  "post_processor":{"type":"TemplateProcessing",
    "single":[{"SpecialToken":{"id":"[CLS]","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"[SEP]","type_id":0}}],
    "pair":[{"SpecialToken":{"id":"[CLS]","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"[SEP]","type_id":0}},
            {"Sequence":{"id":"B","type_id":1}},{"SpecialToken":{"id":"[SEP]","type_id":1}}],
    "special_tokens":{"[CLS]":{"id":"[CLS]","ids":[2],"tokens":["[CLS]"]},"[SEP]":{"id":"[SEP]","ids":[3],"tokens":["[SEP]"]}}},
  "decoder":null,
  "model":{"type":")" + model_type + R"(","unk_token":"[UNK]","continuing_subword_prefix":"##","max_input_chars_per_word":100,
    "vocab":{"[PAD]":0,"[UNK]":1,"[CLS]":2,"[SEP]":3,"[MASK]":4,"hello":5,"world":6,"!":7,"cafe":8,"##s":9,"中":10}}})";
}

}  // namespace

TEST(Tokenizer, EncodesAPairFromTokenizerJson) {
  TempDir dir;
  dir.write("tokenizer.json", bert_json("WordPiece"));
  const auto tok = Tokenizer::from_pretrained(dir.path());
  const Encoding e = tok->encode("Héllo [MASK] Cafés!", std::string_view("中 x"), {});
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"[CLS]", "hello", "[MASK]", "cafe", "##s", "!", "[SEP]", "中", "[UNK]", "[SEP]"}));
  EXPECT_EQ(e.ids, (std::vector<int64_t>{2, 5, 4, 8, 9, 7, 3, 10, 1, 3}));
  EXPECT_EQ(e.type_ids, (std::vector<int64_t>{0, 0, 0, 0, 0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(e.attention_mask, std::vector<int64_t>(10, 1));
  EXPECT_EQ(e.offsets, (std::vector<std::pair<int64_t, int64_t>>{
                           {0, 0}, {0, 5}, {6, 12}, {13, 17}, {17, 18}, {18, 19}, {0, 0}, {0, 1}, {2, 3}, {0, 0}}));
  EXPECT_EQ(e.sequence_ids, (std::vector<int32_t>{-1, 0, 0, 0, 0, 0, -1, 1, 1, -1}));
  EXPECT_EQ(tok->pad_token_id(), 0);
  EXPECT_EQ(tok->vocab_size(), 11);
  EXPECT_EQ(tok->token_to_id("world"), 6);
  EXPECT_EQ(tok->token_to_id("nope"), -1);
}

TEST(Tokenizer, TruncatesLongestFirstAndBatchesInOrder) {
  TempDir dir;
  dir.write("tokenizer.json", bert_json("WordPiece"));
  const auto tok = Tokenizer::from_pretrained(dir.path());
  EncodeOptions options;
  options.max_length = 7;  // 3 special tokens + 4: the longer side is cut first
  const Encoding e = tok->encode("hello world hello world", std::string_view("hello"), options);
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"[CLS]", "hello", "world", "hello", "[SEP]", "hello", "[SEP]"}));
  std::vector<std::pair<std::string, std::optional<std::string>>> inputs;
  for (int i = 0; i < 500; ++i) inputs.emplace_back(std::string(static_cast<size_t>(i % 7), '!'), std::nullopt);
  const auto batch = tok->encode_batch(inputs, {});
  ASSERT_EQ(batch.size(), inputs.size());
  for (size_t i = 0; i < batch.size(); ++i) EXPECT_EQ(batch[i].ids.size(), i % 7 + 2) << i;
  EXPECT_THROW(tok->encode("a", std::string_view("b"), EncodeOptions{.max_length = 2}), InputError);
}

TEST(Tokenizer, LegacyVocabTxtHonoursDoLowerCase) {
  TempDir dir;
  dir.write("vocab.txt", std::string(kVocab) + "Hello\n");
  dir.write("tokenizer_config.json", R"({"do_lower_case": false})");
  const auto tok = Tokenizer::from_pretrained(dir.path());
  EXPECT_EQ(tok->encode("Hello hello", std::nullopt, {}).ids, (std::vector<int64_t>{2, 11, 5, 3}));
}

TEST(Tokenizer, InvalidUtf8IsAnInputError) {
  TempDir dir;
  dir.write("tokenizer.json", bert_json("WordPiece"));
  const auto tok = Tokenizer::from_pretrained(dir.path());
  try {
    tok->encode("ok", std::string_view("bad \xC3"), {});
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("text_pair: invalid UTF-8 at byte 4"), std::string::npos) << e.what();
  }
}

TEST(Tokenizer, EncodeBatchRethrowsAnInputsErrorAndStaysUsable) {
  TempDir dir;
  dir.write("tokenizer.json", bert_json("WordPiece"));
  const auto tok = Tokenizer::from_pretrained(dir.path());
  std::vector<std::pair<std::string, std::optional<std::string>>> inputs(1000, {"hello world", std::nullopt});
  inputs[700].second = "bad \xC3";  // in a chunk that a pool worker may run
  try {
    tok->encode_batch(inputs, {});
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("text_pair: invalid UTF-8 at byte 4"), std::string::npos) << e.what();
  }
  inputs[700].second.reset();
  for (int call = 0; call < 50; ++call) {
    const auto batch = tok->encode_batch(inputs, {});
    ASSERT_EQ(batch.size(), inputs.size());
    for (const Encoding& e : batch) ASSERT_EQ(e.ids, (std::vector<int64_t>{2, 5, 6, 3}));
  }
}

TEST(Tokenizer, UnsupportedModelTypeNamesFileAndKey) {
  TempDir dir;
  dir.write("tokenizer.json", bert_json("Unigram"));
  try {
    Tokenizer::from_pretrained(dir.path());
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_STREQ(e.what(), "tokenizer.json: model.type 'Unigram' is not supported (WordPiece, BPE)");
  }
}

TEST(Tokenizer, BadJsonAndMissingFilesAreReported) {
  TempDir dir;
  dir.write("tokenizer.json", "{not json");
  EXPECT_THROW(Tokenizer::from_pretrained(dir.path()), FormatError);
  TempDir empty;
  fs::remove(empty.path() / "tokenizer.json");
  EXPECT_THROW(Tokenizer::from_pretrained(empty.path()), InputError);
  EXPECT_THROW(Tokenizer::from_pretrained(empty.path() / "missing"), InputError);
}
