// Training a task model: AdamW in two groups (weight decay on vectors and weights, none on biases and
// LayerNorms, as the AdapterBias reference code groups them), constant or warmup-linear learning rate,
// optional gradient clipping, length-bucketed batches, dev evaluation each epoch (and every eval_every steps)
// with early stopping, the best and the last adapter, metrics.jsonl, checkpoints to resume from, and
// data-parallel steps over a c10d process group. Only rank 0 writes files; the sink reports.
#pragma once
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/optim/adamw.h>

#include "core/error.h"
#include "data/dataset.h"
#include "data/metrics.h"
#include "data/task.h"
#include "model/collate.h"
#include "peft/adapter_file.h"
#include "peft/task_model.h"
#include "tokenizer/tokenizer.h"
#include "train/train_state.h"

namespace adapterbias {

class ProcessGroup;

struct TrainOptions {
  int64_t epochs = 3;
  int64_t batch_size = 32;    // the global batch: data-parallel ranks split each batch between them
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
  int64_t early_stopping = 0;  // stop after this many evaluations without a better dev metric; 0: never
  int64_t save_every = 0;      // steps between checkpoints besides those at evaluations; 0: only those

  // What changes the trained adapter (not log_every, save_every, eval_batch_size).
  nlohmann::json to_json() const;
};

struct EvalRecord {
  int64_t epoch = 0;
  int64_t step = 0;
  double train_loss = 0.0;  // mean since the previous record
  MetricResult dev;
};

struct TrainResult {
  MetricResult best;  // primary NaN when nothing was evaluated
  int64_t best_step = 0;
  int64_t steps = 0;
  bool stopped_early = false;
  double seconds = 0.0;            // the whole run, evaluations included (over all sessions of a resumed run)
  double step_seconds = 0.0;       // the training steps alone
  double tokens_per_second = 0.0;  // real (non-padding) training tokens per second of the training steps
  // Data parallel: time in the per-step gradient all-reduce on rank 0 (this session; waiting for slower ranks
  // included) and the bytes each rank sends into it per step.
  double allreduce_seconds = 0.0;
  int64_t allreduce_bytes_per_step = 0;
  std::filesystem::path adapter_path;  // the best by dev metric, or the last when there is no dev set
  std::filesystem::path last_path;
  nlohmann::json adapter_metadata;  // what save_adapter stored in adapter_path
};

// Where a training reports. The CLI prints; rank > 0 and library callers may pass none.
class TrainSink {
 public:
  virtual ~TrainSink() = default;
  virtual void epoch_started(int64_t epoch, int64_t steps) {}  // `steps` of this epoch still to run
  virtual void stepped(int64_t tokens, double running_loss) {}  // the loss as last read back (every log_every)
  virtual void epoch_finished() {}
  virtual void evaluating() {}  // before the dev pass
  virtual void evaluated(const EvalRecord& record, bool best) {}
  virtual void checkpointed(const std::filesystem::path& path, int64_t step) {}
};

// The loss became NaN or infinite; nothing from the diverged steps was saved.
class DivergedError : public Error {
 public:
  using Error::Error;
  ExitCode exit_code() const override { return ExitCode::kDiverged; }
};

// A stop was requested (SIGINT/SIGTERM): a checkpoint was written, the run can be resumed.
class Interrupted : public Error {
 public:
  Interrupted(int signal, int64_t step, const std::string& message) : Error(message), signal_(signal), step_(step) {}
  ExitCode exit_code() const override { return static_cast<ExitCode>(128 + signal_); }
  int signal() const { return signal_; }
  int64_t step() const { return step_; }  // the step the checkpoint holds

