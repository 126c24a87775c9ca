// Named model configurations for `dsv3 init` (tests and benchmarks).
//   tiny:  a few hundred thousand parameters, every architectural feature switched on.
//   bench: DeepSeek-V3 proportions at 1/10 scale (issue #2): vocab 129280, hidden 2048,
//          9 layers (first dense), 16 heads, Rq 1536, Rkv 512, Dr 64, Dn 128, Dv 128,
//          64 routed experts top-8 in 8 groups choosing 4, 1 shared, F 512, dense 4608, YaRN ×40.
#pragma once
#include <string>
#include <vector>

#include "format/model_config.h"

namespace dsv3 {

std::vector<std::string> preset_names();
// Throws Error listing the known presets when `name` is unknown.
ModelConfig preset_config(const std::string& name, int64_t mtp_layers, bool fp8);

}  // namespace dsv3
