#include "train/bias_update.h"

#include "core/error.h"

namespace dsv3 {

void bias_update(float* bias, const int64_t* load, int64_t E, float gamma) {
  DSV3_CHECK(E > 0 && gamma >= 0, "bias_update: bad E=", E, " or gamma=", gamma);
  int64_t total = 0;
  for (int64_t i = 0; i < E; ++i) {
    DSV3_CHECK(load[i] >= 0, "bias_update: negative load ", load[i], " for expert ", i);
    total += load[i];
  }
  for (int64_t i = 0; i < E; ++i) {
    const int64_t scaled = E * load[i];  // compare load_i with total / E without rounding
    if (scaled < total) bias[i] += gamma;
    else if (scaled > total) bias[i] -= gamma;
  }
}

}  // namespace dsv3
