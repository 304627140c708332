// A small persistent thread pool for data-parallel loops: parallel_for(n, fn) runs fn over contiguous chunks
// of [0, n) on the calling thread plus the pool's workers, and returns when every chunk is done.
//
// Hand-written because the tokenizer and data readers are torch-free (ab_core), so LibTorch's at::parallel_for
// and its pools are not available to them, and Debian 12 ships no thread-pool library we use.
//
// - Workers start once (ThreadPool::shared() starts lazily on first use) and sleep on a condition variable
//   between calls: no busy-waiting, no threads created per call.
// - The caller always works on its own job, so a call never waits for a free worker: calls from several
//   threads at once, and nested calls from inside fn, cannot deadlock.
// - fn(begin, end) gets contiguous, disjoint ranges that cover [0, n) exactly once; writing results at index
//   i keeps them in input order.
// - An exception thrown by fn is re-thrown in the caller (the first one wins; chunks not started yet are
//   skipped). Small loops (fewer than two chunks of `grain` items) and one-thread pools run inline.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace adapterbias {

class ThreadPool {
 public:
  // `n_threads` counts the caller: n_threads - 1 workers are started (none for 0 or 1).
  explicit ThreadPool(size_t n_threads = default_thread_count());
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // The process-wide pool, started on first use with default_thread_count() threads.
  static ThreadPool& shared();
  // The cores this process may run on (its CPU affinity mask, e.g. under `taskset -c 0,1`), else
  // std::thread::hardware_concurrency(); at least 1.
  static size_t default_thread_count();

  // Threads that run chunks of a call: the workers plus the caller.
  size_t size() const { return workers_.size() + 1; }

  // Calls fn(begin, end) on contiguous ranges covering [0, n), each of at least `grain` items (except when
  // n < grain), and returns when all are done. Re-throws the first exception thrown by fn.
  void parallel_for(size_t n, const std::function<void(size_t begin, size_t end)>& fn, size_t grain = 1);

 private:
  struct Job;

  void worker_loop();
  void remove_job(const std::shared_ptr<Job>& job);

  std::mutex mutex_;                          // guards queue_ and stop_
  std::condition_variable wake_;              // workers sleep here until a job is queued or stop_ is set
  std::deque<std::shared_ptr<Job>> queue_;    // jobs with chunks still to claim, oldest first
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace adapterbias
