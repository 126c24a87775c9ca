#include "core/residency_policy.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "core/error.h"

namespace dsv3 {

ResidencyPolicy residency_policy_from_env() {
  const char* env = std::getenv("DSV3_WEIGHTS_MEMORY");
  const std::string v = env ? env : "";
  if (v.empty() || v == "auto") return ResidencyPolicy::kAuto;
  if (v == "mmap") return ResidencyPolicy::kMapped;
  if (v == "copy") return ResidencyPolicy::kCopied;
  fail("DSV3_WEIGHTS_MEMORY must be auto, mmap or copy, got '", v, "'");
}

uint64_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream fields(line.substr(13));
    uint64_t kb = 0;
    std::string unit;
    if (fields >> kb >> unit && unit == "kB") return kb * 1024;
    return 0;
  }
  return 0;
}

Residency resolve_residency(ResidencyPolicy policy, uint64_t weight_bytes, uint64_t available_bytes) {
  switch (policy) {
    case ResidencyPolicy::kMapped: return Residency::kMapped;
    case ResidencyPolicy::kCopied: return Residency::kCopied;
    case ResidencyPolicy::kAuto: break;
  }
  return available_bytes > 0 && weight_bytes <= available_bytes / 2 ? Residency::kCopied : Residency::kMapped;
}

}  // namespace dsv3
