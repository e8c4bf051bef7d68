#include "walk.h"
#include "simd.h"

#include <immintrin.h>
#include <sys/mman.h>

// GCC 12 reports its own AVX-512 intrinsics (their "undefined" pass-through operands) as used uninitialized when
// they are compiled through a target attribute rather than -mavx512f; a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>

namespace kite {

namespace {

// The kernels: L2 is sum((a - code * step)^2) with a = q - lo, IP is sum(a * code) with a = q * step. The addon is
// built for any x86-64, so the AVX2 and AVX-512 versions carry their own target attributes and are chosen at run
// time from what the CPU reports.

float l2Scalar(const float* a, const float* step, const uint8_t* code, size_t d) {
  float s = 0;
  for (size_t i = 0; i < d; ++i) {
    const float t = a[i] - static_cast<float>(code[i]) * step[i];
    s += t * t;
  }
  return s;
}

float dotScalar(const float* a, const uint8_t* code, size_t d) {
  float s = 0;
  for (size_t i = 0; i < d; ++i) s += a[i] * static_cast<float>(code[i]);
  return s;
}

__attribute__((target("avx2,fma"))) inline __m256 codes8(const uint8_t* c) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(c))));
}

__attribute__((target("avx2,fma"))) inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) float l2Avx2(const float* a, const float* step, const uint8_t* code, size_t d) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= d; i += 16) {
    const __m256 t0 = _mm256_fnmadd_ps(codes8(code + i), _mm256_loadu_ps(step + i), _mm256_loadu_ps(a + i));
    const __m256 t1 = _mm256_fnmadd_ps(codes8(code + i + 8), _mm256_loadu_ps(step + i + 8), _mm256_loadu_ps(a + i + 8));
    acc0 = _mm256_fmadd_ps(t0, t0, acc0);
    acc1 = _mm256_fmadd_ps(t1, t1, acc1);
  }
  for (; i + 8 <= d; i += 8) {
    const __m256 t0 = _mm256_fnmadd_ps(codes8(code + i), _mm256_loadu_ps(step + i), _mm256_loadu_ps(a + i));
    acc0 = _mm256_fmadd_ps(t0, t0, acc0);
  }
  float s = hsum256(_mm256_add_ps(acc0, acc1));
  for (; i < d; ++i) {
    const float t = a[i] - static_cast<float>(code[i]) * step[i];
    s += t * t;
  }
  return s;
}

__attribute__((target("avx2,fma"))) float dotAvx2(const float* a, const uint8_t* code, size_t d) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= d; i += 16) {
    acc0 = _mm256_fmadd_ps(codes8(code + i), _mm256_loadu_ps(a + i), acc0);
    acc1 = _mm256_fmadd_ps(codes8(code + i + 8), _mm256_loadu_ps(a + i + 8), acc1);
  }
  for (; i + 8 <= d; i += 8) acc0 = _mm256_fmadd_ps(codes8(code + i), _mm256_loadu_ps(a + i), acc0);
  float s = hsum256(_mm256_add_ps(acc0, acc1));
  for (; i < d; ++i) s += a[i] * static_cast<float>(code[i]);
  return s;
}

__attribute__((target("avx512f"))) inline __m512 codes16(const uint8_t* c) {
  return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c))));
}