 private:
  int signal_;
  int64_t step_;
};

// AdamW (betas 0.9/0.999, eps 1e-8) over the model's trainable tensors, one group per (decay, lr_scale):
// `weight_decay` on those marked for decay, none on the rest; learning rate `lr` times the tensor's lr_scale.
std::unique_ptr<torch::optim::AdamW> make_adamw(const TaskModel& model, double lr, double weight_decay);

// What a training writes into its output folder.
struct RunFiles {
  explicit RunFiles(std::filesystem::path out) : dir(std::move(out)) {}
  std::filesystem::path dir;
  std::filesystem::path adapter() const { return dir / "adapter.safetensors"; }
  std::filesystem::path last() const { return dir / "last.safetensors"; }
  std::filesystem::path metrics() const { return dir / "metrics.jsonl"; }
  std::filesystem::path checkpoint() const { return dir / "checkpoint" / "trainer.safetensors"; }
  // Whether the folder holds (part of) an earlier run.
  bool hold_run() const;
};

// Makes `out` ready for a new run. A folder holding an earlier run is an InputError naming --resume and
// --overwrite unless `overwrite`; then only the earlier checkpoint is removed now (the other files are replaced
// when the new run has produced theirs). A path that is a file is an InputError.
void claim_output(const std::filesystem::path& out, bool overwrite);

// The checkpoint of the run in `out`; InputError naming --resume when there is none.
TrainState load_checkpoint(const std::filesystem::path& out);

class Trainer {
 public:
  // `dev` may be empty: no evaluation, the last adapter is the result. `group`: data-parallel ranks (rank 0's
  // initial tensors are broadcast; each rank runs its share of every batch). `command` is kept in checkpoints.
  Trainer(TaskModel& model, const Tokenizer& tokenizer, TaskSpec task, const Dataset& train, const Dataset& dev,
          TrainOptions options, AdapterInfo info, std::filesystem::path out_dir, TrainSink* sink = nullptr,
          ProcessGroup* group = nullptr, nlohmann::json command = nullptr);
  ~Trainer();

  // Continues from `checkpoint` (load_checkpoint of the output folder). MismatchError when it was made with
  // other options, data or tensors; InputError when the run had already finished.
  void resume(const TrainState& checkpoint);
  int64_t step_count() const { return progress_.step; }
  bool done() const { return progress_.step >= progress_.total_steps || stopped_early_; }

  // One optimiser step on the next batch of the plan (forward, loss, backward, gradient all-reduce, clipping).
  void step();
  // Dev metrics of the current tensors; keeps the adapter when it is the best so far, writes metrics.jsonl
  // and a checkpoint.
  EvalRecord evaluate(int64_t epoch);
  void save_checkpoint();
  // Trains to the end: steps, evaluations, checkpoints, early stopping, then the last adapter. When *stop
  // becomes non-zero (a signal number, set from a handler) it writes a checkpoint and throws Interrupted.
  TrainResult run(const std::atomic<int>* stop = nullptr);

 private:
  const std::vector<std::vector<int64_t>>& plan();
  void synchronise(at::Tensor& loss, double& stop_votes);
  double read_loss(const at::Tensor& total, int64_t count, const char* when) const;
  void ensure_finite(const char* when) const;  // DivergedError when a trained tensor is NaN or infinite
  TrainState state() const;
  double elapsed() const;
  bool writes() const;

  TaskModel& model_;
  TaskSpec task_;
  const Dataset& train_;
  const Dataset& dev_;
  TrainOptions options_;
  AdapterInfo info_;
  RunFiles files_;
  TrainSink default_sink_;
  TrainSink* sink_;
  ProcessGroup* group_;
  nlohmann::json command_;
  int64_t pad_id_;
  std::vector<Encoding> train_enc_, dev_enc_;  // dev_enc_: this rank's share
  std::vector<int64_t> lengths_;
  nlohmann::json data_fingerprint_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::vector<double> base_lr_;
  std::vector<TrainableTensor> trainable_;

  TrainProgress progress_;  // elapsed_seconds: before this session
  int64_t planned_epoch_ = 0;
  std::vector<std::vector<int64_t>> batches_;
  at::Tensor loss_total_;  // on the device, read back every log_every steps
  double shown_loss_ = 0.0, allreduce_seconds_ = 0.0;
  int64_t allreduce_bytes_ = 0;
  bool stopped_early_ = false, stop_agreed_ = false;
  nlohmann::json best_metadata_;
  const std::atomic<int>* stop_ = nullptr;
  std::chrono::steady_clock::time_point session_start_;
};

}  // namespace adapterbias
