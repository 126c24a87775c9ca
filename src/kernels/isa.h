// SIMD levels the kernels are compiled for, and which one this process uses.
// Each level is a superset of the previous one; kernels for a level live in their own
// translation unit under `#pragma GCC target`, so the project itself is built for plain
// x86-64 and picks a level at run time.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

namespace dsv3 {

enum class Isa : uint8_t {
  kScalar = 0,      // portable C++ (what the compiler makes of it for the base target)
  kAvx2 = 1,        // AVX2 + FMA + F16C
  kAvx512 = 2,      // + AVX-512 F/BW/VL/DQ
  kAvx512Vbmi = 3,  // + AVX-512 VBMI (byte permutes: table-driven FP8 decode)
};

// Best level this CPU (and OS) supports, ignoring DSV3_ISA.
Isa cpu_isa();
// cpu_isa() capped by the DSV3_ISA environment variable (scalar, avx2, avx512, avx512vbmi),
// read once. Unknown values are ignored; a level above the CPU's is capped to the CPU's.
Isa active_isa();
// Every level from kScalar up to cpu_isa() (what tests should exercise).
std::vector<Isa> supported_isas();
const char* isa_name(Isa isa);
// AVX-512 VNNI (vpdpbusd), used by the I8/I4 rows path at the AVX-512 levels when present.
bool cpu_has_avx512_vnni();
bool parse_isa(std::string_view s, Isa* out);

}  // namespace dsv3
