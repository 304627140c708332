#include "serve/batcher.h"

#include <map>

#include <ATen/ATen.h>
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

std::vector<RowResult> Batcher::submit(const std::string& task, std::vector<Encoding> rows, RowRequest request) {
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
      queue_.push_back(Row{pending, i, task, request, std::move(rows[i]), tokens, now});
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
    // Rows of tasks and rows of the backbone alone route differently: a batch holds one kind.
    std::vector<Row> batch;
    int64_t tokens = 0;
    const bool tasked = !queue_.front().task.empty();
    while (!queue_.empty() && static_cast<int64_t>(batch.size()) < options_.max_batch_rows &&
           !queue_.front().task.empty() == tasked &&
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
  const bool tasked = !batch.front().task.empty();
  // A row whose task is gone (unloaded after the request was checked) fails alone.
  std::vector<Row*> runnable;
  std::vector<int64_t> task_of;
  for (Row& row : batch) {
    try {
      if (tasked) task_of.push_back(model_.task_index(row.task));
      runnable.push_back(&row);
    } catch (const InputError& e) {
      row.owner->deliver(row.slot, RowResult{{}, tasks, 0, e.what(), true});
    }
  }
  if (runnable.empty()) return;
  int64_t tokens = 0;
  std::vector<RowResult> results;  // delivered once all are made: a failure part way fails the whole batch
  try {
    std::vector<const Encoding*> encodings;
    std::vector<int64_t> lengths;
    for (const Row* row : runnable) {
      encodings.push_back(&row->encoding);
      lengths.push_back(row->tokens);
      tokens += row->tokens;
    }
    EncoderInput input = collate_packed(encodings);
    if (tasked) input.task_index = at::tensor(task_of, at::kLong);
    // The last layer on the first tokens alone when that is all the rows read.
    LastLayer last_layer = LastLayer::first_tokens;
    for (const Row* row : runnable) {
      const RowRequest& r = row->request;
      last_layer = both(last_layer, r.kind == RowRequest::Kind::predict ? model_.heads_read()
                                    : r.tokens                          ? LastLayer::every_token
                                                                        : last_layer_for(r.pooling));
    }
    const EncoderOutput out = model_.encode(input, last_layer);

    // Each kind of output once for the whole batch, on the CPU, then every row takes its part.
    std::vector<int64_t> predicted;
    for (size_t i = 0; i < runnable.size(); ++i)
      if (runnable[i]->request.kind == RowRequest::Kind::predict) predicted.push_back(static_cast<int64_t>(i));
    at::Tensor logits;
    if (!predicted.empty()) {
      const at::Tensor which = at::tensor(predicted, at::kLong);
      const at::Tensor heads_read = model_.head_input(input, out);
      logits = model_.head_logits(heads_read.index_select(0, which.to(heads_read.device())),
                                  input.task_index.index_select(0, which)).contiguous();
    }
    std::map<Pooling, at::Tensor> pooled;
    at::Tensor hidden;
    const std::vector<int64_t> offsets = [&] {
      std::vector<int64_t> o{0};
      for (const int64_t n : lengths) o.push_back(o.back() + n);
      return o;
    }();
    const auto floats = [](const at::Tensor& t) {
      return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
    };
    size_t next_logits = 0;
    for (size_t i = 0; i < runnable.size(); ++i) {
      const Row& row = *runnable[i];
      RowResult result{{}, tasks, tasked ? static_cast<size_t>(task_of[i]) : 0, {}};
      if (row.request.kind == RowRequest::Kind::predict) {
        result.values = floats(logits[static_cast<int64_t>(next_logits++)].narrow(0, 0, (*tasks)[result.task].info.num_labels()));
      } else if (row.request.tokens) {
        if (!hidden.defined()) hidden = out.last_hidden_state.to(at::kCPU, at::kFloat).contiguous();
        result.values = floats(hidden.narrow(0, offsets[i], lengths[i]).contiguous());
      } else {
        at::Tensor& p = pooled[row.request.pooling];
        if (!p.defined()) p = pool(row.request.pooling, input.to(out.first_tokens.device()), out).cpu().contiguous();
        result.values = floats(p[static_cast<int64_t>(i)]);
      }
      results.push_back(std::move(result));
    }
  } catch (const std::exception& e) {
    results.assign(runnable.size(), RowResult{{}, tasks, 0, e.what(), false});
  }
  for (size_t i = 0; i < runnable.size(); ++i) runnable[i]->owner->deliver(runnable[i]->slot, std::move(results[i]));
  if (observer_.on_batch)
    observer_.on_batch(static_cast<int64_t>(runnable.size()), tokens,
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

}  // namespace adapterbias