// Sum of the 16 lanes.
__attribute__((target("avx512f"))) inline float hsum512(__m512 v) {
  const __m256 lo = _mm512_castps512_ps256(v);
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  __m256 s8 = _mm256_add_ps(lo, hi);
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

__attribute__((target("avx512f"))) float l2Avx512(const float* a, const float* step, const uint8_t* code, size_t d) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= d; i += 32) {
    const __m512 t0 = _mm512_fnmadd_ps(codes16(code + i), _mm512_loadu_ps(step + i), _mm512_loadu_ps(a + i));
    const __m512 t1 =
        _mm512_fnmadd_ps(codes16(code + i + 16), _mm512_loadu_ps(step + i + 16), _mm512_loadu_ps(a + i + 16));
    acc0 = _mm512_fmadd_ps(t0, t0, acc0);
    acc1 = _mm512_fmadd_ps(t1, t1, acc1);
  }
  for (; i + 16 <= d; i += 16) {
    const __m512 t0 = _mm512_fnmadd_ps(codes16(code + i), _mm512_loadu_ps(step + i), _mm512_loadu_ps(a + i));
    acc0 = _mm512_fmadd_ps(t0, t0, acc0);
  }
  float s = hsum512(_mm512_add_ps(acc0, acc1));
  for (; i < d; ++i) {
    const float t = a[i] - static_cast<float>(code[i]) * step[i];
    s += t * t;
  }
  return s;
}

__attribute__((target("avx512f"))) float dotAvx512(const float* a, const uint8_t* code, size_t d) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= d; i += 32) {
    acc0 = _mm512_fmadd_ps(codes16(code + i), _mm512_loadu_ps(a + i), acc0);
    acc1 = _mm512_fmadd_ps(codes16(code + i + 16), _mm512_loadu_ps(a + i + 16), acc1);
  }
  for (; i + 16 <= d; i += 16) acc0 = _mm512_fmadd_ps(codes16(code + i), _mm512_loadu_ps(a + i), acc0);
  float s = hsum512(_mm512_add_ps(acc0, acc1));
  for (; i < d; ++i) s += a[i] * static_cast<float>(code[i]);
  return s;
}

}  // namespace

namespace {
constexpr size_t kHugePage = size_t(2) << 20;

template <class T>
void moveVectorToHugePages(std::vector<T>& v, const void** last) {
  if (v.data() == *last || v.capacity() * sizeof(T) < 2 * kHugePage) return;
  std::vector<T> fresh;
  fresh.reserve(v.capacity());  // large enough for malloc to map it afresh, untouched
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(fresh.data()) + kHugePage - 1) / kHugePage * kHugePage;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(fresh.data()) + fresh.capacity() * sizeof(T)) / kHugePage * kHugePage;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
  fresh.assign(v.begin(), v.end());
  v.swap(fresh);
  *last = v.data();
}
}  // namespace

void moveToHugePages(std::vector<uint8_t>& v, const void** last) { moveVectorToHugePages(v, last); }
void moveToHugePages(std::vector<int32_t>& v, const void** last) { moveVectorToHugePages(v, last); }
void moveToHugePages(std::vector<size_t>& v, const void** last) { moveVectorToHugePages(v, last); }

HugePageBytes::~HugePageBytes() {
  if (p_ != nullptr) munmap(p_, cap_);
}

void HugePageBytes::resize(size_t n) {
  if (n <= cap_) {
    size_ = n;
    return;
  }
  const size_t want = std::max(n, 2 * cap_);
  // Small arrays (an index of a few thousand vectors) stay in 4 KB pages: a huge page would cost 2 MB each.
  const bool huge = want >= 2 * kHugePage;
  const size_t align = huge ? kHugePage : 4096;
  const size_t cap = (want + align - 1) / align * align;
  // Huge pages need 2 MB-aligned addresses: map one more than needed and keep the aligned part.
  const size_t extra = huge ? kHugePage : 0;
  void* raw = mmap(nullptr, cap + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + align - 1) / align * align;
  if (aligned > start) munmap(raw, aligned - start);
  if (start + extra > aligned) munmap(reinterpret_cast<void*>(aligned + cap), start + extra - aligned);
  auto* p = reinterpret_cast<uint8_t*>(aligned);
  if (huge) madvise(p, cap, MADV_HUGEPAGE);  // advice only: without transparent huge pages, 4 KB pages as before
  if (size_ > 0) std::memcpy(p, p_, size_);
  if (p_ != nullptr) munmap(p_, cap_);
  p_ = p;
  cap_ = cap;
  size_ = n;
}

