#include "train/inference.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/utils.h>

#include "core/error.h"
#include "core/progress.h"
#include "data/batching.h"
#include "model/collate.h"

namespace adapterbias {

std::vector<Encoding> encode_examples(const Tokenizer& tokenizer, const std::vector<Example>& examples,
                                      int64_t max_length) {
  std::vector<std::pair<std::string, std::optional<std::string>>> inputs;
  inputs.reserve(examples.size());
  for (const auto& e : examples) inputs.emplace_back(e.text_a, e.text_b);
  return tokenizer.encode_batch(inputs, EncodeOptions{.max_length = max_length});
}

int64_t count_tokens(const std::vector<Encoding>& encodings) {
  int64_t n = 0;
  for (const auto& e : encodings) n += static_cast<int64_t>(e.ids.size());
  return n;
}

void for_each_batch(const std::vector<Encoding>& encodings, int64_t batch_size, int64_t pad_token_id,
                    const std::string& progress_label, const BatchForward& forward, const BatchVisit& visit,
                    BatchLayout layout) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> lengths;
  for (const auto& e : encodings) lengths.push_back(static_cast<int64_t>(e.ids.size()));
  const auto batches = plan_batches(lengths, BatchPlanOptions{.batch_size = batch_size, .shuffle = false});
  std::unique_ptr<Progress> progress;
  if (!progress_label.empty()) progress = std::make_unique<Progress>(static_cast<int64_t>(batches.size()), progress_label);
  for (const auto& batch : batches) {
    std::vector<const Encoding*> rows;
    int64_t tokens = 0;
    for (const int64_t i : batch) {
      rows.push_back(&encodings[i]);
      tokens += lengths[i];
    }
    visit(batch, forward(collate(rows, pad_token_id, layout), batch).to(at::kCPU, at::kFloat));
    if (progress) progress->advance(1, tokens);
  }
}

void for_each_batch(TaskModel& model, const std::vector<Encoding>& encodings, int64_t batch_size, int64_t pad_token_id,
                    const std::string& progress_label,
                    const std::function<void(const std::vector<int64_t>&, const at::Tensor&)>& visit,
                    BatchLayout layout, LastLayer last_layer) {
  model.eval();
  const auto forward = [&](const EncoderInput& input, const std::vector<int64_t>&) {
    return model.forward(input.to(model.compute().device), last_layer);
  };
  for_each_batch(encodings, batch_size, pad_token_id, progress_label, forward, visit, layout);
}

at::Tensor predict_logits(TaskModel& model, const std::vector<Encoding>& encodings, int64_t batch_size,
                          int64_t pad_token_id, bool show_progress, BatchLayout layout) {
  at::Tensor logits = at::zeros({static_cast<int64_t>(encodings.size()), model.classifier->options.out_features()});
  for_each_batch(model, encodings, batch_size, pad_token_id, show_progress ? "predict" : "",
                 [&](const std::vector<int64_t>& batch, const at::Tensor& out) {
                   logits.index_copy_(0, at::tensor(batch, at::kLong), out);
                 }, layout);
  return logits;
}

at::Tensor predict_mixed_logits(MultiTaskModel& model, const std::vector<Encoding>& encodings,
                                const std::vector<int64_t>& task_of, int64_t batch_size, int64_t pad_token_id,
                                bool show_progress,
                                BatchLayout layout) {
  TORCH_CHECK(task_of.size() == encodings.size(), "one task per input");
  const at::Tensor tasks = at::tensor(task_of, at::kLong);
  at::Tensor logits = at::zeros({static_cast<int64_t>(encodings.size()), model.max_outputs()});
  const auto forward = [&](EncoderInput input, const std::vector<int64_t>& rows) {
    input.task_index = tasks.index_select(0, at::tensor(rows, at::kLong));
    return model.forward(std::move(input));
  };
  for_each_batch(encodings, batch_size, pad_token_id, show_progress ? "predict" : "", forward,
                 [&](const std::vector<int64_t>& batch, const at::Tensor& out) {
                   logits.index_copy_(0, at::tensor(batch, at::kLong), out);
                 }, layout);
  return logits;
}

std::vector<int64_t> predicted_classes(const at::Tensor& logits) {
  const at::Tensor ids = logits.argmax(1).contiguous();
  return {ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel()};
}

std::vector<double> predicted_scores(const at::Tensor& logits) {
  const at::Tensor scores = logits.select(1, 0).to(at::kDouble).contiguous();
  return {scores.data_ptr<double>(), scores.data_ptr<double>() + scores.numel()};
}

MetricResult score(const TaskSpec& task, const at::Tensor& logits, const std::vector<Example>& examples) {
  if (task.regression) return compute_metrics(task, std::span<const double>(predicted_scores(logits)), examples);
  return compute_metrics(task, std::span<const int64_t>(predicted_classes(logits)), examples);
}

nlohmann::ordered_json evaluate_adapter(LoadedAdapter& loaded, const TaskSpec& task, const Dataset& data,
                                        const std::string& split, int64_t batch_size, int64_t max_length,
                                        bool show_progress) {
  if (!data.has_labels)
    throw InputError(fmt::format("{}: split '{}' has no labels to score against", data.path.string(), split));
  const int64_t length = loaded.max_length(max_length);
  const auto encodings = encode_examples(*loaded.tokenizer, data.examples, length);
  const at::Tensor logits =
      predict_logits(loaded.model, encodings, batch_size, loaded.tokenizer->pad_token_id(), show_progress);
  const MetricResult metrics = score(task, logits, data.examples);
  nlohmann::ordered_json out = {{"task", task.name},
                                {"split", split},
                                {"n", data.size()},
                                {"adapter", loaded.path.string()},
                                {"max_length", length}};
  for (const auto& [name, value] : metrics.values) out[name] = value;
  out["primary"] = metrics.primary_name;
  return out;
}

nlohmann::ordered_json prediction_json(const AdapterInfo& info, const at::Tensor& row, bool with_logits) {
  nlohmann::ordered_json out;
  if (info.regression) {
    out["score"] = row[0].item<double>();
  } else {
    const at::Tensor probs = at::softmax(row.to(at::kDouble), 0);
    const int64_t id = row.argmax().item<int64_t>();
    out["label"] = info.labels[id];
    out["label_id"] = id;
    nlohmann::ordered_json probabilities = nlohmann::ordered_json::object();
    for (size_t c = 0; c < info.labels.size(); ++c) probabilities[info.labels[c]] = probs[c].item<double>();
    out["probabilities"] = probabilities;
  }
  if (with_logits) {
    std::vector<double> values;
    for (int64_t c = 0; c < row.size(0); ++c) values.push_back(row[c].item<double>());
    out["logits"] = values;
  }
  return out;
}

}  // namespace adapterbias
