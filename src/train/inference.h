// Running a task model over examples: tokenisation of a split, batched prediction in input order, metrics.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "data/metrics.h"
#include "data/task.h"
#include "model/collate.h"
#include "peft/adapter_file.h"
#include "peft/multi_task_model.h"
#include "peft/task_model.h"
#include "tokenizer/tokenizer.h"

namespace adapterbias {

// Tokenises every example (pairs with the model's template), truncated to max_length, on all cores.
std::vector<Encoding> encode_examples(const Tokenizer& tokenizer, const std::vector<Example>& examples,
                                      int64_t max_length);

int64_t count_tokens(const std::vector<Encoding>& encodings);

// Computes logits for one batch: the collated rows (on the CPU) and their indices into the encodings.
using BatchForward = std::function<at::Tensor(EncoderInput input, const std::vector<int64_t>& rows)>;
using BatchVisit = std::function<void(const std::vector<int64_t>&, const at::Tensor&)>;

// Runs `forward` over length-bucketed batches of `encodings` without gradients and calls visit(batch indices,
// logits fp32 on the CPU) for each; `progress_label` non-empty shows a progress bar.
void for_each_batch(const std::vector<Encoding>& encodings, int64_t batch_size, int64_t pad_token_id,
                    const std::string& progress_label, const BatchForward& forward, const BatchVisit& visit,
                    BatchLayout layout = BatchLayout::packed);

// The same for a task model, in eval mode on its device: logits (B, num_labels); its last layer as
// TaskModel::forward computes it.
void for_each_batch(TaskModel& model, const std::vector<Encoding>& encodings, int64_t batch_size, int64_t pad_token_id,
                    const std::string& progress_label,
                    const std::function<void(const std::vector<int64_t>&, const at::Tensor&)>& visit,
                    BatchLayout layout = BatchLayout::packed, LastLayer last_layer = LastLayer::first_tokens);

// Logits (N, num_labels) in input order, from length-bucketed batches without gradients, in eval mode.
at::Tensor predict_logits(TaskModel& model, const std::vector<Encoding>& encodings, int64_t batch_size,
                          int64_t pad_token_id, bool show_progress = false, BatchLayout layout = BatchLayout::packed);

// Logits of inputs that each belong to a task of `model` (task_of[i] a row of model.tasks()), in input order:
// (N, model.max_outputs()), row i's first num_labels columns its task's. Rows of all tasks share the batches.
at::Tensor predict_mixed_logits(MultiTaskModel& model, const std::vector<Encoding>& encodings,
                                const std::vector<int64_t>& task_of, int64_t batch_size, int64_t pad_token_id,
                                bool show_progress = false,
                                BatchLayout layout = BatchLayout::packed);

// Class ids (argmax) or regression scores from logits, and the task's metrics against `examples`.
std::vector<int64_t> predicted_classes(const at::Tensor& logits);
std::vector<double> predicted_scores(const at::Tensor& logits);
MetricResult score(const TaskSpec& task, const at::Tensor& logits, const std::vector<Example>& examples);

// Scores `loaded` on `data` (a labeled split of `task`, e.g. from adapter_task and read_split): the document
// `adapterbias eval` prints, {task, split, n, adapter, max_length, <each metric>, primary}. `max_length` 0: the
// adapter's.
nlohmann::ordered_json evaluate_adapter(LoadedAdapter& loaded, const TaskSpec& task, const Dataset& data,
                                        const std::string& split, int64_t batch_size, int64_t max_length = 0,
                                        bool show_progress = false);

// One prediction from a logits row: {"label", "label_id", "probabilities"} or, for regression, {"score"};
// `with_logits` adds the raw "logits".
nlohmann::ordered_json prediction_json(const AdapterInfo& info, const at::Tensor& row, bool with_logits = false);

}  // namespace adapterbias
