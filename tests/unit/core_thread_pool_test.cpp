// ThreadPool: every index of [0, n) visited exactly once for many n / grain / pool sizes,
// parts aligned to the grain, exceptions rethrown to the caller (pool still usable),
// nested calls run inline, and many back-to-back jobs (lost wake-ups would hang).
#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/thread_pool.h"

namespace dsv3 {
namespace {

TEST(ThreadPool, CoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t n : {0, 1, 2, 3, 7, 16, 64, 100, 1000, 1023})
      for (int64_t grain : {1, 3, 16, 64, 2000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<int> calls{0};
        std::mutex mu;
        std::vector<std::pair<int64_t, int64_t>> parts;
        pool.parallel_for(n, [&](int64_t b, int64_t e) {
          ++calls;
          {
            std::lock_guard<std::mutex> lk(mu);
            parts.emplace_back(b, e);
          }
          for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
        }, grain);
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[size_t(i)].load(), 1) << "n=" << n << " grain=" << grain << " i=" << i;
        EXPECT_LE(calls.load(), threads);
        if (n == 0) {
          EXPECT_EQ(calls.load(), 0);
        }
        for (auto [b, e] : parts) {
          EXPECT_LT(b, e);
          EXPECT_EQ(b % grain, 0) << "part start not on the grain";
          if (e != n) {
            EXPECT_EQ(e % grain, 0) << "only the last part may end off the grain";
          }
        }
      }
  }
}

// Every part waits (up to 10 s) until all `parts` have started: the caller cannot finish its
// own part and run a worker's unclaimed one, so each part runs on its own thread even on a
// loaded machine.
void wait_for_all(std::atomic<int>& started, int parts) {
  ++started;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (started.load() < parts && std::chrono::steady_clock::now() < until) std::this_thread::yield();
}

TEST(ThreadPool, UsesSeveralThreads) {
  ThreadPool pool(3);
  std::mutex mu;
  std::vector<std::thread::id> ids;
  std::atomic<int> started{0};
  pool.parallel_for(3, [&](int64_t, int64_t) {
    wait_for_all(started, 3);
    std::lock_guard<std::mutex> lk(mu);
    ids.push_back(std::this_thread::get_id());
  });
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_NE(ids[0], ids[1]);
  EXPECT_NE(ids[1], ids[2]);
  EXPECT_NE(ids[0], ids[2]);
}

// Pinned workers run on exactly one CPU each (when the process may use several); results are
// unchanged and the calling thread keeps its own mask.
TEST(ThreadPool, PinnedWorkersRunOnOneCpu) {
  cpu_set_t before;
  CPU_ZERO(&before);
  ASSERT_EQ(sched_getaffinity(0, sizeof(before), &before), 0);
  if (CPU_COUNT(&before) < 2) GTEST_SKIP() << "one CPU allowed";
  ThreadPool pool(2, true);
  EXPECT_TRUE(pool.pinned());
  std::atomic<int> worker_cpus{-1};
  std::atomic<int64_t> sum{0};
  std::atomic<int> started{0};
  pool.parallel_for(2, [&](int64_t b, int64_t e) {
    wait_for_all(started, 2);
    for (int64_t i = b; i < e; ++i) sum += i + 1;
    if (b == 1) {  // the worker's part
      cpu_set_t mine;
      CPU_ZERO(&mine);
      if (sched_getaffinity(0, sizeof(mine), &mine) == 0) worker_cpus = CPU_COUNT(&mine);
    }
  });
  EXPECT_EQ(sum.load(), 3);
  EXPECT_EQ(worker_cpus.load(), 1);
  cpu_set_t after;
  CPU_ZERO(&after);
  ASSERT_EQ(sched_getaffinity(0, sizeof(after), &after), 0);
  EXPECT_TRUE(CPU_EQUAL(&before, &after));
  EXPECT_FALSE(ThreadPool(2).pinned());
}

