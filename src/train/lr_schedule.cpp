#include "train/lr_schedule.h"

#include <cmath>
#include <numbers>

#include "core/error.h"

namespace dsv3 {

double LrSchedule::at(int64_t step) const {
  DSV3_CHECK(step >= 0 && warmup_steps >= 0 && lr >= 0 && min_lr_ratio >= 0 && min_lr_ratio <= 1,
             "lr schedule: invalid step ", step, " / warmup ", warmup_steps, " / lr ", lr, " / min_lr_ratio ",
             min_lr_ratio);
  if (step < warmup_steps) return lr * double(step + 1) / double(warmup_steps);
  const double min_lr = min_lr_ratio * lr;
  if (step >= total_steps) return min_lr;
  const double ratio = double(step - warmup_steps) / double(total_steps - warmup_steps);
  return min_lr + (lr - min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * ratio));
}

}  // namespace dsv3
