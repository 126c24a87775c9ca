// `dsv3 train`: the training loop (DeepSeek-V3 report sections 2.1.2, 2.2, 3.3, 4.2).
// One optimizer step:
//   1. working weights = the f32 masters rounded to the run's precision (train_precision.h);
//   2. grad_accum_steps micro-batches of batch_size sequences of seq_len + 1 tokens each, read
//      from the data position (token_shards.h), forward + backward (gradients add up), then
//      gradients × 1/grad_accum_steps (losses are the mean over micro-batches);
//   3. shared MTP embeddings (report 2.2): the MTP modules' embed_tokens / shared_head.head
//      gradients are added into the main embedding / lm_head ones (as if the tensors were one);
//   4. global-norm gradient clipping, AdamW at the warmup + cosine learning rate (the bias and,
//      when shared, the MTP copies are not optimizer parameters; no weight decay on norms);
//   5. MTP copies = the main embedding / lm_head again;
//   6. aux-loss-free balancing: every MoE layer's e_score_correction_bias moves by γ from the
//      expert loads summed over the step's micro-batches (bias_update.h, report 2.1.2).
// Deterministic: the same config gives the same losses bit for bit, and a run resumed from a
// checkpoint continues exactly as the uninterrupted run (the state is the master weights, the
// AdamW moments and step, the biases — inside the masters — and the data position). All work is
// single-threaded except the OpenBLAS GEMMs, whose results do not depend on the thread count for
// these shapes (checked by train_trainer_test; see docs/default_model.md).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "train/train_config.h"
#include "train/train_model.h"

namespace dsv3 {

struct TrainerOptions {
  bool require_resume = false;   // --resume: fail when OUT has no checkpoint
  int64_t stop_after_steps = -1; // tests: return after this many steps of this process (no final checkpoint)
  bool progress = true;          // the stderr progress line
};

struct StepRecord {
  int64_t step = 0;  // completed steps after this one
  LossValues loss;   // mean over the micro-batches (moe: per layer of the last micro-batch)
  double lr = 0, grad_norm = 0, tokens_per_s = 0;
};

class Trainer {
 public:
  // Opens the data, builds or loads the model, and resumes from OUT/latest when it exists
  // (auto-resume; with require_resume it must exist).
  Trainer(const TrainConfig& cfg, const TrainerOptions& opt = {});
  ~Trainer();

  // Trains up to total_steps (or stop_after_steps more), evaluating and checkpointing at their
  // intervals and at the end.
  void run();

  int64_t step() const;
  const ModelConfig& model_config() const;
  const ParamSet<float>& master() const;
  ParamSet<float>& master();  // to modify before run() (tests: skewed routing)
  const std::vector<StepRecord>& history() const;  // steps run by this object
  bool resumed() const;
  // Mean CE over eval_batches validation batches at the current weights.
  double evaluate();

  struct State;

 private:
  std::unique_ptr<State> s_;
};

}  // namespace dsv3
