// Kite's HNSW insertion loop over faiss's graph structure (see hnsw-build.h).
//
// The algorithm is faiss 1.7.3's (impl/HNSW.cpp, hnsw_add_vertices in IndexHNSW.cpp): the same random levels
// (hnsw.rng through HNSW::prepare_level_tab), the same insertion order (buckets by level, highest first, each
// shuffled with RandomGenerator(789)), a greedy descent through the levels above the new node's, then per level a
// beam search of efConstruction (faiss's search_neighbors_to_add: stop when the nearest unexpanded candidate is
// farther than the farthest result), the neighbour-selection heuristic (faiss's shrink_neighbor_list: nearest
// first, keep a candidate unless a kept one is closer to it than the new node is) down to nb_neighbors(level)
// links, and a reverse link from each selected neighbour, shrunk by the same heuristic when that list is full.
// One deliberate difference: each level's search starts from the nearest node the level above found (as in the
// HNSW paper and hnswlib), where faiss starts every level from the greedy descent's result.
//
// What makes it cheaper than faiss's loop (the profile of faiss's add on 100k x 128: 56% in fvec_L2sqr, most of it
// waiting on the vector's cache lines, 21% in the search loop, 7% in the non-inlined neighbor_range, 8% in
// std::priority_queue):
// - a node's unvisited neighbours are listed first, with a prefetch of each one's vector and of its offsets entry,
//   then their distances are computed four at a time (the query's lines loaded once for four vectors), so the
//   memory loads overlap instead of each distance waiting for its own;
// - distance kernels for AVX-512 and AVX2+FMA chosen at run time from the CPU (the addon itself is compiled for
//   baseline x86-64; faiss 1.7.3's AVX2 loop has one accumulator and no FMA), with a portable fallback;
// - flat binary heaps of (distance, id) pairs and per-thread visited marks by epoch (no clearing per search);
// - the distance from a node to each of its neighbours is kept beside the graph during the add, so a full
//   neighbour list that must be shrunk does not recompute them;
// - a node's lock is held only while its own list is written (faiss holds the new node's lock through its whole
//   insertion); readers walk lists without locks, as faiss's do, with atomic loads and stores of the ids.
#include "hnsw-build.h"
#include "simd.h"

#include <faiss/IndexFlat.h>
#include <faiss/impl/FaissAssert.h>
#include <faiss/utils/random.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace kite {

namespace {

using Id = faiss::HNSW::storage_idx_t;

// ---- distance kernels: L2 squared, or the negated inner product (faiss walks inner product on its negation) ----

struct Kernel {
  const char* name;
  float (*one)(const float* a, const float* b, size_t d);
  // out[i] = distance(q, y[i]) for i < 4
  void (*four)(const float* q, const float* const* y, size_t d, float* out);
};

template <bool IP>
float oneGeneric(const float* a, const float* b, size_t d) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= d; i += 4) {
    if (IP) {
      s0 += a[i] * b[i];
      s1 += a[i + 1] * b[i + 1];
      s2 += a[i + 2] * b[i + 2];
      s3 += a[i + 3] * b[i + 3];
    } else {
      const float t0 = a[i] - b[i], t1 = a[i + 1] - b[i + 1], t2 = a[i + 2] - b[i + 2], t3 = a[i + 3] - b[i + 3];
      s0 += t0 * t0;
      s1 += t1 * t1;
      s2 += t2 * t2;
      s3 += t3 * t3;
    }
  }
  for (; i < d; ++i) {
    if (IP) {
      s0 += a[i] * b[i];
    } else {
      const float t = a[i] - b[i];
      s0 += t * t;
    }
  }
  const float s = (s0 + s1) + (s2 + s3);
  return IP ? -s : s;
}

template <bool IP>
void fourGeneric(const float* q, const float* const* y, size_t d, float* out) {
  for (int i = 0; i < 4; ++i) out[i] = oneGeneric<IP>(q, y[i], d);
}

#if defined(__x86_64__) || defined(__i386__)
#define KITE_HNSW_X86 1

__attribute__((target("avx2,fma"))) inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

