// Training metrics: OUT/metrics.jsonl (one JSON object per line) and the live progress line.
//   {"type":"train","step":S,"loss","ce","mtp","balance","lr","grad_norm","tokens","tokens_per_s",
//    "elapsed_s","moe":[{"layer","entropy","utilization","max_load","mean_load",
//                        "bias_mean","bias_std","bias_min","bias_max"}, ...]}
//   {"type":"eval","step":S,"val_loss","val_ppl","val_tokens"}
// step counts completed optimizer steps (1 = after the first). Per MoE layer (main layers then
// MTP blocks, by Hugging Face layer index): loads are summed over the step's micro-batches;
// utilisation = fraction of experts with load > 0; entropy = mean over tokens of the router
// distribution's entropy (moe_grad.h); bias statistics after the step's bias update.
// Everything but tokens_per_s and elapsed_s is deterministic.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsv3 {

struct MoeLayerMetrics {
  int64_t layer = 0;
  std::vector<int64_t> load;  // [E] summed over the step
  double entropy = 0;         // mean over micro-batches
  std::vector<float> bias;    // e_score_correction_bias after the update (empty without one)
};

nlohmann::json moe_layer_json(const MoeLayerMetrics& m);

// Appends lines to OUT/metrics.jsonl. Opening keeps only the lines whose "step" is ≤
// keep_through_step (a resumed run drops what the killed run logged after its checkpoint);
// keep_through_step < 0 (a fresh run) starts an empty file. Rewritten atomically first.
class MetricsLog {
 public:
  MetricsLog(const std::string& path, int64_t keep_through_step);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  void write(const nlohmann::json& line);  // one line, flushed

 private:
  std::FILE* f_ = nullptr;
  std::string path_;
};

// The live progress line on stderr: rewritten in place (\r) on a terminal, otherwise one line
// every `every` steps.
class ProgressLine {
 public:
  explicit ProgressLine(int64_t every);
  void update(int64_t step, int64_t total, double loss, double lr, double tokens_per_s, double eta_s);
  void message(const std::string& line);  // a full line (eval results, checkpoints)
  void finish();

 private:
  bool tty_;
  int64_t every_;
  bool open_ = false;  // a \r line is showing
};

}  // namespace dsv3
