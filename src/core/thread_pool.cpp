#include "core/thread_pool.h"

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace dsv3 {

namespace {
thread_local bool t_inside_pool = false;
int g_requested_threads = 0;

std::pair<int64_t, int64_t> part(int64_t n, int64_t grain, int parts, int i) {
  int64_t chunks = (n + grain - 1) / grain;
  int64_t lo = chunks * i / parts, hi = chunks * (i + 1) / parts;
  return {std::min(n, lo * grain), std::min(n, hi * grain)};
}
}  // namespace

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < std::max(1, threads); ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  start_cv_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  t_inside_pool = true;
  for (;;) {
    std::unique_lock<std::mutex> lk(mu_);
    start_cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
    if (stop_) return;
    seen = generation_;
    const auto* fn = job_;
    auto [b, e] = part(job_n_, job_grain_, size(), index);
    lk.unlock();
    std::exception_ptr err;
    if (b < e) {
      try {
        (*fn)(b, e);
      } catch (...) {
        err = std::current_exception();
      }
    }
    lk.lock();
    if (err && !error_) error_ = err;
    if (--pending_ == 0) done_cv_.notify_one();
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t grain) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  if (workers_.empty() || t_inside_pool || n <= grain) {
    fn(0, n);
    return;
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    job_ = &fn;
    job_n_ = n;
    job_grain_ = grain;
    pending_ = int(workers_.size());
    error_ = nullptr;
    ++generation_;
  }
  start_cv_.notify_all();
  std::exception_ptr err;
  auto [b, e] = part(n, grain, size(), 0);
  t_inside_pool = true;
  try {
    if (b < e) fn(b, e);
  } catch (...) {
    err = std::current_exception();
  }
  t_inside_pool = false;
  std::unique_lock<std::mutex> lk(mu_);
  done_cv_.wait(lk, [&] { return pending_ == 0; });
  if (!err) err = error_;
  job_ = nullptr;
  lk.unlock();
  if (err) std::rethrow_exception(err);
}

void ThreadPool::set_global_threads(int threads) { g_requested_threads = threads; }

ThreadPool& ThreadPool::global() {
  static std::unique_ptr<ThreadPool> pool = [] {
    int n = g_requested_threads;
    if (const char* env = std::getenv("DSV3_THREADS")) n = std::atoi(env);
    if (n <= 0) n = int(std::thread::hardware_concurrency());
    return std::make_unique<ThreadPool>(std::max(1, n));
  }();
  return *pool;
}

}  // namespace dsv3
