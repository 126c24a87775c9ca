// Fork-join pool of persistent workers. parallel_for splits [0, n) into one contiguous range
// per thread (the caller runs the first), so a matrix-vector product streams disjoint rows
// on every core with no per-step allocation. Nested calls run inline on the caller.
//
// Decode issues hundreds of small parallel_for calls per token, so wake-up latency matters:
// idle workers spin on an atomic generation counter for a short while (kSpinMicros) before
// sleeping on a condition variable; a condvar round trip costs 70-160 us on our VMs.
//
// Each part is claimed (one atomic per part) by whoever runs it. A caller done with its own
// part that still finds a part unclaimed after kStealMicros runs it itself: a worker that is
// asleep or has no CPU (more runnable threads than cores: a build, a second process) no longer
// stalls the job. Parts keep their bounds, so results do not depend on who ran them.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace dsv3 {

class ThreadPool {
 public:
  // pin: each worker is bound to one CPU of the process's allowed set (worker i to the i-th
  // allowed CPU, wrapping around); the calling thread is left alone, so threads it creates
  // later (HTTP, tokenizer) do not inherit a one-CPU mask. For a machine dsv3 has to itself:
  // no migrations, caches stay warm. Off by default (DSV3_PIN=1 turns it on for the global pool).
  explicit ThreadPool(int threads, bool pin = false);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return int(workers_.size()) + 1; }

  // fn(begin, end) over [0, n) in size() nearly equal parts, each a multiple of `grain`
  // except the last. Blocks until all parts are done; rethrows the first exception. Parts may
  // run one after another on one thread (the caller takes unclaimed ones), so a part must
  // never wait for another part of the same job.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t grain = 1);

  bool pinned() const { return pinned_; }

  // Process-wide pool; its size is DSV3_THREADS, else set_global_threads(), else all cores;
  // pinned when DSV3_PIN=1.
  static ThreadPool& global();
  static void set_global_threads(int threads);

 private:
  void worker_loop(int index);
  // Runs part i of the current job (claimed by the caller of this) and counts it done.
  void run_part(int i);

  std::vector<std::thread> workers_;
  std::mutex mu_;  // guards sleeping on start_cv_ and error_
  std::condition_variable start_cv_;
  // Job fields are written before generation_ is bumped (release); a worker reads them only
  // after claiming a part of that generation (so the job cannot have ended meanwhile).
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0, job_grain_ = 1;
  std::atomic<uint64_t> generation_{0};
  // claims_[i]: the generation whose part i was last claimed (every job claims every part,
  // so part i of job g is free exactly while claims_[i] == g - 1).
  std::unique_ptr<std::atomic<uint64_t>[]> claims_;
  std::atomic<int> done_{0};  // parts of the current job finished
  std::atomic<int> sleeping_{0};
  std::atomic<bool> stop_{false};
  std::exception_ptr error_;
  bool pinned_ = false;
};

}  // namespace dsv3