TEST(ThreadPool, RethrowsAndStaysUsable) {
  ThreadPool pool(3);
  for (int bad_part = 0; bad_part < 3; ++bad_part) {
    EXPECT_THROW(pool.parallel_for(300, [&](int64_t b, int64_t) {
      if (b / 100 == bad_part) throw std::runtime_error("boom");
    }, 100), std::runtime_error);
    std::atomic<int64_t> sum{0};
    pool.parallel_for(300, [&](int64_t b, int64_t e) { sum += e - b; }, 1);
    EXPECT_EQ(sum.load(), 300);
  }
  // All parts throwing: exactly one exception reaches the caller.
  EXPECT_THROW(pool.parallel_for(9, [](int64_t, int64_t) { throw std::logic_error("all"); }), std::logic_error);
}

TEST(ThreadPool, NestedCallsRunInline) {
  ThreadPool pool(2);
  std::vector<std::atomic<int>> hits(64 * 64);
  pool.parallel_for(64, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      pool.parallel_for(64, [&](int64_t b2, int64_t e2) {
        for (int64_t j = b2; j < e2; ++j) hits[size_t(i * 64 + j)]++;
      });
  });
  for (auto& h : hits) ASSERT_EQ(h.load(), 1);
}

TEST(ThreadPool, ManySmallJobs) {
  ThreadPool pool(2);
  std::atomic<int64_t> total{0};
  for (int rep = 0; rep < 20000; ++rep) pool.parallel_for(4, [&](int64_t b, int64_t e) { total += e - b; });
  EXPECT_EQ(total.load(), 20000 * 4);
}

// More threads than CPUs: workers confined with the caller to one CPU rarely get to run while
// the caller waits, so the caller runs their parts itself instead of waiting for a time slice.
// Every index is still covered once, with the same part bounds.
TEST(ThreadPool, CallerRunsPartsOfWorkersWithoutCpu) {
  cpu_set_t before;
  CPU_ZERO(&before);
  ASSERT_EQ(sched_getaffinity(0, sizeof(before), &before), 0);
  int cpu = -1;
  for (int c = 0; c < CPU_SETSIZE && cpu < 0; ++c)
    if (CPU_ISSET(c, &before)) cpu = c;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  if (sched_setaffinity(0, sizeof(one), &one) != 0) GTEST_SKIP() << "cannot set the CPU affinity";
  struct RestoreAffinity {  // also when an assertion below returns early
    cpu_set_t mask;
    ~RestoreAffinity() { sched_setaffinity(0, sizeof(mask), &mask); }
  } restore{before};
  int jobs_with_stolen_parts = 0;
  constexpr int kJobs = 400;
  {
    ThreadPool pool(4);  // workers inherit the one-CPU mask
    const std::thread::id caller = std::this_thread::get_id();
    for (int job = 0; job < kJobs; ++job) {
      std::vector<std::atomic<int>> hits(40);
      std::atomic<int> by_caller{0};
      std::mutex mu;
      std::vector<std::pair<int64_t, int64_t>> parts;
      pool.parallel_for(40, [&](int64_t b, int64_t e) {
        if (std::this_thread::get_id() == caller) ++by_caller;
        std::lock_guard<std::mutex> lk(mu);
        parts.emplace_back(b, e);
        for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
      });
      for (auto& h : hits) ASSERT_EQ(h.load(), 1);
      std::sort(parts.begin(), parts.end());
      ASSERT_EQ(parts, (std::vector<std::pair<int64_t, int64_t>>{{0, 10}, {10, 20}, {20, 30}, {30, 40}}));
      jobs_with_stolen_parts += by_caller.load() > 1;
    }
  }
  EXPECT_GT(jobs_with_stolen_parts, kJobs / 2);
}

TEST(ThreadPool, GlobalExists) {
  EXPECT_GE(ThreadPool::global().size(), 1);
  std::atomic<int64_t> total{0};
  ThreadPool::global().parallel_for(1000, [&](int64_t b, int64_t e) { total += e - b; }, 7);
  EXPECT_EQ(total.load(), 1000);
}

}  // namespace
}  // namespace dsv3
