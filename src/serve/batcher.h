// Dynamic batching for the server (DESIGN.md "Batcher"): HTTP threads submit the rows of their requests, one
// engine thread forms batches from whatever is waiting, by a token budget, and runs rows of any tasks in the
// same pass of the multi-task model (peft/multi_task_model.h); each row's result goes back to its request.
// Task changes (load, unload) run on the same thread between batches: the model has one user, and a batch in
// flight is never disturbed.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "peft/multi_task_model.h"
#include "tokenizer/tokenizer.h"
#include "model/pooling.h"

namespace adapterbias {

struct BatcherOptions {
  int64_t max_batch_tokens = 16384;            // real tokens per batch (packed: no padding)
  int64_t max_batch_rows = 128;                // inputs per batch (--max-batch-requests, as TEI counts them)
  std::chrono::microseconds max_wait{2000};    // how long the oldest waiting row may wait for company
};

// The tasks as they were after the last change: what requests validate against and format with.
using TaskList = std::shared_ptr<const std::vector<ServedTask>>;

// What a row asks for: its task's outputs, or hidden states (pooled, or every token's).
struct RowRequest {
  enum class Kind { predict, embed } kind = Kind::predict;
  Pooling pooling = Pooling::mean;  // embed
  bool tokens = false;              // embed: every token's last hidden state instead of the pooled one
};

struct RowResult {
  std::vector<float> values;  // predict: the task's outputs (its labels, or one regression score); embed: the
                              // pooled state (H), or with `tokens` every token's, one after another (T * H)
  TaskList tasks;             // the task list the row ran under
  size_t task = 0;            // its task in `tasks`
  std::string error;          // non-empty: the row did not run (its task is gone, or the batch failed)
  bool not_found = false;     // the error is an unknown task
};

// Thrown by submit() once stop() has begun.
struct ShuttingDown : Error {
  using Error::Error;
};

// What the engine thread did, for /metrics.
struct BatchObserver {
  std::function<void(int64_t rows, int64_t tokens, double seconds)> on_batch;
};

class Batcher {
 public:
  Batcher(MultiTaskModel& model, BatcherOptions options, BatchObserver observer = {});
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Runs `rows` under task `task` (empty: the backbone alone, for embed) and waits for them; results in order.
  // ShuttingDown after stop().
  std::vector<RowResult> submit(const std::string& task, std::vector<Encoding> rows, RowRequest request = {});
  // Runs `change` on the engine thread between batches and waits for it; rethrows what it throws.
  void change_tasks(std::function<void(MultiTaskModel&)> change);

  TaskList tasks() const;
  int64_t queued_rows() const;
  // Refuses new rows, finishes every queued one, then ends the engine thread. Idempotent.
  void stop();

 private:
  struct Pending;
  struct Row {
    std::shared_ptr<Pending> owner;
    size_t slot;
    std::string task;
    RowRequest request;
    Encoding encoding;
    int64_t tokens;
    std::chrono::steady_clock::time_point arrival;
  };
  struct Change {
    std::function<void(MultiTaskModel&)> run;
    std::promise<void> done;
  };

  void loop();
  bool batch_full() const;  // with mutex_ held
  void run_batch(std::vector<Row>& batch);

  MultiTaskModel& model_;
  BatcherOptions options_;
  BatchObserver observer_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Row> queue_;
  int64_t queued_tokens_ = 0;
  std::deque<Change> changes_;
  TaskList tasks_;
  bool stopping_ = false;
  std::thread engine_;
};

}  // namespace adapterbias
