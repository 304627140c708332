// GLUE test-set submission files, as gluebenchmark.com expects them: one `<Task>.tsv` per test split (CoLA.tsv,
// SST-2.tsv, MRPC.tsv, STS-B.tsv, QQP.tsv, MNLI-m.tsv, MNLI-mm.tsv, QNLI.tsv, RTE.tsv, WNLI.tsv, AX.tsv) with a
// header `index\tprediction` and one row per test example: the example's GLUE index, then the label string
// (MNLI, QNLI, RTE: "entailment", ...; CoLA, SST-2, MRPC, QQP, WNLI: 0/1) or the score (STS-B, 3 decimals).
#pragma once
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "data/dataset.h"
#include "data/task.h"

namespace adapterbias {

// The file name the GLUE site expects for `split` of `task` ("MNLI-mm.tsv"); throws InputError when the split
// is not a test split.
std::string submission_file_name(const TaskSpec& task, std::string_view split);

// The file's contents. `examples` are the test split as read (their ids); predictions are in the same order.
// Throws MismatchError when the counts differ or a class id is out of range.
std::string format_submission(const TaskSpec& task, std::span<const Example> examples,
                              std::span<const int64_t> predicted_classes);
std::string format_submission(const TaskSpec& task, std::span<const Example> examples,
                              std::span<const double> predicted_scores);

}  // namespace adapterbias
