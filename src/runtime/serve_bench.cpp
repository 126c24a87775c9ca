#include "runtime/serve_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>

#include "core/error.h"
#include "core/rng.h"

namespace dsv3 {

std::vector<ServeScenario> serve_scenarios() {
  return {
      {"short", {{64, 64}}, "64-token prompts, 64-token answers"},
      {"chat", {{256, 128}}, "256-token prompts, 128-token answers"},
      {"long-prompt", {{1024, 32}}, "1024-token prompts, 32-token answers (prefill-heavy)"},
      {"mixed", {{32, 128}, {256, 64}, {1024, 16}}, "uniform mix of 32/128, 256/64 and 1024/16"},
  };
}

const ServeScenario& find_serve_scenario(const std::string& name) {
  static const std::vector<ServeScenario> all = serve_scenarios();
  std::string names;
  for (const ServeScenario& s : all) {
    if (s.name == name) return s;
    names += (names.empty() ? "" : ", ") + s.name;
  }
  fail("unknown serving scenario '", name, "' (choose from ", names, ")");
}

Percentiles percentiles(std::vector<double> v) {
  Percentiles p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    const size_t rank = size_t(std::ceil(q * double(v.size())));
    return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
  };
  p.p50 = at(0.5);
  p.p90 = at(0.9);
  p.p99 = at(0.99);
  double s = 0;
  for (double x : v) s += x;
  p.mean = s / double(v.size());
  return p;
}

ServeBenchResult run_serve_bench(const Model& m, const ServeBenchOptions& opt) {
  using Clock = std::chrono::steady_clock;
  const ServeScenario& sc = find_serve_scenario(opt.scenario);
  DSV3_CHECK(opt.concurrency >= 1, "concurrency must be >= 1, got ", opt.concurrency);
  const int64_t n_req = opt.requests > 0 ? opt.requests : std::max<int64_t>(4, 2 * opt.concurrency);
  Rng rng(opt.seed);
  struct Job {
    std::vector<int32_t> prompt;
    int64_t out = 0;
    Clock::time_point submitted, last;
    std::vector<double> itl;
    double ttft = -1, e2e = 0;
    int64_t got = 0;
  };
  std::vector<Job> jobs(static_cast<size_t>(n_req));
  for (Job& j : jobs) {
    const auto& [p, o] = sc.mix[size_t(rng.next() % sc.mix.size())];
    j.prompt.resize(size_t(p));
    for (auto& t : j.prompt) t = int32_t(rng.next() % uint64_t(m.vocab_size()));
    j.out = o;
  }
  EngineOptions eo = opt.engine;
  eo.max_waiting = std::max(eo.max_waiting, n_req);
  eo.max_running = std::max(eo.max_running, opt.concurrency);
  Engine engine(m, eo);
  {  // warm-up: weights into the page cache, pool threads awake
    EngineRequest w;
    w.prompt.assign(16, 1);
    w.max_new_tokens = 4;
    w.sampling.temperature = 0;
    engine.submit(w, [](const TokenEvent&) { return true; });
    engine.run_until_idle();
  }
  const EngineStats stats0 = engine.stats();
  std::mutex mu;
  std::condition_variable cv;
  int64_t next = 0, done = 0;
  std::string error;
  std::function<void()> submit_next;  // called with mu held
  submit_next = [&] {
    Job& j = jobs[size_t(next++)];
    EngineRequest r;
    r.prompt = j.prompt;
    r.max_new_tokens = j.out;
    r.sampling.temperature = 0;
    j.submitted = Clock::now();
    engine.submit(std::move(r), [&, jp = &j](const TokenEvent& ev) {
      const auto now = Clock::now();
      std::lock_guard<std::mutex> lk(mu);
      if (ev.token >= 0) {
        if (jp->got == 0) jp->ttft = std::chrono::duration<double>(now - jp->submitted).count();
        else jp->itl.push_back(std::chrono::duration<double>(now - jp->last).count());
        jp->last = now;
        ++jp->got;
      }
      if (ev.finished) {
        if (ev.finish_reason != "length" && error.empty()) error = "a request ended with " + ev.finish_reason + " " + ev.error;
        jp->e2e = std::chrono::duration<double>(now - jp->submitted).count();
        ++done;
        if (next < n_req) submit_next();
        cv.notify_all();
      }
      return true;
    });
  };
  const auto t0 = Clock::now();
  engine.start();
  {
    std::unique_lock<std::mutex> lk(mu);
    while (next < std::min(n_req, opt.concurrency)) submit_next();
    cv.wait(lk, [&] { return done == n_req; });
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  DSV3_CHECK(error.empty(), "bench serve: ", error);

  ServeBenchResult r;
  r.scenario = sc.name;
  r.concurrency = opt.concurrency;
  r.requests = n_req;
  r.seconds = secs;
  std::vector<double> ttft, itl, e2e;
  for (const Job& j : jobs) {
    r.prompt_tokens += int64_t(j.prompt.size());
    r.output_tokens += j.got;
    ttft.push_back(j.ttft);
    e2e.push_back(j.e2e);
    itl.insert(itl.end(), j.itl.begin(), j.itl.end());
  }
  r.output_tokens_per_s = double(r.output_tokens) / secs;
  r.requests_per_s = double(n_req) / secs;
  r.ttft_s = percentiles(ttft);
  r.itl_s = percentiles(itl);
  r.e2e_s = percentiles(e2e);
  const EngineStats stats1 = engine.stats();
  r.preemptions = stats1.preemptions - stats0.preemptions;
  r.spec_drafted = stats1.spec_drafted - stats0.spec_drafted;
  r.spec_accepted = stats1.spec_accepted - stats0.spec_accepted;
  return r;
}

}  // namespace dsv3
