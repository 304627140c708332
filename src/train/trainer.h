// Training a task model: AdamW in two groups (weight decay on vectors and weights, none on biases and
// LayerNorms, as the AdapterBias reference code groups them), constant or warmup-linear learning rate,
// optional gradient clipping, length-bucketed batches, dev evaluation each epoch (and every eval_every steps),
// the best adapter kept by the task's primary metric, and metrics.jsonl.
#pragma once
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/optim/adamw.h>

#include "data/dataset.h"
#include "data/metrics.h"
#include "data/task.h"
#include "model/collate.h"
#include "peft/adapter_file.h"
#include "peft/task_model.h"
#include "tokenizer/tokenizer.h"

namespace adapterbias {

struct TrainOptions {
  int64_t epochs = 3;
  int64_t batch_size = 32;
  double lr = 1e-4;
  int64_t max_length = 128;
  uint64_t seed = 42;
  double warmup = 0.0;        // 0: constant lr; in (0, 1): that fraction of the steps warms up linearly, then
                              // linear decay to 0; >= 1: that many warmup steps
  double weight_decay = 0.01;
  double max_grad_norm = 0.0;  // 0: no clipping
  int64_t eval_every = 0;      // 0: evaluate at the end of each epoch only
  int64_t max_steps = 0;       // 0: no limit
  bool shuffle = true;         // false: batches of consecutive examples in file order
  int64_t eval_batch_size = 64;
  BatchLayout layout = BatchLayout::packed;  // packed: no work on padding tokens
  int64_t log_every = 10;  // steps between read-backs of the loss for the progress bar (each one a device sync)

  nlohmann::json to_json() const;
};

struct EvalRecord {
  int64_t epoch = 0;
  int64_t step = 0;
  double train_loss = 0.0;  // mean since the previous record
  MetricResult dev;
};

struct TrainResult {
  std::vector<EvalRecord> history;
  MetricResult best;
  int64_t best_step = 0;
  int64_t steps = 0;
  double seconds = 0.0;            // the whole run, evaluations included
  double step_seconds = 0.0;       // the training steps alone
  double tokens_per_second = 0.0;  // real (non-padding) training tokens per second of the training steps
  std::filesystem::path adapter_path;
  nlohmann::json adapter_metadata;  // what save_adapter stored with the best adapter
};

// AdamW (betas 0.9/0.999, eps 1e-8) over the model's trainable tensors, one group per (decay, lr_scale):
// `weight_decay` on those marked for decay, none on the rest; learning rate `lr` times the tensor's lr_scale.
std::unique_ptr<torch::optim::AdamW> make_adamw(const TaskModel& model, double lr, double weight_decay);

// Trains `model` on `train`, evaluating on `dev`, and writes `out_dir`/adapter.safetensors (the best by
// the primary metric; `info` completed with metrics and options) and `out_dir`/metrics.jsonl.
TrainResult train_task_model(TaskModel& model, const Tokenizer& tokenizer, const TaskSpec& task, const Dataset& train,
                             const Dataset& dev, const TrainOptions& options, AdapterInfo info,
                             const std::filesystem::path& out_dir);

}  // namespace adapterbias
