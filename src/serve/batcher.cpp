#include "serve/batcher.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/utils.h>

#include "model/collate.h"

namespace adapterbias {

// One request's rows: filled in by the engine thread, waited for by the HTTP thread.
struct Batcher::Pending {
  std::mutex mutex;
  std::condition_variable done;
  size_t remaining = 0;
  std::vector<RowResult> results;

  void deliver(size_t slot, RowResult result) {
    std::lock_guard lock(mutex);
    results[slot] = std::move(result);
    if (--remaining == 0) done.notify_all();
  }
};

Batcher::Batcher(MultiTaskModel& model, BatcherOptions options, BatchObserver observer)
    : model_(model), options_(options), observer_(std::move(observer)) {
  tasks_ = std::make_shared<const std::vector<ServedTask>>(model_.tasks());
  engine_ = std::thread([this] { loop(); });
}

Batcher::~Batcher() { stop(); }

std::vector<RowResult> Batcher::submit(const std::string& task, std::vector<Encoding> rows) {
  auto pending = std::make_shared<Pending>();
  pending->remaining = rows.size();
  pending->results.resize(rows.size());
  if (rows.empty()) return {};
  {
    std::lock_guard lock(mutex_);
    if (stopping_) throw ShuttingDown("the server is shutting down");
    const auto now = std::chrono::steady_clock::now();
    for (size_t i = 0; i < rows.size(); ++i) {
      const int64_t tokens = static_cast<int64_t>(rows[i].ids.size());
      queue_.push_back(Row{pending, i, task, std::move(rows[i]), tokens, now});
      queued_tokens_ += tokens;
    }
  }
  wake_.notify_one();
  std::unique_lock lock(pending->mutex);
  pending->done.wait(lock, [&] { return pending->remaining == 0; });
  return std::move(pending->results);
}

void Batcher::change_tasks(std::function<void(MultiTaskModel&)> change) {
  std::future<void> done;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) throw ShuttingDown("the server is shutting down");
    changes_.push_back(Change{std::move(change), {}});
    done = changes_.back().done.get_future();
  }
  wake_.notify_one();
  done.get();
}

TaskList Batcher::tasks() const {
  std::lock_guard lock(mutex_);
  return tasks_;
}

int64_t Batcher::queued_rows() const {
  std::lock_guard lock(mutex_);
  return static_cast<int64_t>(queue_.size());
}

void Batcher::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (engine_.joinable()) engine_.join();
}

bool Batcher::batch_full() const {
  return queued_tokens_ >= options_.max_batch_tokens || static_cast<int64_t>(queue_.size()) >= options_.max_batch_rows;
}

void Batcher::loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || !changes_.empty(); });
    while (!changes_.empty()) {
      Change change = std::move(changes_.front());
      changes_.pop_front();
      lock.unlock();
      std::exception_ptr failure;
      try {
        change.run(model_);
      } catch (...) {
        failure = std::current_exception();
      }
      auto tasks = std::make_shared<const std::vector<ServedTask>>(model_.tasks());
      lock.lock();
      tasks_ = std::move(tasks);  // before the caller wakes: what it reads next includes its change
      if (failure) change.done.set_exception(failure);
      else change.done.set_value();
    }
    if (queue_.empty()) {
      if (stopping_) return;
      continue;
    }
    // Wait for company up to max_wait after the oldest row arrived, unless a batch is already full.
    const auto deadline = queue_.front().arrival + options_.max_wait;
    while (!stopping_ && changes_.empty() && !batch_full() &&
           wake_.wait_until(lock, deadline) != std::cv_status::timeout) {
    }
    std::vector<Row> batch;
    int64_t tokens = 0;
    while (!queue_.empty() && static_cast<int64_t>(batch.size()) < options_.max_batch_rows &&
           (batch.empty() || tokens + queue_.front().tokens <= options_.max_batch_tokens)) {
      tokens += queue_.front().tokens;
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    queued_tokens_ -= tokens;
    lock.unlock();
    run_batch(batch);
    lock.lock();
  }
}

void Batcher::run_batch(std::vector<Row>& batch) {
  const auto start = std::chrono::steady_clock::now();
  const TaskList tasks = tasks_;  // written by this thread only, between batches
  // A row whose task is gone (unloaded after the request was checked) fails alone.
  std::vector<Row*> runnable;
  std::vector<int64_t> task_of;
  for (Row& row : batch) {
    try {
      task_of.push_back(model_.task_index(row.task));
      runnable.push_back(&row);
    } catch (const InputError& e) {
      row.owner->deliver(row.slot, RowResult{{}, tasks, 0, e.what(), true});
    }
  }
  if (runnable.empty()) return;
  int64_t tokens = 0;
  try {
    std::vector<const Encoding*> encodings;
    for (const Row* row : runnable) {
      encodings.push_back(&row->encoding);
      tokens += row->tokens;
    }
    EncoderInput input = collate_packed(encodings);
    input.task_index = at::tensor(task_of, at::kLong);
    const at::Tensor logits = model_.forward(std::move(input)).contiguous();
    const float* data = logits.data_ptr<float>();
    const int64_t width = logits.size(1);
    for (size_t i = 0; i < runnable.size(); ++i) {
      const size_t k = static_cast<size_t>(task_of[i]);
      const float* row = data + static_cast<int64_t>(i) * width;
      runnable[i]->owner->deliver(runnable[i]->slot,
                                  RowResult{std::vector<float>(row, row + (*tasks)[k].info.num_labels()), tasks, k, {}});
    }
  } catch (const std::exception& e) {
    for (Row* row : runnable) row->owner->deliver(row->slot, RowResult{{}, tasks, 0, e.what(), false});
  }
  if (observer_.on_batch)
    observer_.on_batch(static_cast<int64_t>(runnable.size()), tokens,
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

}  // namespace adapterbias
