// Users' own CSV/TSV/JSONL files: named columns, RFC 4180 quoting, label collection and order, gzip, errors.
#include "data/generic.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace adapterbias {
namespace {

using namespace std::string_literals;

using adapterbias::testing::TempDir;

GenericOptions columns(std::string text, std::string pair, std::string label) {
  GenericOptions o;
  o.text_column = std::move(text);
  o.text_pair_column = std::move(pair);
  o.label_column = std::move(label);
  return o;
}

TEST(GenericFormat, DetectedFromTheExtension) {
  EXPECT_EQ(detect_table_format("a/b.csv"), TableFormat::kCsv);
  EXPECT_EQ(detect_table_format("b.CSV.gz"), TableFormat::kCsv);
  EXPECT_EQ(detect_table_format("b.tsv.gz"), TableFormat::kTsv);
  EXPECT_EQ(detect_table_format("b.jsonl"), TableFormat::kJsonl);
  EXPECT_EQ(detect_table_format("b.jsonl.gz"), TableFormat::kJsonl);
  EXPECT_THROW_WITH(detect_table_format("b.parquet"), InputError, "b.parquet", ".csv", ".jsonl");
}

TEST(GenericCsv, Rfc4180Quoting) {
  TempDir dir;
  const auto file = dir.write("train.csv",
                              "id,review,title,stars\n"
                              "a1,\"Great, really \"\"great\"\" film\",Plain,pos\n"
                              "a2,\"Two\nlines\",\"\",neg\n"
                              "a3,say \"hi\",T,pos\n");
  GenericOptions o = columns("review", "", "stars");
  o.id_column = "id";
  const Dataset data = read_generic(file, o);
  ASSERT_EQ(data.size(), 3u);
  EXPECT_EQ(data.examples[0].text_a, "Great, really \"great\" film");
  EXPECT_EQ(data.examples[1].text_a, "Two\nlines");
  EXPECT_EQ(data.examples[2].text_a, "say \"hi\"");  // a quote inside an unquoted field is text
  EXPECT_EQ(data.examples[2].line, 5);               // the record after a two-line one
  EXPECT_EQ(data.examples[1].line, 3);
  EXPECT_EQ(data.examples[1].id, "a2");
  EXPECT_FALSE(data.examples[0].text_b.has_value());
  EXPECT_EQ(data.labels, (std::vector<std::string>{"neg", "pos"}));  // sorted
  EXPECT_EQ(data.examples[0].label, 1);
  EXPECT_EQ(data.examples[1].label, 0);
  EXPECT_TRUE(data.has_labels);
}

TEST(GenericCsv, PairColumnAndFirstSeenOrder) {
  TempDir dir;
  const auto file = dir.write("nli.csv", "premise,hypothesis,label\nP1,H1,neutral\nP2,H2,entailment\nP3,H3,neutral\n");
  GenericOptions o = columns("premise", "hypothesis", "label");
  o.label_order = LabelOrder::kFirstSeen;
  const Dataset data = read_generic(file, o);
  EXPECT_EQ(data.labels, (std::vector<std::string>{"neutral", "entailment"}));
  EXPECT_EQ(data.examples[1].label, 1);
  EXPECT_EQ(data.examples[2].text_b, "H3");
  EXPECT_EQ(data.examples[2].id, "2");
}

TEST(GenericLabels, IntegerLabelsSortNumerically) {
  std::vector<std::string> labels = {"10", "2", "-1", "0"};
  sort_labels(labels);
  EXPECT_EQ(labels, (std::vector<std::string>{"-1", "0", "2", "10"}));
  std::vector<std::string> words = {"b", "10", "a"};
  sort_labels(words);
  EXPECT_EQ(words, (std::vector<std::string>{"10", "a", "b"}));
}

TEST(GenericLabels, DevFileUsesTheTrainingLabels) {
  TempDir dir;
  const auto train = dir.write("train.tsv", "text\tlabel\nx\tb\ny\ta\n");
  const auto dev = dir.write("dev.tsv", "text\tlabel\nz\tb\nw\tc\n");
  const GenericOptions o;
  const Dataset t = read_generic(train, o);
  EXPECT_EQ(t.labels, (std::vector<std::string>{"a", "b"}));
  EXPECT_THROW_WITH(read_generic(dev, o, t.labels), InputError, dev.string() + ":3:",
                    "expected a label in {a, b} (those of the training file) in 'label', found 'c'");
  GenericOptions skip = o;
  skip.read.skip_bad_rows = true;
  const Dataset d = read_generic(dev, skip, t.labels);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d.examples[0].label, 1);
  EXPECT_EQ(d.report.skipped, 1);
}

