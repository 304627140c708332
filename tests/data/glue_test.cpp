// GLUE readers: every staged real file (row counts from shared/data/glue/README.md), files in the MNLI, QQP and
// QNLI layouts written here, gzip, and every class of malformed row.
#include "data/glue.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace adapterbias {
namespace {

using adapterbias::testing::glue_dir;
using adapterbias::testing::TempDir;

// ---------------------------------------------------------------------------------------------------------
// Real GLUE files

struct RealFile {
  const char* task;
  const char* split;
  int64_t rows;
};

void PrintTo(const RealFile& f, std::ostream* os) { *os << f.task << " " << f.split; }

class RealGlueFile : public ::testing::TestWithParam<RealFile> {};

TEST_P(RealGlueFile, ReadsEveryRow) {
  const RealFile& f = GetParam();
  const TaskSpec& task = task_by_name(f.task);
  const SplitSpec& split = task.split(f.split);
  const auto path = glue_dir() / split.folder / split.file;
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is not staged";
  const Dataset data = read_glue_split(glue_dir(), task, f.split);
  EXPECT_EQ(static_cast<int64_t>(data.size()), f.rows);
  EXPECT_EQ(data.report.skipped, 0);
  EXPECT_EQ(data.report.rows, f.rows);
  const bool labeled = split.label_column.has_value();
  EXPECT_EQ(data.has_labels, labeled);
  for (const auto& ex : data.examples) {
    ASSERT_EQ(ex.has_label, labeled);
    ASSERT_FALSE(ex.text_a.empty());
    ASSERT_EQ(ex.text_b.has_value(), split.text_b_column.has_value());
    if (labeled && !task.regression) {
      ASSERT_TRUE(ex.label >= 0 && ex.label < task.num_labels());
    }
    if (labeled && task.regression) {
      ASSERT_TRUE(ex.target >= 0.0 && ex.target <= 5.0);
    }
  }
  // Lines: data rows follow the header (if any) one per line.
  EXPECT_EQ(data.examples.front().line, split.has_header ? 2 : 1);
  EXPECT_EQ(data.examples.back().line, f.rows + (split.has_header ? 1 : 0));
}

INSTANTIATE_TEST_SUITE_P(
    Staged, RealGlueFile,
    ::testing::Values(RealFile{"CoLA", "train", 8551}, RealFile{"CoLA", "dev", 1043}, RealFile{"CoLA", "test", 1063},
                      RealFile{"SST-2", "train", 67349}, RealFile{"SST-2", "dev", 872}, RealFile{"SST-2", "test", 1821},
                      RealFile{"MRPC", "train", 3668}, RealFile{"MRPC", "dev", 408}, RealFile{"MRPC", "test", 1725},
                      RealFile{"STS-B", "train", 5749}, RealFile{"STS-B", "dev", 1500}, RealFile{"STS-B", "test", 1379},
                      RealFile{"QNLI", "train", 104743}, RealFile{"QNLI", "dev", 5463}, RealFile{"QNLI", "test", 5463},
                      RealFile{"RTE", "train", 2490}, RealFile{"RTE", "dev", 277}, RealFile{"RTE", "test", 3000},
                      RealFile{"WNLI", "train", 635}, RealFile{"WNLI", "dev", 71}, RealFile{"WNLI", "test", 146},
                      RealFile{"MNLI", "train", 392702}, RealFile{"MNLI", "dev_matched", 9815},
                      RealFile{"MNLI", "dev_mismatched", 9832}, RealFile{"MNLI", "test_matched", 9796},
                      RealFile{"MNLI", "test_mismatched", 9847}, RealFile{"MNLI", "diagnostic", 1104},
                      RealFile{"QQP", "train", 363846}, RealFile{"QQP", "dev", 40430}, RealFile{"QQP", "test", 390965}),
    [](const ::testing::TestParamInfo<RealFile>& info) {
      std::string name = std::string(info.param.task) + "_" + info.param.split;
      std::erase(name, '-');
      return name;
    });

// Fixes the column mapping on known rows of the staged files.
TEST(RealGlueContent, KnownRows) {
  if (!std::filesystem::exists(glue_dir() / "MRPC" / "dev.tsv")) GTEST_SKIP() << "GLUE data is not staged";
  // MRPC dev: BOM header; quotes are text.
  const Dataset mrpc = read_glue_split(glue_dir(), task_by_name("mrpc"), "dev");
  EXPECT_EQ(mrpc.examples[0].label, 1);
  EXPECT_EQ(mrpc.examples[0].text_b.value().substr(0, 5), "\" The");
  EXPECT_EQ(mrpc.examples[0].id, "0");
  // CoLA train: no header, sentence in column 3, label in column 1.
  const Dataset cola = read_glue_split(glue_dir(), task_by_name("cola"), "train", {.max_examples = 2});
  ASSERT_EQ(cola.size(), 2u);
  EXPECT_EQ(cola.examples[0].text_a, "Our friends won't buy this analysis, let alone the next one we propose.");
  EXPECT_EQ(cola.examples[0].label, 1);
  EXPECT_EQ(cola.examples[0].line, 1);
  // STS-B dev: float targets, index ids.
  const Dataset stsb = read_glue_split(glue_dir(), task_by_name("stsb"), "dev", {.max_examples = 2});
  EXPECT_DOUBLE_EQ(stsb.examples[0].target, 5.0);
  EXPECT_DOUBLE_EQ(stsb.examples[1].target, 4.75);
  EXPECT_EQ(stsb.examples[1].text_a, "A young child is riding a horse.");
  EXPECT_EQ(stsb.examples[1].text_b, "A child is riding a horse.");
  // RTE: string labels in GLUE order.
  const Dataset rte = read_glue_split(glue_dir(), task_by_name("rte"), "dev", {.max_examples = 1});
  EXPECT_EQ(rte.labels[rte.examples[0].label], "not_entailment");
  // QNLI dev: 19 sentence fields start with a literal '"'.
  const Dataset qnli = read_glue_split(glue_dir(), task_by_name("qnli"), "dev");
  int quoted = 0;
  for (const auto& ex : qnli.examples) quoted += ex.text_b->starts_with('"');
  EXPECT_EQ(quoted, 19);
  // Test splits keep the GLUE index.
  const Dataset test = read_glue_split(glue_dir(), task_by_name("cola"), "test");
  EXPECT_EQ(test.examples[0].id, "0");
  EXPECT_EQ(test.examples.back().id, "1062");
  EXPECT_EQ(test.examples[0].text_a, "Bill whistled past the house.");
}

TEST(EmbeddedSample, ReadsAsAGlueFolder) {
  const std::filesystem::path sample = AB_SOURCE_DIR "/data/sample";
  const Dataset train = read_glue_split(sample, task_by_name("sst2"), "train");
  const Dataset dev = read_glue_split(sample, task_by_name("sst2"), "dev");
  EXPECT_EQ(train.size(), 2000u);
  EXPECT_EQ(dev.size(), 872u);
  int64_t positives = 0;
  for (const auto& ex : train.examples) positives += ex.label;
  EXPECT_EQ(positives, 1101);
  const auto bytes = std::filesystem::file_size(sample / "SST-2/train.tsv") +
                     std::filesystem::file_size(sample / "SST-2/dev.tsv");
  EXPECT_LT(bytes, 1u << 20);
}

// ---------------------------------------------------------------------------------------------------------
// Layouts of the files that are not staged, written here

std::string mnli_row(int index, const std::string& s1, const std::string& s2, const std::vector<std::string>& labels) {
  std::string row = std::to_string(index) +
                    "\t31193\t31193n\tgovernment\t( ( bp1 ) )\t( ( bp2 ) )\t(ROOT (S p1))\t(ROOT (S p2))\t" + s1 +
                    "\t" + s2;
  for (const auto& l : labels) row += "\t" + l;
  return row + "\n";
}

TEST(GlueLayouts, MnliTrainDevTest) {
  TempDir dir;
  const std::string head = "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\t"
                           "sentence1_parse\tsentence2_parse\tsentence1\tsentence2";
  dir.write("MNLI/train.tsv", head + "\tlabel1\tgold_label\n" +
                                  mnli_row(0, "A \"quoted\" premise.", "Hyp.", {"neutral", "neutral"}) +
                                  mnli_row(1, "P2", "H2", {"entailment", "contradiction"}));
  dir.write("MNLI/dev_mismatched.tsv",
            head + "\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label\n" +
                mnli_row(7, "P", "H",
                         {"contradiction", "neutral", "contradiction", "contradiction", "neutral", "contradiction"}));
  dir.write("MNLI/test_mismatched.tsv", head + "\n" + mnli_row(9796, "P", "H", {}) + mnli_row(9797, "P3", "H3", {}));
  const TaskSpec& mnli = task_by_name("mnli");

  const Dataset train = read_glue_split(dir.path(), mnli, "train");
  ASSERT_EQ(train.size(), 2u);
  EXPECT_EQ(train.examples[0].text_a, "A \"quoted\" premise.");
  EXPECT_EQ(train.examples[0].text_b, "Hyp.");
  EXPECT_EQ(train.labels[train.examples[0].label], "neutral");
  EXPECT_EQ(train.examples[1].label, 0);  // gold_label (the last column), not label1
  EXPECT_EQ(train.examples[1].id, "1");

  const Dataset dev = read_glue_split(dir.path(), mnli, find_task("mnli-mm").dev_split);
  ASSERT_EQ(dev.size(), 1u);
  EXPECT_EQ(dev.labels[dev.examples[0].label], "contradiction");

  const Dataset test = read_glue_split(dir.path(), mnli, "test_mismatched");
  ASSERT_EQ(test.size(), 2u);
  EXPECT_FALSE(test.has_labels);
  EXPECT_EQ(test.examples[1].id, "9797");
  EXPECT_EQ(test.examples[1].text_b, "H3");
}

TEST(GlueLayouts, Qqp) {
  TempDir dir;
  dir.write("QQP/train.tsv", "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
                             "133273\t213221\t213222\tHow is the life of a math student?\tWhich level is enough?\t0\n"
                             "402555\t536040\t536041\tHow do I control my emotions?\tHow do you control yours?\t1\n");
  dir.write("QQP/test.tsv",
            "id\tquestion1\tquestion2\n0\tWhy am I mentally very lonely?\tFind the remainder of 23^24 by 24?\n");
  const Dataset train = read_glue_split(dir.path(), task_by_name("qqp"), "train");
  ASSERT_EQ(train.size(), 2u);
  EXPECT_EQ(train.examples[1].label, 1);
  EXPECT_EQ(train.examples[1].id, "402555");
  EXPECT_EQ(train.examples[1].text_a, "How do I control my emotions?");
  const Dataset test = read_glue_split(dir.path(), task_by_name("qqp"), "test");
  ASSERT_EQ(test.size(), 1u);
  EXPECT_EQ(test.examples[0].text_b, "Find the remainder of 23^24 by 24?");
}

TEST(GlueLayouts, QnliTrain) {
  TempDir dir;
  dir.write("QNLI/train.tsv", "index\tquestion\tsentence\tlabel\n0\tWhen?\tIn 1990.\tentailment\n"
                              "1\tWho?\tNobody knows \"why\".\tnot_entailment\n");
  const Dataset train = read_glue_split(dir.path(), task_by_name("qnli"), "train");
  ASSERT_EQ(train.size(), 2u);
  EXPECT_EQ(train.examples[0].label, 0);
  EXPECT_EQ(train.examples[1].label, 1);
  EXPECT_EQ(train.examples[1].text_b, "Nobody knows \"why\".");
}

// ---------------------------------------------------------------------------------------------------------
// gzip, BOM, CRLF, max_examples

TEST(GlueReader, ReadsGzipTransparently) {
  TempDir dir;
  dir.write_gz("SST-2/train.tsv.gz", "sentence\tlabel\ngood film \t1\nbad film \t0\n");
  const Dataset data = read_glue_split(dir.path(), task_by_name("sst2"), "train");
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(data.examples[1].text_a, "bad film ");
  EXPECT_EQ(data.examples[1].line, 3);
  EXPECT_EQ(data.path.filename(), "train.tsv.gz");
}

TEST(GlueReader, StripsBomOnTheFirstLineAndCrlf) {
  TempDir dir;
  // CoLA has no header: the BOM sits on the first data row.
  const auto file = dir.write("CoLA/train.tsv", "\xEF\xBB\xBFgj04\t1\t\tFirst.\r\ngj04\t0\t*\tSecond.\r\n");
  const Dataset data = read_glue_file(file, task_by_name("cola"), task_by_name("cola").split("train"));
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(data.examples[0].text_a, "First.");
  EXPECT_EQ(data.examples[1].text_a, "Second.");
  EXPECT_EQ(data.examples[1].label, 0);
  EXPECT_EQ(data.examples[1].id, "1");  // no id column: the row number
}

TEST(GlueReader, MaxExamplesTakesTheFirstN) {
  TempDir dir;
  dir.write("SST-2/dev.tsv", "sentence\tlabel\na\t1\nb\t0\nc\t1\n");
  const Dataset data = read_glue_split(dir.path(), task_by_name("sst2"), "dev", {.max_examples = 2});
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(data.examples[1].text_a, "b");
  EXPECT_EQ(read_glue_split(dir.path(), task_by_name("sst2"), "dev", {.max_examples = 0}).size(), 0u);
}

TEST(GlueReader, MissingFileNamesBothCandidates) {
  TempDir dir;
  EXPECT_THROW_WITH(read_glue_split(dir.path(), task_by_name("rte"), "train"), InputError, "RTE/train.tsv",
                    "train.tsv.gz", "no such file");
}

// ---------------------------------------------------------------------------------------------------------
// Malformed rows: each class throws with FILE:LINE, or is skipped and counted

struct BadCase {
  const char* name;
  const char* task;
  const char* split;
  std::string contents;
  int64_t line;
  const char* fragment;
  bool skippable = true;  // false: a file-level error, thrown even with skip_bad_rows
};

void PrintTo(const BadCase& f, std::ostream* os) { *os << f.name; }

class GlueBadRow : public ::testing::TestWithParam<BadCase> {};

TEST_P(GlueBadRow, ThrowsWithFileAndLine) {
  const BadCase& c = GetParam();
  TempDir dir;
  const TaskSpec& task = task_by_name(c.task);
  const SplitSpec& split = task.split(c.split);
  const auto file = dir.write(split.folder + "/" + split.file, c.contents);
  EXPECT_THROW_WITH(read_glue_file(file, task, split), InputError, file.string() + ":" + std::to_string(c.line) + ":",
                    c.fragment);
}

TEST_P(GlueBadRow, SkipBadRowsCountsIt) {
  const BadCase& c = GetParam();
  TempDir dir;
  const TaskSpec& task = task_by_name(c.task);
  const SplitSpec& split = task.split(c.split);
  const auto file = dir.write(split.folder + "/" + split.file, c.contents);
  if (!c.skippable) {  // a wrong header or no rows at all means a wrong file
    EXPECT_THROW_WITH(read_glue_file(file, task, split, {.skip_bad_rows = true}), InputError, c.fragment);
    return;
  }
  const Dataset data = read_glue_file(file, task, split, {.skip_bad_rows = true});
  EXPECT_EQ(data.report.skipped, 1);
  EXPECT_EQ(static_cast<int64_t>(data.size()), data.report.rows - 1);
  ASSERT_EQ(data.report.reasons.size(), 1u);
  EXPECT_NE(data.report.reasons[0].find(file.string() + ":" + std::to_string(c.line) + ":"), std::string::npos);
  EXPECT_NE(data.report.summary().find("skipped 1 of"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Classes, GlueBadRow,
    ::testing::Values(
        BadCase{"TooFewColumns", "rte", "train",
                "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\tb\n", 3,
                "expected 4 tab-separated columns (RTE train), found 3"},
        BadCase{"TooManyColumns", "sst2", "dev", "sentence\tlabel\ngood\t1\tx\nok\t0\n", 2,
                "expected 2 tab-separated columns (SST-2 dev), found 3"},
        BadCase{"BlankLine", "sst2", "train", "sentence\tlabel\ngood\t1\n\nbad\t0\n", 3,
                "expected 2 tab-separated columns (SST-2 train), found 1"},
        BadCase{"UnknownLabel", "rte", "dev", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tneutral\n", 2,
                "expected a label in {entailment, not_entailment} in column 3 ('label'), found 'neutral'"},
        BadCase{"EmptyText", "sst2", "train", "sentence\tlabel\n \t1\n", 2,
                "expected text in column 0 ('sentence'), found an empty field"},
        BadCase{"EmptyPairText", "wnli", "test", "index\tsentence1\tsentence2\n0\ta\tb\n1\ta\t\n", 3,
                "expected text in column 2 ('sentence2'), found an empty field"},
        BadCase{"BadFloat", "stsb", "train",
                "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
                "0\tg\tf\ty\t0\tn\tn\ta\tb\t4.x\n",
                2, "expected a float score in column 9 ('score'), found '4.x'"},
        BadCase{"NonFiniteFloat", "stsb", "dev",
                "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
                "0\tg\tf\ty\t0\tn\tn\ta\tb\t1.0\n1\tg\tf\ty\t0\tn\tn\ta\tb\tnan\n",
                3, "expected a float score"},
        BadCase{"NoHeaderUnknownLabel", "cola", "dev", "gj04\t1\t\tFine.\ngj04\tx\t\tBad label.\n", 2,
                "expected a label in {0, 1} in column 1, found 'x'"},
        BadCase{"WrongHeader", "qnli", "dev", "index\tquestion\tlabel\n0\tq\tentailment\n", 1,
                "expected the QNLI dev header with 4 tab-separated columns, found 3", false},
        BadCase{"EmptyFile", "mrpc", "train", "", 1, "found an empty file", false},
        BadCase{"HeaderOnly", "rte", "dev", "index\tsentence1\tsentence2\tlabel\n", 2,
                "expected RTE dev data rows after the header, found none", false},
        BadCase{"NoRows", "cola", "train", "", 1, "expected CoLA train data rows, found none", false}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return std::string(info.param.name); });

TEST(GlueReader, SkipReportKeepsTheFirstFewReasons) {
  TempDir dir;
  std::string contents = "sentence\tlabel\n";
  for (int i = 0; i < 10; ++i) contents += "good\t1\nbad\t7\n";
  const auto file = dir.write("SST-2/train.tsv", contents);
  const TaskSpec& sst2 = task_by_name("sst2");
  const Dataset data = read_glue_file(file, sst2, sst2.split("train"), {.skip_bad_rows = true, .max_reasons = 3});
  EXPECT_EQ(data.size(), 10u);
  EXPECT_EQ(data.report.rows, 20);
  EXPECT_EQ(data.report.skipped, 10);
  ASSERT_EQ(data.report.reasons.size(), 3u);
  EXPECT_NE(data.report.reasons[2].find("train.tsv:7:"), std::string::npos);
  EXPECT_NE(data.report.summary().find("skipped 10 of 20 rows"), std::string::npos);
  // Without skipping, the first bad row stops the read and hints at the option.
  EXPECT_THROW_WITH(read_glue_file(file, sst2, sst2.split("train")), InputError, "train.tsv:3:", "--skip-bad-rows");
}

}  // namespace
}  // namespace adapterbias
