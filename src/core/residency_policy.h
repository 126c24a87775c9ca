// Where a model's weights live in memory: mapped from the files or copied into huge pages
// (core/mapped_file.h). DSV3_WEIGHTS_MEMORY=auto|mmap|copy picks; auto copies when the
// weights take at most half of the memory the kernel reports available.
#pragma once
#include <cstdint>

#include "core/mapped_file.h"

namespace dsv3 {

enum class ResidencyPolicy { kAuto, kMapped, kCopied };

// DSV3_WEIGHTS_MEMORY (unset or empty = auto); any other value throws Error naming it.
ResidencyPolicy residency_policy_from_env();

// MemAvailable of /proc/meminfo in bytes, 0 when unknown.
uint64_t available_memory_bytes();

// kAuto: kCopied when weight_bytes <= available_bytes / 2 (the rest stays for the KV cache,
// activations, the page cache and other processes), kMapped otherwise or when unknown (0).
Residency resolve_residency(ResidencyPolicy policy, uint64_t weight_bytes, uint64_t available_bytes);

}  // namespace dsv3
