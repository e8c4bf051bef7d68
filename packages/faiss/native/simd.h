// The widest family of Kite's own distance kernels this CPU runs (the HNSW walk's code kernels, the HNSW build's
// float kernels): AVX-512F, else AVX2 with FMA, else the portable loops. Checked once, at the first call.
#pragma once

namespace kite {

enum class SimdLevel { GENERIC, AVX2, AVX512 };

inline SimdLevel cpuSimdLevel() {
  static const SimdLevel level = [] {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return SimdLevel::AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdLevel::AVX2;
#endif
    return SimdLevel::GENERIC;
  }();
  return level;
}

}  // namespace kite
