// Learning-rate schedule: linear warmup, then cosine decay to min_lr_ratio·lr (as llm.c; the
// DeepSeek-V3 report section 4.2 uses warmup then cosine decay).
#pragma once
#include <cstdint>

namespace dsv3 {

struct LrSchedule {
  double lr = 3e-4;            // peak learning rate
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;     // the cosine reaches its minimum here
  double min_lr_ratio = 0.1;   // final learning rate = min_lr_ratio · lr

  // Learning rate of 0-based step `step`:
  //   step < warmup:          lr · (step + 1) / warmup
  //   warmup ≤ step < total:  min + (lr − min) · ½(1 + cos(π · (step − warmup) / (total − warmup)))
  //   step ≥ total:           min = min_lr_ratio · lr
  double at(int64_t step) const;
};

}  // namespace dsv3
