#include "kernels/isa.h"

#include <cstdlib>

namespace dsv3 {

namespace {
Isa detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  // F16C has no __builtin_cpu_supports name in older compilers; every AVX2 CPU has it.
  if (!avx2) return Isa::kScalar;
  bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  if (!avx512) return Isa::kAvx2;
  if (!__builtin_cpu_supports("avx512vbmi")) return Isa::kAvx512;
  return Isa::kAvx512Vbmi;
#else
  return Isa::kScalar;
#endif
}
}  // namespace

Isa cpu_isa() {
  static const Isa isa = detect();
  return isa;
}

Isa active_isa() {
  static const Isa isa = [] {
    Isa best = cpu_isa(), want = best;
    if (const char* env = std::getenv("DSV3_ISA")) parse_isa(env, &want);
    return want < best ? want : best;
  }();
  return isa;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (int i = 0; i <= int(cpu_isa()); ++i) out.push_back(Isa(i));
  return out;
}

bool cpu_has_avx512_vnni() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool vnni = cpu_isa() >= Isa::kAvx512 && __builtin_cpu_supports("avx512vnni");
  return vnni;
#else
  return false;
#endif
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx512Vbmi: return "avx512vbmi";
  }
  return "?";
}

bool parse_isa(std::string_view s, Isa* out) {
  for (int i = 0; i <= int(Isa::kAvx512Vbmi); ++i)
    if (s == isa_name(Isa(i))) {
      *out = Isa(i);
      return true;
    }
  return false;
}

}  // namespace dsv3