template <bool IP>
__attribute__((target("avx2,fma"))) inline __m256 acc256(__m256 acc, __m256 x, __m256 y) {
  if (IP) return _mm256_fmadd_ps(x, y, acc);
  const __m256 t = _mm256_sub_ps(x, y);
  return _mm256_fmadd_ps(t, t, acc);
}

template <bool IP>
__attribute__((target("avx2,fma"))) float oneAvx2(const float* a, const float* b, size_t d) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= d; i += 16) {
    s0 = acc256<IP>(s0, _mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    s1 = acc256<IP>(s1, _mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
  }
  if (i + 8 <= d) {
    s0 = acc256<IP>(s0, _mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    i += 8;
  }
  float s = hsum256(_mm256_add_ps(s0, s1));
  for (; i < d; ++i) {
    if (IP) {
      s += a[i] * b[i];
    } else {
      const float t = a[i] - b[i];
      s += t * t;
    }
  }
  return IP ? -s : s;
}

template <bool IP>
__attribute__((target("avx2,fma"))) void fourAvx2(const float* q, const float* const* y, size_t d, float* out) {
  const float *y0 = y[0], *y1 = y[1], *y2 = y[2], *y3 = y[3];
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= d; i += 8) {
    const __m256 x = _mm256_loadu_ps(q + i);
    s0 = acc256<IP>(s0, x, _mm256_loadu_ps(y0 + i));
    s1 = acc256<IP>(s1, x, _mm256_loadu_ps(y1 + i));
    s2 = acc256<IP>(s2, x, _mm256_loadu_ps(y2 + i));
    s3 = acc256<IP>(s3, x, _mm256_loadu_ps(y3 + i));
  }
  float r[4] = {hsum256(s0), hsum256(s1), hsum256(s2), hsum256(s3)};
  for (; i < d; ++i) {
    for (int j = 0; j < 4; ++j) {
      if (IP) {
        r[j] += q[i] * y[j][i];
      } else {
        const float t = q[i] - y[j][i];
        r[j] += t * t;
      }
    }
  }
  for (int j = 0; j < 4; ++j) out[j] = IP ? -r[j] : r[j];
}

// GCC 12's AVX-512 headers trip -Wuninitialized on their own _mm*_undefined_* placeholders (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// Sum of the 16 lanes.
__attribute__((target("avx512f"))) inline float hsum512(__m512 v) {
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  __m128 s = _mm512_castps512_ps128(v);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

template <bool IP>
__attribute__((target("avx512f"))) inline __m512 acc512(__m512 acc, __m512 x, __m512 y) {
  if (IP) return _mm512_fmadd_ps(x, y, acc);
  const __m512 t = _mm512_sub_ps(x, y);
  return _mm512_fmadd_ps(t, t, acc);
}

template <bool IP>
__attribute__((target("avx512f"))) float oneAvx512(const float* a, const float* b, size_t d) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= d; i += 32) {
    s0 = acc512<IP>(s0, _mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    s1 = acc512<IP>(s1, _mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
  }
  if (i + 16 <= d) {
    s0 = acc512<IP>(s0, _mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    i += 16;
  }
  if (i < d) {
    const __mmask16 m = static_cast<__mmask16>((1u << (d - i)) - 1);
    s1 = acc512<IP>(s1, _mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
  }
  const float s = hsum512(_mm512_add_ps(s0, s1));
  return IP ? -s : s;
}

template <bool IP>
__attribute__((target("avx512f"))) void fourAvx512(const float* q, const float* const* y, size_t d, float* out) {
  const float *y0 = y[0], *y1 = y[1], *y2 = y[2], *y3 = y[3];
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= d; i += 16) {
    const __m512 x = _mm512_loadu_ps(q + i);
    s0 = acc512<IP>(s0, x, _mm512_loadu_ps(y0 + i));
    s1 = acc512<IP>(s1, x, _mm512_loadu_ps(y1 + i));
    s2 = acc512<IP>(s2, x, _mm512_loadu_ps(y2 + i));
    s3 = acc512<IP>(s3, x, _mm512_loadu_ps(y3 + i));
  }
  if (i < d) {
    const __mmask16 m = static_cast<__mmask16>((1u << (d - i)) - 1);
    const __m512 x = _mm512_maskz_loadu_ps(m, q + i);
    s0 = acc512<IP>(s0, x, _mm512_maskz_loadu_ps(m, y0 + i));
    s1 = acc512<IP>(s1, x, _mm512_maskz_loadu_ps(m, y1 + i));
    s2 = acc512<IP>(s2, x, _mm512_maskz_loadu_ps(m, y2 + i));
    s3 = acc512<IP>(s3, x, _mm512_maskz_loadu_ps(m, y3 + i));
  }
  const float r0 = hsum512(s0), r1 = hsum512(s1), r2 = hsum512(s2),
              r3 = hsum512(s3);
  out[0] = IP ? -r0 : r0;
  out[1] = IP ? -r1 : r1;
  out[2] = IP ? -r2 : r2;
  out[3] = IP ? -r3 : r3;
}
#pragma GCC diagnostic pop
#endif

using Simd = SimdLevel;

bool parseSimd(const std::string& v, Simd* out) {
  if (v == "auto" || v == "avx512") *out = Simd::AVX512;
  else if (v == "avx2") *out = Simd::AVX2;
  else if (v == "generic") *out = Simd::GENERIC;
  else return false;
  return true;
}

Simd capped(Simd cap) {
  const Simd s = cpuSimdLevel();
  return static_cast<int>(s) < static_cast<int>(cap) ? s : cap;
}

Kernel kernelFor(Simd s, bool ip) {
#ifdef KITE_HNSW_X86
  if (s == Simd::AVX512) {
    return ip ? Kernel{"avx512", oneAvx512<true>, fourAvx512<true>} : Kernel{"avx512", oneAvx512<false>, fourAvx512<false>};
  }
  if (s == Simd::AVX2) {
    return ip ? Kernel{"avx2", oneAvx2<true>, fourAvx2<true>} : Kernel{"avx2", oneAvx2<false>, fourAvx2<false>};
  }
#endif
  return ip ? Kernel{"generic", oneGeneric<true>, fourGeneric<true>}
            : Kernel{"generic", oneGeneric<false>, fourGeneric<false>};
}

inline void cpuRelax() {
#ifdef KITE_HNSW_X86
  _mm_pause();
#endif
}

// One byte per node; held only while that node's neighbour list is rewritten (a few microseconds at most).
class NodeLocks {
 public:
  explicit NodeLocks(size_t n) : locks_(new std::atomic<uint8_t>[n]) {
    for (size_t i = 0; i < n; ++i) locks_[i].store(0, std::memory_order_relaxed);
  }
  void lock(size_t i) {
    std::atomic<uint8_t>& l = locks_[i];
    for (unsigned spins = 0; l.exchange(1, std::memory_order_acquire) != 0;) {
      while (l.load(std::memory_order_relaxed) != 0) {
        if (++spins < 1024) cpuRelax();
        else std::this_thread::yield();
      }
    }
  }
  void unlock(size_t i) { locks_[i].store(0, std::memory_order_release); }

 private:
  std::unique_ptr<std::atomic<uint8_t>[]> locks_;
};

// Visited marks by epoch: begin() makes every node unvisited without touching the array (except once in 255
// searches). One byte per node keeps the array small enough to stay in cache (the marks are read at random).
class Visited {
 public:
  explicit Visited(size_t n) : marks_(n, 0) {}
  void begin() {
    if (++epoch_ == 0) {
      std::fill(marks_.begin(), marks_.end(), 0);
      epoch_ = 1;
    }
  }
  // True when `i` was already visited; marks it.
  bool testAndSet(size_t i) {
    if (marks_[i] == epoch_) return true;
    marks_[i] = epoch_;
    return false;
  }

 private:
  std::vector<uint8_t> marks_;
  uint8_t epoch_ = 0;
};

struct Hit {
  float d;
  Id id;
};
// Function objects (not function pointers) so that the heap and sort templates inline the comparison.
struct FartherFirst {  // max-heap: farthest on top; sort: nearest first
  bool operator()(const Hit& a, const Hit& b) const { return a.d < b.d; }
};
struct NearerFirst {  // min-heap: nearest on top
  bool operator()(const Hit& a, const Hit& b) const { return a.d > b.d; }
};
constexpr FartherFirst fartherFirst{};
constexpr NearerFirst nearerFirst{};

inline Id loadId(const Id* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
inline void storeId(Id* p, Id v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

class Builder {
 public:
  Builder(faiss::HNSW& g, const float* xb, size_t d, size_t ntotal, const Kernel& kernel)
      : g_(g),
        xb_(xb),
        d_(d),
        vecBytes_(d * sizeof(float)),
        ntotal_(ntotal),
        k_(kernel),
        efC_(std::max(1, g.efConstruction)),
        linkDist_(g.neighbors.size(), std::numeric_limits<float>::quiet_NaN()),
        locks_(ntotal) {}

  // One thread's scratch space.
  struct Scratch {
    explicit Scratch(size_t n) : visited(n) {}
    Visited visited;
    std::vector<Hit> candidates;  // min-heap
    std::vector<Hit> results;     // max-heap, at most efConstruction
    std::vector<Id> fresh;
    std::vector<float> freshD;
    std::vector<Hit> selected;
    std::vector<Hit> pool;  // a full list's members and the newcomer, while it is shrunk
    std::vector<Hit> kept;  // what the shrink keeps of `pool`
  };

  void insert(Scratch& s, Id pt, int ptLevel) {
    const float* q = vec(pt);
    Id nearest;
    int maxLevel;
    {
      std::lock_guard<std::mutex> lk(entryMu_);
      nearest = g_.entry_point;
      maxLevel = g_.max_level;
      if (nearest < 0) {
        g_.max_level = ptLevel;
        g_.entry_point = pt;
        return;
      }
    }
    float dNearest = k_.one(q, vec(nearest), d_);
    int level = maxLevel;
    for (; level > ptLevel; --level) greedy(s, q, level, nearest, dNearest);
    for (; level >= 0; --level) {
      searchLevel(s, q, nearest, dNearest, level);
      // The next level starts from the nearest node this one found.
      for (const Hit& h : s.results) {
        if (h.d < dNearest) {
          dNearest = h.d;
          nearest = h.id;
        }
      }
      select(s.results, static_cast<size_t>(g_.nb_neighbors(level)), s.selected);
      locks_.lock(static_cast<size_t>(pt));
      for (const Hit& h : s.selected) addLink(s, pt, h.id, h.d, level);
      locks_.unlock(static_cast<size_t>(pt));
      for (const Hit& h : s.selected) {
        locks_.lock(static_cast<size_t>(h.id));
        addLink(s, h.id, pt, h.d, level);
        locks_.unlock(static_cast<size_t>(h.id));
      }
    }
    std::lock_guard<std::mutex> lk(entryMu_);
    if (ptLevel > g_.max_level) {
      g_.max_level = ptLevel;
      g_.entry_point = pt;
    }
  }

 private:
  const float* vec(Id i) const { return xb_ + static_cast<size_t>(i) * d_; }

  void prefetchVec(Id i) const {
    const char* p = reinterpret_cast<const char*>(vec(i));
    for (size_t o = 0; o < vecBytes_; o += 64) __builtin_prefetch(p + o);
  }

  void range(Id node, int level, size_t* begin, size_t* end) const {
    const size_t o = g_.offsets[static_cast<size_t>(node)];
    *begin = o + static_cast<size_t>(g_.cum_nneighbor_per_level[level]);
    *end = o + static_cast<size_t>(g_.cum_nneighbor_per_level[level + 1]);
  }

  // s.freshD[i] = distance(q, s.fresh[i]), four at a time.
  void distances(Scratch& s, const float* q) const {
    const size_t m = s.fresh.size();
    s.freshD.resize(m);
    size_t i = 0;
    for (; i + 4 <= m; i += 4) {
      const float* y[4] = {vec(s.fresh[i]), vec(s.fresh[i + 1]), vec(s.fresh[i + 2]), vec(s.fresh[i + 3])};
      k_.four(q, y, d_, &s.freshD[i]);
    }
    for (; i < m; ++i) s.freshD[i] = k_.one(q, vec(s.fresh[i]), d_);
  }

  // faiss's greedy_update_nearest: move to the nearest neighbour until none is nearer.
  void greedy(Scratch& s, const float* q, int level, Id& nearest, float& dNearest) const {
    for (;;) {
      const Id from = nearest;
      size_t begin, end;
      range(from, level, &begin, &end);
      s.fresh.clear();
      for (size_t j = begin; j < end; ++j) {
        const Id v = loadId(&g_.neighbors[j]);
        if (v < 0) break;
        prefetchVec(v);
        s.fresh.push_back(v);
      }
      distances(s, q);
      for (size_t i = 0; i < s.fresh.size(); ++i) {
        if (s.freshD[i] < dNearest) {
          dNearest = s.freshD[i];
          nearest = s.fresh[i];
        }
      }
      if (nearest == from) return;
    }
  }

  // faiss's search_neighbors_to_add: beam search of efConstruction at one level; leaves the results in s.results.
  void searchLevel(Scratch& s, const float* q, Id entry, float dEntry, int level) const {
    s.visited.begin();
    s.candidates.clear();
    s.results.clear();
    s.candidates.push_back({dEntry, entry});
    s.results.push_back({dEntry, entry});
    s.visited.testAndSet(static_cast<size_t>(entry));
    const size_t ef = static_cast<size_t>(efC_);
    const size_t levelBegin = static_cast<size_t>(g_.cum_nneighbor_per_level[level]);
    while (!s.candidates.empty()) {
      const Hit cur = s.candidates.front();
      if (cur.d > s.results.front().d) break;
      std::pop_heap(s.candidates.begin(), s.candidates.end(), nearerFirst);
      s.candidates.pop_back();

      size_t begin, end;
      range(cur.id, level, &begin, &end);
      s.fresh.clear();
      for (size_t j = begin; j < end; ++j) {
        const Id v = loadId(&g_.neighbors[j]);
        if (v < 0) break;
        if (s.visited.testAndSet(static_cast<size_t>(v))) continue;
        prefetchVec(v);
        __builtin_prefetch(&g_.offsets[static_cast<size_t>(v)]);
        s.fresh.push_back(v);
      }
      distances(s, q);
      for (size_t i = 0; i < s.fresh.size(); ++i) {
        const float d = s.freshD[i];
        if (s.results.size() < ef || s.results.front().d > d) {
          const Id v = s.fresh[i];
          s.results.push_back({d, v});
          std::push_heap(s.results.begin(), s.results.end(), fartherFirst);
          s.candidates.push_back({d, v});
          std::push_heap(s.candidates.begin(), s.candidates.end(), nearerFirst);
          __builtin_prefetch(&g_.neighbors[g_.offsets[static_cast<size_t>(v)] + levelBegin]);
          if (s.results.size() > ef) {
            std::pop_heap(s.results.begin(), s.results.end(), fartherFirst);
            s.results.pop_back();
          }
        }
      }
    }
  }

  // faiss's shrink_neighbor_list: fewer than maxSize candidates are all kept; otherwise nearest first, a candidate
  // is kept unless a kept one is closer to it than the node the list belongs to, until maxSize are kept. `in` is
  // reordered.
  void select(std::vector<Hit>& in, size_t maxSize, std::vector<Hit>& out) const {
    out.clear();
    if (in.size() < maxSize) {
      out.assign(in.begin(), in.end());
      return;
    }
    std::sort(in.begin(), in.end(), fartherFirst);
    if (in.size() > 1) prefetchVec(in[1].id);
    for (size_t c = 0; c < in.size(); ++c) {
      if (c + 2 < in.size()) prefetchVec(in[c + 2].id);
      const Hit& cand = in[c];
      const float* cv = vec(cand.id);
      bool good = true;
      size_t j = 0;
      // The nearest kept node rejects most candidates, so it is tried alone before batches of four.
      if (!out.empty()) {
        good = k_.one(cv, vec(out[0].id), d_) >= cand.d;
        j = 1;
      }
      for (; good && j + 4 <= out.size(); j += 4) {
        const float* y[4] = {vec(out[j].id), vec(out[j + 1].id), vec(out[j + 2].id), vec(out[j + 3].id)};
        float dd[4];
        k_.four(cv, y, d_, dd);
        good = dd[0] >= cand.d && dd[1] >= cand.d && dd[2] >= cand.d && dd[3] >= cand.d;
      }
      for (; good && j < out.size(); ++j) good = k_.one(cv, vec(out[j].id), d_) >= cand.d;
      if (good) {
        out.push_back(cand);
        if (out.size() >= maxSize) return;
      }
    }
  }

  // faiss's add_link: append `dest` to src's list at `level`, or when it is full, shrink the list plus `dest` with
  // the heuristic. The caller holds src's lock.
  void addLink(Scratch& s, Id src, Id dest, float dDest, int level) {
    size_t begin, end;
    range(src, level, &begin, &end);
    Id* nb = g_.neighbors.data();
    if (nb[end - 1] == -1) {
      size_t i = end;
      while (i > begin && nb[i - 1] == -1) --i;
      linkDist_[i] = dDest;
      storeId(&nb[i], dest);
      return;
    }
    s.pool.clear();
    s.pool.push_back({dDest, dest});
    const float* sv = vec(src);
    for (size_t i = begin; i < end; ++i) {
      const Id v = nb[i];
      prefetchVec(v);
      float dv = linkDist_[i];
      if (std::isnan(dv)) dv = linkDist_[i] = k_.one(sv, vec(v), d_);  // a link made before this add
      s.pool.push_back({dv, v});
    }
    select(s.pool, end - begin, s.kept);
    size_t i = begin;
    for (const Hit& h : s.kept) {
      linkDist_[i] = h.d;
      storeId(&nb[i++], h.id);
    }
    for (; i < end; ++i) storeId(&nb[i], -1);
  }

  faiss::HNSW& g_;
  const float* xb_;
  size_t d_;
  size_t vecBytes_;
  size_t ntotal_;
  Kernel k_;
  int efC_;
  std::vector<float> linkDist_;  // beside g_.neighbors: distance from the list's owner to that neighbour; NaN unknown
  NodeLocks locks_;
  std::mutex entryMu_;
};

}  // namespace

namespace {

struct SettingsState {
  std::mutex mu;
  std::string builder = "kite";
  std::string simd = "auto";
  std::string error;
};

SettingsState& settingsState() {
  static SettingsState* st = [] {
    auto* s = new SettingsState();
    const char* b = std::getenv("KITE_FAISS_HNSW_BUILD");
    const char* v = std::getenv("KITE_FAISS_HNSW_SIMD");
    Simd ignored;
    if (b && *b) {
      if (std::string(b) == "kite" || std::string(b) == "faiss") s->builder = b;
      else s->error = std::string("KITE_FAISS_HNSW_BUILD must be kite or faiss, got \"") + b + "\"";
    }
    if (v && *v) {
      if (parseSimd(v, &ignored)) s->simd = v;
      else if (s->error.empty()) {
        s->error = std::string("KITE_FAISS_HNSW_SIMD must be auto, avx512, avx2 or generic, got \"") + v + "\"";
      }
    }
    return s;
  }();
  return *st;
}

}  // namespace

HnswBuildSettings hnswBuildSettings() {
  SettingsState& st = settingsState();
  std::lock_guard<std::mutex> lk(st.mu);
  Simd cap = Simd::AVX512;
  parseSimd(st.simd, &cap);
  return {st.builder, st.simd, kernelFor(capped(cap), false).name, st.error};
}

void setHnswBuildSettings(const std::string& builder, const std::string& simd) {
  if (builder != "kite" && builder != "faiss") {
    throw std::invalid_argument("HNSW builder must be kite or faiss, got \"" + builder + "\"");
  }
  Simd ignored;
  if (!parseSimd(simd, &ignored)) {
    throw std::invalid_argument("HNSW build simd must be auto, avx512, avx2 or generic, got \"" + simd + "\"");
  }
  SettingsState& st = settingsState();
  std::lock_guard<std::mutex> lk(st.mu);
  st.builder = builder;
  st.simd = simd;
  st.error.clear();
}

void hnswAdd(faiss::IndexHNSW& index, int64_t n, const float* x) {
  const HnswBuildSettings settings = hnswBuildSettings();
  if (!settings.error.empty()) throw std::invalid_argument(settings.error);
  auto* storage = dynamic_cast<faiss::IndexFlat*>(index.storage);
  const bool supported = storage != nullptr && (storage->metric_type == faiss::METRIC_L2 ||
                                                storage->metric_type == faiss::METRIC_INNER_PRODUCT);
  if (!supported || settings.builder == "faiss") {
    index.add(n, x);
    return;
  }
  FAISS_THROW_IF_NOT(index.is_trained);
  Simd cap = Simd::AVX512;
  parseSimd(settings.simd, &cap);
  const Kernel kernel = kernelFor(capped(cap), storage->metric_type == faiss::METRIC_INNER_PRODUCT);
  if (n <= 0) return;
  faiss::HNSW& g = index.hnsw;
  const size_t n0 = static_cast<size_t>(index.ntotal);
  storage->add(n, x);
  index.ntotal = storage->ntotal;
  const size_t ntotal = static_cast<size_t>(index.ntotal);
  const size_t nn = static_cast<size_t>(n);

  // faiss's hnsw_add_vertices: levels, then the new nodes bucketed by level, highest first, each bucket shuffled.
  g.prepare_level_tab(nn, g.levels.size() == ntotal);
  std::vector<int> hist;
  for (size_t i = 0; i < nn; ++i) {
    const int lv = g.levels[n0 + i] - 1;
    if (static_cast<size_t>(lv) >= hist.size()) hist.resize(static_cast<size_t>(lv) + 1, 0);
    ++hist[static_cast<size_t>(lv)];
  }
  std::vector<size_t> start(hist.size() + 1, 0);
  for (size_t l = 0; l + 1 < hist.size(); ++l) start[l + 1] = start[l] + static_cast<size_t>(hist[l]);
  std::vector<Id> order(nn);
  for (size_t i = 0; i < nn; ++i) {
    const size_t lv = static_cast<size_t>(g.levels[n0 + i] - 1);
    order[start[lv]++] = static_cast<Id>(n0 + i);
  }

  Builder builder(g, storage->get_xb(), static_cast<size_t>(index.d), ntotal, kernel);
  faiss::RandomGenerator rng2(789);
  std::exception_ptr error;
  std::mutex errorMu;
  std::atomic<bool> failed{false};
  auto fail = [&]() {
    std::lock_guard<std::mutex> lk(errorMu);
    if (!error) error = std::current_exception();
    failed.store(true);
  };
  size_t i1 = nn;
  for (int level = static_cast<int>(hist.size()) - 1; level >= 0; --level) {
    const size_t i0 = i1 - static_cast<size_t>(hist[static_cast<size_t>(level)]);
    for (size_t j = i0; j < i1; ++j) std::swap(order[j], order[j + static_cast<size_t>(rng2.rand_int(i1 - j))]);
    const int64_t b0 = static_cast<int64_t>(i0), b1 = static_cast<int64_t>(i1);
#pragma omp parallel if (i1 > i0 + 100)
    {
      // No exception may leave the region: every thread must reach the loop's barrier.
      std::unique_ptr<Builder::Scratch> scratch;
      try {
        scratch.reset(new Builder::Scratch(ntotal));
      } catch (...) {
        fail();
      }
#pragma omp for schedule(dynamic, 16)
      for (int64_t i = b0; i < b1; ++i) {
        if (failed.load(std::memory_order_relaxed)) continue;
        try {
          builder.insert(*scratch, order[static_cast<size_t>(i)], level);
        } catch (...) {
          fail();
        }
      }
    }
    if (error) std::rethrow_exception(error);
    i1 = i0;
  }
}

}  // namespace kite