void WalkCodes::update(const float* x, int64_t n, int dim) {
  if (dim != dim_ || n < rows_) {
    dim_ = dim;
    rows_ = 0;
  }
  if (l2_ == nullptr) {
    switch (cpuSimdLevel()) {
      case SimdLevel::AVX512: l2_ = l2Avx512; dot_ = dotAvx512; break;
      case SimdLevel::AVX2: l2_ = l2Avx2; dot_ = dotAvx2; break;
      default: l2_ = l2Scalar; dot_ = dotScalar; break;
    }
  }
  if (n == rows_) return;
  const size_t d = static_cast<size_t>(dim);
  bool rebuild = rows_ == 0;
  // Row by row, dimension by dimension (no division per value: this runs over every vector when an index loads).
  if (!rebuild) {
    for (size_t r = static_cast<size_t>(rows_); r < static_cast<size_t>(n) && !rebuild; ++r) {
      const float* row = x + r * d;
      for (size_t j = 0; j < d; ++j) {
        // Non-finite values are clamped to an end of the range instead.
        if (std::isfinite(row[j]) && (row[j] < lo_[j] || row[j] > lo_[j] + 255.0f * step_[j])) rebuild = true;
      }
    }
  }
  if (rebuild) {
    std::vector<float> lo(d, std::numeric_limits<float>::infinity()), hi(d, -std::numeric_limits<float>::infinity());
    for (size_t r = 0; r < static_cast<size_t>(n); ++r) {
      const float* row = x + r * d;
      for (size_t j = 0; j < d; ++j) {
        if (!std::isfinite(row[j])) continue;
        lo[j] = std::min(lo[j], row[j]);
        hi[j] = std::max(hi[j], row[j]);
      }
    }
    lo_.assign(d, 0.0f);
    step_.assign(d, 0.0f);
    for (size_t j = 0; j < d; ++j) {
      if (lo[j] > hi[j]) lo[j] = hi[j] = 0;  // no finite value in this dimension
      // An eighth of the span as headroom on each side, so rows added later rarely fall outside.
      const float span = hi[j] - lo[j];
      const float pad = std::max(span / 8, 1e-6f * std::max(1.0f, std::fabs(lo[j])));
      lo_[j] = lo[j] - pad;
      step_[j] = (span + 2 * pad) / 255.0f;
    }
    codes_.resize(static_cast<size_t>(n) * d);
    encode(x, 0, n);
  } else {
    codes_.resize(static_cast<size_t>(n) * d);
    encode(x, rows_, n);
  }
  rows_ = n;
}

void WalkCodes::encode(const float* x, int64_t from, int64_t to) {
  const size_t d = static_cast<size_t>(dim_);
  std::vector<float> inv(d);
  for (size_t j = 0; j < d; ++j) inv[j] = 1.0f / step_[j];
  for (size_t r = static_cast<size_t>(from); r < static_cast<size_t>(to); ++r) {
    const float* row = x + r * d;
    uint8_t* code = codes_.data() + r * d;
    for (size_t j = 0; j < d; ++j) {
      const float v = (row[j] - lo_[j]) * inv[j] + 0.5f;
      // NaN and values below the range become 0, +inf and values above it 255.
      code[j] = static_cast<uint8_t>(v >= 1.0f ? (v < 255.0f ? static_cast<int>(v) : 255) : 0);
    }
  }
}

void WalkCodes::prepare(const float* q, bool ip, Query& out) const {
  const size_t d = static_cast<size_t>(dim_);
  out.ip = ip;
  out.a.resize(d);
  out.c = 0;
  for (size_t j = 0; j < d; ++j) {
    if (ip) {
      out.a[j] = q[j] * step_[j];
      out.c += q[j] * lo_[j];
    } else {
      out.a[j] = q[j] - lo_[j];
    }
  }
}

}  // namespace kite
