#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace adapterbias {
namespace {

// Runs `body` on its own thread and fails if it has not returned within `limit`. A deadlocked thread cannot
// be joined, so on a timeout the test binary ends at once (CTest reports the failure).
void expect_finishes_within(std::chrono::seconds limit, std::function<void()> body) {
  std::promise<void> finished;
  std::future<void> result = finished.get_future();
  std::thread runner([&body, &finished] {
    try {
      body();
      finished.set_value();
    } catch (...) {
      finished.set_exception(std::current_exception());
    }
  });
  if (result.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << "did not finish within " << limit.count() << " s: deadlock";
    std::_Exit(1);
  }
  runner.join();
  result.get();
}

TEST(ThreadPool, ChunksAreContiguousAndCoverEveryIndexOnceInOrder) {
  ThreadPool pool(4);
  EXPECT_EQ(pool.size(), 4u);
  constexpr size_t n = 10007;  // not a multiple of the chunk count
  std::vector<std::atomic<int>> visits(n);
  std::vector<size_t> out(n, 0);
  std::mutex mutex;
  std::vector<std::pair<size_t, size_t>> ranges;
  pool.parallel_for(
      n,
      [&](size_t begin, size_t end) {
        {
          std::lock_guard<std::mutex> lock(mutex);
          ranges.emplace_back(begin, end);
        }
        EXPECT_GE(end - begin, 100u);
        for (size_t i = begin; i < end; ++i) {
          visits[i]++;
          out[i] = i * i;
        }
      },
      /*grain=*/100);
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(visits[i].load(), 1) << i;
    ASSERT_EQ(out[i], i * i) << i;
  }
  std::sort(ranges.begin(), ranges.end());
  ASSERT_GT(ranges.size(), 1u);
  EXPECT_EQ(ranges.front().first, 0u);
  EXPECT_EQ(ranges.back().second, n);
  for (size_t r = 1; r < ranges.size(); ++r) EXPECT_EQ(ranges[r].first, ranges[r - 1].second);
}

TEST(ThreadPool, SmallLoopsAndOneThreadPoolsRunInlineOnTheCaller) {
  ThreadPool pool(4);
  const auto caller = std::this_thread::get_id();
  int calls = 0;
  pool.parallel_for(63, [&](size_t begin, size_t end) {
    ++calls;  // not atomic: inline means one call on this thread
    EXPECT_EQ(std::this_thread::get_id(), caller);
    EXPECT_EQ(begin, 0u);
    EXPECT_EQ(end, 63u);
  }, /*grain=*/32);
  EXPECT_EQ(calls, 1);

  ThreadPool one(1);
  EXPECT_EQ(one.size(), 1u);
  calls = 0;
  one.parallel_for(100000, [&](size_t begin, size_t end) {
    ++calls;
    EXPECT_EQ(std::this_thread::get_id(), caller);
    EXPECT_EQ(end - begin, 100000u);
  });
  EXPECT_EQ(calls, 1);

  pool.parallel_for(0, [&](size_t, size_t) { ADD_FAILURE() << "fn called for n = 0"; });
}

struct ChunkError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

TEST(ThreadPool, WorkerExceptionIsRethrownInTheCallerAndThePoolStaysUsable) {
  ThreadPool pool(3);
  constexpr size_t n = 4000;
  for (int round = 0; round < 20; ++round) {
    std::atomic<size_t> after_failure{0};
    try {
      pool.parallel_for(n, [&](size_t begin, size_t end) {
        for (size_t i = begin; i < end; ++i) {
          if (i == 2500) throw ChunkError("bad input " + std::to_string(i));
        }
        after_failure += end - begin;
      }, /*grain=*/10);
      FAIL() << "expected ChunkError";
    } catch (const ChunkError& e) {
      EXPECT_STREQ(e.what(), "bad input 2500");
    }
    EXPECT_LT(after_failure.load(), n);
  }
  // Two failing chunks: exactly one exception reaches the caller, whichever came first.
  EXPECT_THROW(pool.parallel_for(1000, [](size_t begin, size_t) {
    if (begin == 0 || begin >= 500) throw ChunkError("x");
  }, /*grain=*/10), ChunkError);
  std::atomic<size_t> sum{0};
  pool.parallel_for(1000, [&](size_t begin, size_t end) { sum += end - begin; });
  EXPECT_EQ(sum.load(), 1000u);
}

TEST(ThreadPool, ReusesItsThreadsAcrossManyCalls) {
  ThreadPool pool(3);
  std::mutex mutex;
  std::set<std::thread::id> threads;
  for (int call = 0; call < 2000; ++call) {
    std::vector<int> out(256, 0);
    pool.parallel_for(out.size(), [&](size_t begin, size_t end) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        threads.insert(std::this_thread::get_id());
      }
      for (size_t i = begin; i < end; ++i) out[i] = static_cast<int>(i) + call;
    });
    for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], static_cast<int>(i) + call) << call;
  }
  // Threads started per call would show up as new ids; a persistent pool has at most size() of them.
  EXPECT_LE(threads.size(), pool.size());
  EXPECT_EQ(&ThreadPool::shared(), &ThreadPool::shared());
  EXPECT_GE(ThreadPool::shared().size(), 1u);
}

// Two std::threads call parallel_for at once, and every chunk calls parallel_for again on the same pool.
void nested_concurrent_callers(ThreadPool& pool) {
  expect_finishes_within(std::chrono::seconds(60), [&pool] {
    std::atomic<size_t> total{0};
    auto caller = [&] {
      for (int call = 0; call < 50; ++call) {
        pool.parallel_for(64, [&](size_t begin, size_t end) {
          for (size_t i = begin; i < end; ++i) {
            pool.parallel_for(100, [&](size_t b, size_t e) { total += e - b; });
          }
        });
      }
    };
    std::thread a(caller), b(caller);
    a.join();
    b.join();
    EXPECT_EQ(total.load(), 2u * 50u * 64u * 100u);
  });
}

TEST(ThreadPool, NestedAndConcurrentCallersDoNotDeadlock) {
  ThreadPool two(2);
  nested_concurrent_callers(two);
  ThreadPool four(4);
  nested_concurrent_callers(four);
  nested_concurrent_callers(ThreadPool::shared());
}

}  // namespace
}  // namespace adapterbias
