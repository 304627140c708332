#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <exception>

#if defined(__linux__)
#include <sched.h>
#endif

namespace adapterbias {

// Chunks per thread: more than one, so that a thread given slow inputs (long texts) does not hold up the
// others, few enough that claiming a chunk (one atomic increment) costs nothing beside the work.
constexpr size_t kChunksPerThread = 4;

// One parallel_for call. Participants claim chunk indices with `next`; the caller waits until `done` reaches
// `n_chunks`. Held by shared_ptr, so a worker that is still looking at it after the caller returned keeps
// it alive; fn is only called for claimed chunks, all of which finish before the caller returns.
struct ThreadPool::Job {
  const std::function<void(size_t, size_t)>* fn;
  size_t n;
  size_t n_chunks;
  std::atomic<size_t> next{0};
  std::atomic<size_t> done{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;  // the first exception, guarded by mutex
  std::mutex mutex;
  std::condition_variable finished;

  size_t chunk_begin(size_t c) const {
    const size_t q = n / n_chunks, r = n % n_chunks;
    return c * q + std::min(c, r);
  }

  // Claims and runs chunks until none is left to claim.
  void run_chunks() {
    for (size_t c = next.fetch_add(1); c < n_chunks; c = next.fetch_add(1)) {
      if (!failed.load()) {
        try {
          (*fn)(chunk_begin(c), chunk_begin(c + 1));
        } catch (...) {
          std::lock_guard<std::mutex> lock(mutex);
          if (!error) error = std::current_exception();
          failed = true;
        }
      }
      if (done.fetch_add(1) + 1 == n_chunks) {
        // Taking the mutex orders this notification after the caller's check of `done` (no lost wake-up).
        std::lock_guard<std::mutex> lock(mutex);
        finished.notify_all();
      }
    }
  }
};

size_t ThreadPool::default_thread_count() {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<size_t>(n);
  }
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

ThreadPool& ThreadPool::shared() {
  static ThreadPool pool;  // started once, thread-safe (magic static); joined at exit
  return pool;
}

ThreadPool::ThreadPool(size_t n_threads) {
  const size_t n_workers = n_threads > 1 ? n_threads - 1 : 0;
  workers_.reserve(n_workers);
  for (size_t i = 0; i < n_workers; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::remove_job(const std::shared_ptr<Job>& job) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = std::find(queue_.begin(), queue_.end(), job);
  if (it != queue_.end()) queue_.erase(it);
}

void ThreadPool::worker_loop() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      job = queue_.front();
    }
    job->run_chunks();
    // Every chunk is claimed now: take the job off the queue so no one picks it up again.
    remove_job(job);
  }
}

void ThreadPool::parallel_for(size_t n, const std::function<void(size_t, size_t)>& fn, size_t grain) {
  if (n == 0) return;
  const size_t n_chunks = std::min(n / std::max<size_t>(grain, 1), size() * kChunksPerThread);
  if (n_chunks <= 1 || workers_.empty()) {
    fn(0, n);
    return;
  }
  auto job = std::make_shared<Job>();
  job->fn = &fn;
  job->n = n;
  job->n_chunks = n_chunks;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(job);
  }
  wake_.notify_all();
  job->run_chunks();
  remove_job(job);
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(job->mutex);
    job->finished.wait(lock, [&] { return job->done.load() == job->n_chunks; });
    // Moved out, so that a worker dropping the last reference to the job does not release the exception
    // the caller is handling.
    error = std::move(job->error);
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace adapterbias
