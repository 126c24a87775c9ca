#include "core/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DSV3_PAUSE() _mm_pause()
#else
#define DSV3_PAUSE() std::this_thread::yield()
#endif

namespace dsv3 {

namespace {
thread_local bool t_inside_pool = false;
int g_requested_threads = 0;
constexpr int64_t kSpinMicros = 200;
// How long a caller done with its own part waits for a worker to claim its part before running
// it itself: far above a spinning worker's reaction (< 1 us), below a condvar wake-up.
constexpr int64_t kStealMicros = 30;

std::pair<int64_t, int64_t> part(int64_t n, int64_t grain, int parts, int i) {
  int64_t chunks = (n + grain - 1) / grain;
  int64_t lo = chunks * i / parts, hi = chunks * (i + 1) / parts;
  return {std::min(n, lo * grain), std::min(n, hi * grain)};
}

int64_t now_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

ThreadPool::ThreadPool(int threads, bool pin) : claims_(new std::atomic<uint64_t>[size_t(std::max(1, threads))]) {
  for (int i = 0; i < std::max(1, threads); ++i) claims_[size_t(i)].store(0);
  for (int i = 1; i < std::max(1, threads); ++i) workers_.emplace_back([this, i] { worker_loop(i); });
#if defined(__linux__)
  if (pin && !workers_.empty()) {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
      std::vector<int> cpus;
      for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
      pinned_ = !cpus.empty();
      for (size_t i = 0; i < workers_.size() && pinned_; ++i) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpus[(i + 1) % cpus.size()], &one);  // worker i+1 → CPU i+1; the caller keeps CPU 0's share
        pinned_ = pthread_setaffinity_np(workers_[i].native_handle(), sizeof(one), &one) == 0;
      }
    }
  }
#else
  (void)pin;
#endif
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_.store(true);
  }
  start_cv_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  t_inside_pool = true;
  for (;;) {
    // Spin briefly for the next job, then sleep until one arrives.
    const int64_t spin_until = now_micros() + kSpinMicros;
    int polls = 0;
    while (generation_.load(std::memory_order_acquire) == seen && !stop_.load(std::memory_order_relaxed)) {
      DSV3_PAUSE();
      if ((++polls & 63) == 0 && now_micros() > spin_until) {
        std::unique_lock<std::mutex> lk(mu_);
        sleeping_.fetch_add(1);  // seq_cst: pairs with the caller's bump-then-check
        start_cv_.wait(lk, [&] { return generation_.load() != seen || stop_.load(); });
        sleeping_.fetch_sub(1);
        break;
      }
    }
    if (stop_.load()) return;
    seen = generation_.load(std::memory_order_acquire);
    // Claim before reading the job: a failed claim means the caller ran this part (and the job
    // fields may already describe the next job).
    uint64_t expected = seen - 1;
    if (claims_[size_t(index)].compare_exchange_strong(expected, seen, std::memory_order_acq_rel)) run_part(index);
  }
}

void ThreadPool::run_part(int i) {
  auto [b, e] = part(job_n_, job_grain_, size(), i);
  if (b < e) {
    try {
      (*job_)(b, e);
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu_);
      if (!error_) error_ = std::current_exception();
    }
  }
  done_.fetch_add(1, std::memory_order_acq_rel);
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t grain) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  if (workers_.empty() || t_inside_pool || n <= grain) {
    fn(0, n);
    return;
  }
  job_ = &fn;
  job_n_ = n;
  job_grain_ = grain;
  error_ = nullptr;
  done_.store(0, std::memory_order_relaxed);
  const uint64_t g = generation_.fetch_add(1) + 1;  // seq_cst: publishes the job, then we look for sleepers
  if (sleeping_.load() > 0) {
    std::lock_guard<std::mutex> lk(mu_);
    start_cv_.notify_all();
  }
  const int parts = size();
  claims_[0].store(g, std::memory_order_relaxed);  // part 0 is always the caller's
  t_inside_pool = true;
  run_part(0);
  // Wait for the workers' parts; after kStealMicros run any part still unclaimed here.
  const int64_t waited_from = now_micros();
  bool stolen = false;
  for (int polls = 0; done_.load(std::memory_order_acquire) != parts; ++polls) {
    if (!stolen && (polls & 15) == 0 && now_micros() - waited_from >= kStealMicros) {
      stolen = true;
      for (int i = 1; i < parts; ++i) {
        uint64_t expected = g - 1;
        if (claims_[size_t(i)].compare_exchange_strong(expected, g, std::memory_order_acq_rel)) run_part(i);
      }
      continue;
    }
    if (polls < 4096) DSV3_PAUSE();
    else std::this_thread::yield();
  }
  t_inside_pool = false;
  job_ = nullptr;
  std::exception_ptr err;
  {
    std::lock_guard<std::mutex> lk(mu_);
    err = error_;
  }
  if (err) std::rethrow_exception(err);
}

void ThreadPool::set_global_threads(int threads) { g_requested_threads = threads; }

ThreadPool& ThreadPool::global() {
  static std::unique_ptr<ThreadPool> pool = [] {
    int n = g_requested_threads;
    if (const char* env = std::getenv("DSV3_THREADS")) n = std::atoi(env);
    if (n <= 0) n = int(std::thread::hardware_concurrency());
    const char* pin = std::getenv("DSV3_PIN");
    return std::make_unique<ThreadPool>(std::max(1, n), pin && std::strcmp(pin, "1") == 0);
  }();
  return *pool;
}

}  // namespace dsv3