TEST(GenericTsv, QuotesAreLiteralAndGzipIsTransparent) {
  TempDir dir;
  const auto file = dir.write_gz("data.tsv.gz", "\xEF\xBB\xBFsentence\tscore\n\"quoted\" text\t0.5\n\nplain\t-1e-1\n");
  GenericOptions o = columns("sentence", "", "score");
  o.regression = true;
  const Dataset data = read_generic(file, o);
  ASSERT_EQ(data.size(), 2u);  // the blank line is not a row
  EXPECT_EQ(data.examples[0].text_a, "\"quoted\" text");
  EXPECT_DOUBLE_EQ(data.examples[0].target, 0.5);
  EXPECT_DOUBLE_EQ(data.examples[1].target, -0.1);
  EXPECT_TRUE(data.regression);
  EXPECT_TRUE(data.labels.empty());
}

TEST(GenericJsonl, ObjectsWithStringAndNumberLabels) {
  TempDir dir;
  const auto file = dir.write_gz("train.jsonl.gz",
                                 "{\"text\": \"héllo\", \"label\": 1, \"uid\": 17}\n"
                                 "\n"
                                 "{\"text\": \"bye\", \"label\": \"0\", \"uid\": \"x\"}\n"
                                 "{\"text\": \"ok\", \"label\": 2, \"extra\": [1]}\n");
  GenericOptions o;
  o.id_column = "uid";
  const Dataset data = read_generic(file, o);
  ASSERT_EQ(data.size(), 3u);
  EXPECT_EQ(data.labels, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(data.examples[0].label, 1);
  EXPECT_EQ(data.examples[0].text_a, "héllo");
  EXPECT_EQ(data.examples[0].id, "17");
  EXPECT_EQ(data.examples[1].line, 3);
  EXPECT_EQ(data.examples[2].id, "2");
}

TEST(GenericJsonl, RegressionAndUnlabeledRows) {
  TempDir dir;
  const auto file = dir.write("s.jsonl",
                              "{\"a\":\"x\",\"b\":\"y\",\"y\":3.25}\n"
                              "{\"a\":\"x\",\"b\":\"y\",\"y\":\"1.5\"}\n");
  GenericOptions o = columns("a", "b", "y");
  o.regression = true;
  const Dataset data = read_generic(file, o);
  EXPECT_DOUBLE_EQ(data.examples[0].target, 3.25);
  EXPECT_DOUBLE_EQ(data.examples[1].target, 1.5);

  const auto unlabeled = dir.write("u.jsonl", "{\"a\":\"x\",\"b\":\"y\"}\n");
  EXPECT_THROW_WITH(read_generic(unlabeled, o), InputError, "u.jsonl:1:", "expected a label in 'y', found no value");
  o.require_labels = false;
  const Dataset u = read_generic(unlabeled, o);
  ASSERT_EQ(u.size(), 1u);
  EXPECT_FALSE(u.examples[0].has_label);
  EXPECT_FALSE(u.has_labels);
}

TEST(GenericTable, MissingLabelColumnAllowedForPrediction) {
  TempDir dir;
  const auto file = dir.write("test.csv", "text\nhello\n");
  EXPECT_THROW_WITH(read_generic(file, GenericOptions{}), InputError, "test.csv:1:",
                    "expected a column named 'label' (--label-column), found columns: text");
  GenericOptions o;
  o.require_labels = false;
  const Dataset data = read_generic(file, o);
  ASSERT_EQ(data.size(), 1u);
  EXPECT_FALSE(data.examples[0].has_label);
}

TEST(GenericTable, MaxExamples) {
  TempDir dir;
  const auto file = dir.write("t.csv", "text,label\na,1\nb,0\nc,1\n");
  GenericOptions o;
  o.read.max_examples = 2;
  EXPECT_EQ(read_generic(file, o).size(), 2u);
}

// ---------------------------------------------------------------------------------------------------------
// Malformed input: FILE:LINE and what was expected

struct BadCase {
  const char* name;
  const char* file;
  std::string contents;
  int64_t line;
  const char* fragment;
  bool skippable = true;
};

void PrintTo(const BadCase& f, std::ostream* os) { *os << f.name; }

class GenericBadRow : public ::testing::TestWithParam<BadCase> {};

GenericOptions bad_case_options(bool skip) {
  GenericOptions o = columns("text", "pair", "label");
  o.read.skip_bad_rows = skip;
  return o;
}

TEST_P(GenericBadRow, ThrowsWithFileAndLine) {
  const BadCase& c = GetParam();
  TempDir dir;
  const auto file = dir.write(c.file, c.contents);
  EXPECT_THROW_WITH(read_generic(file, bad_case_options(false)), InputError,
                    file.string() + ":" + std::to_string(c.line) + ":", c.fragment);
}

TEST_P(GenericBadRow, SkipBadRowsCountsIt) {
  const BadCase& c = GetParam();
  TempDir dir;
  const auto file = dir.write(c.file, c.contents);
  if (!c.skippable) {  // a missing column or header is a wrong file or flag: never skipped
    EXPECT_THROW_WITH(read_generic(file, bad_case_options(true)), InputError, c.fragment);
    return;
  }
  const Dataset data = read_generic(file, bad_case_options(true));
  EXPECT_EQ(data.report.skipped, 1);
  EXPECT_EQ(static_cast<int64_t>(data.size()), data.report.rows - 1);
  ASSERT_EQ(data.report.reasons.size(), 1u);
  EXPECT_NE(data.report.reasons[0].find(file.string() + ":" + std::to_string(c.line) + ":"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Classes, GenericBadRow,
    ::testing::Values(
        BadCase{"CsvFieldCount", "a.csv", "text,pair,label\na,b,1\na,b\n", 3,
                "expected 3 comma-separated fields (as in the header), found 2"},
        BadCase{"CsvTextAfterQuote", "a.csv", "text,pair,label\n\"a\"x,b,1\nc,d,0\n", 2,
                "expected ',' or the end of the line after the closing '\"' of field 1, found 'x'"},
        BadCase{"CsvUnclosedQuote", "a.csv", "text,pair,label\nc,d,0\n\"a,b,1\nmore\n", 3,
                "expected a closing '\"' for field 1 opened on this line, found the end of the file"},
        BadCase{"TsvFieldCount", "a.tsv", "text\tpair\tlabel\na\tb\t1\tx\n", 2,
                "expected 3 tab-separated fields (as in the header), found 4"},
        BadCase{"EmptyText", "a.csv", "text,pair,label\na,b,1\n  ,b,1\n", 3,
                "expected text in 'text', found an empty field"},
        BadCase{"EmptyLabel", "a.csv", "text,pair,label\na,b,\nc,d,1\n", 2,
                "expected a label in 'label', found an empty field"},
        BadCase{"JsonInvalid", "a.jsonl", "{\"text\":\"a\",\"pair\":\"b\",\"label\":1}\n{\"text\": \"a\",\n", 2,
                "expected a JSON object, found invalid JSON"},
        BadCase{"JsonNumberOverflow", "a.jsonl",
                "{\"text\":\"a\",\"pair\":\"b\",\"label\":1}\n{\"text\":\"a\",\"pair\":\"b\",\"label\":1e999999}\n", 2,
                "expected a JSON object, found invalid JSON ([json.exception.out_of_range.406] number overflow"},
        BadCase{"JsonNotObject", "a.jsonl", "[1,2]\n{\"text\":\"a\",\"pair\":\"b\",\"label\":1}\n", 1,
                "expected a JSON object, found an array"},
        BadCase{"JsonTextNotString", "a.jsonl", "{\"text\":5,\"pair\":\"b\",\"label\":1}\n", 1,
                "expected a string in \"text\", found a number"},
        BadCase{"JsonMissingPair", "a.jsonl", "{\"text\":\"a\",\"label\":1}\n", 1,
                "expected text in 'pair', found no value"},
        BadCase{"JsonLabelObject", "a.jsonl", "{\"text\":\"a\",\"pair\":\"b\",\"label\":{}}\n", 1,
                "expected a string or number in \"label\", found an object"},
        BadCase{"CsvNulByte", "a.csv", "text,pair,label\na,b,1\nx\0y,b,1\nc,d,0\n"s, 3,
                "expected text in 'text', found a NUL byte at byte 1"},
        BadCase{"TsvNulByte", "a.tsv", "text\tpair\tlabel\na\tb\t1\nx\tb\0\t1\n"s, 3,
                "expected text in 'pair', found a NUL byte at byte 1"},
        BadCase{"JsonNulByte", "a.jsonl", "{\"text\":\"a\",\"pair\":\"b\",\"label\":1}\n{\"text\":\"\0\"}\n"s, 2,
                "expected a line of JSON text, found a NUL byte at byte 9"},
        BadCase{"CsvInvalidUtf8", "a.csv", "text,pair,label\na,b,1\ncaf\xe9,b,1\n", 3,
                "expected text in 'text', found invalid UTF-8 at byte 3"},
        BadCase{"CsvLabelWithTab", "a.csv", "text,pair,label\na,b,1\nc,d,\"x\ty\"\n", 3,
                "expected a label in 'label' without tabs or line breaks"},
        BadCase{"MissingColumn", "a.csv", "sentence,pair,label\na,b,1\n", 1,
                "expected a column named 'text' (--text-column), found columns: sentence, pair, label", false},
        BadCase{"EmptyFile", "a.tsv", "", 1, "expected a header line naming the columns, found an empty file", false},
        BadCase{"HeaderOnly", "a.csv", "text,pair,label\n\n", 3, "expected data rows after the header, found none",
                false},
        BadCase{"JsonNoRows", "a.jsonl", "\n", 2, "expected data rows, found none", false}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return std::string(info.param.name); });

TEST(GenericLabels, SurroundingSpacesAreNotPartOfTheLabel) {
  TempDir dir;
  const auto file = dir.write("s.csv", "text,label\na, pos\nb,pos \nc,neg\n");
  const Dataset data = read_generic(file, GenericOptions{});
  EXPECT_EQ(data.labels, (std::vector<std::string>{"neg", "pos"}));
  EXPECT_EQ(data.examples[0].label, data.examples[1].label);
}

TEST(GenericRows, CountsAreExactWithNulBytes) {
  // A NUL never merges two rows: every row is read or counted as skipped.
  TempDir dir;
  const auto file = dir.write("n.tsv", "text\tlabel\nhello\t1\nbad\0 thing\t0\nnice\t1\nawful\t0\n"s);
  GenericOptions o;
  o.read.skip_bad_rows = true;
  const Dataset data = read_generic(file, o);
  EXPECT_EQ(data.report.rows, 4);
  EXPECT_EQ(data.report.skipped, 1);
  EXPECT_EQ(data.size(), 3u);
}

TEST(GenericRegression, BadFloat) {
  TempDir dir;
  const auto file = dir.write("r.csv", "text,label\na,1.5\nb,high\n");
  GenericOptions o;
  o.regression = true;
  EXPECT_THROW_WITH(read_generic(file, o), InputError, "r.csv:3:", "expected a float in 'label', found 'high'");
}

}  // namespace
}  // namespace adapterbias
