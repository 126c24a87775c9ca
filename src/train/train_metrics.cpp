#include "train/train_metrics.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "format/safetensors.h"

namespace dsv3 {

nlohmann::json moe_layer_json(const MoeLayerMetrics& m) {
  const int64_t E = int64_t(m.load.size());
  int64_t used = 0, total = 0, mx = 0;
  for (int64_t l : m.load) {
    used += l > 0;
    total += l;
    mx = std::max(mx, l);
  }
  nlohmann::json j = {{"layer", m.layer},
                      {"entropy", m.entropy},
                      {"utilization", E ? double(used) / double(E) : 0.0},
                      {"max_load", mx},
                      {"mean_load", E ? double(total) / double(E) : 0.0}};
  if (!m.bias.empty()) {
    double sum = 0, sq = 0;
    float lo = m.bias[0], hi = m.bias[0];
    for (float b : m.bias) {
      sum += b;
      lo = std::min(lo, b);
      hi = std::max(hi, b);
    }
    const double mean = sum / double(m.bias.size());
    for (float b : m.bias) sq += (b - mean) * (b - mean);
    j["bias_mean"] = mean;
    j["bias_std"] = std::sqrt(sq / double(m.bias.size()));
    j["bias_min"] = lo;
    j["bias_max"] = hi;
  }
  return j;
}

MetricsLog::MetricsLog(const std::string& path, int64_t keep_through_step) : path_(path) {
  std::string kept;
  if (keep_through_step >= 0) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      try {
        const nlohmann::json j = nlohmann::json::parse(line);
        if (j.value("step", int64_t(-1)) <= keep_through_step) kept += line + "\n";
      } catch (const nlohmann::json::exception&) {
        break;  // a line torn by a kill: everything after it is newer than the checkpoint
      }
    }
  }
  write_file_atomic(path, kept);
  f_ = std::fopen(path.c_str(), "ab");
  DSV3_CHECK(f_, "cannot open ", path, " for appending: ", std::strerror(errno));
}

MetricsLog::~MetricsLog() {
  if (f_) std::fclose(f_);
}

void MetricsLog::write(const nlohmann::json& line) {
  const std::string s = line.dump() + "\n";
  DSV3_CHECK(std::fwrite(s.data(), 1, s.size(), f_) == s.size() && std::fflush(f_) == 0, "cannot write ", path_);
}

ProgressLine::ProgressLine(int64_t every) : tty_(::isatty(2)), every_(std::max<int64_t>(every, 1)) {}

void ProgressLine::update(int64_t step, int64_t total, double loss, double lr, double tokens_per_s, double eta_s) {
  if (!tty_ && step % every_ != 0 && step != total) return;
  char buf[256];
  std::snprintf(buf, sizeof buf, "step %lld/%lld  loss %.4f  lr %.3g  %.0f tok/s  eta %dm%02ds",
                static_cast<long long>(step), static_cast<long long>(total), loss, lr, tokens_per_s,
                int(eta_s) / 60, int(eta_s) % 60);
  if (tty_) {
    std::fprintf(stderr, "\r%s\033[K", buf);
    open_ = true;
  } else {
    std::fprintf(stderr, "%s\n", buf);
  }
  std::fflush(stderr);
}

void ProgressLine::message(const std::string& line) {
  if (open_) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
  open_ = false;
}

void ProgressLine::finish() {
  if (open_) std::fprintf(stderr, "\n");
  open_ = false;
}

}  // namespace dsv3
