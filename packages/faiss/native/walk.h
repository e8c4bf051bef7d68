// 8-bit copies of an HNSW index's vectors for the layer-0 walk of a search (core.cc, IndexCore::searchHnsw).
//
// The walk is bound by memory: a 128-dim float vector is 8 cache lines, and a search at ef 64 over 100k vectors
// reads about a thousand of them from RAM. The walk instead ranks candidates by distances to these codes (one byte
// per dimension: 2 cache lines), and only the ef rows it ends with are ranked again by their exact float distances,
// which are the ones returned. Each dimension is quantized uniformly between a low and a high value taken from the
// data (with some headroom for rows added later; a row outside the range makes every code be computed again).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kite {

// A growable byte array in memory the kernel is asked to back with 2 MB pages (madvise MADV_HUGEPAGE, where
// transparent huge pages are enabled "always" or "madvise"): the walk reads codes at random rows, and with 4 KB
// pages nearly every read also missed the TLB. Contents are kept when it grows; capacity at least doubles.
class HugePageBytes {
 public:
  HugePageBytes() = default;
  HugePageBytes(const HugePageBytes&) = delete;
  HugePageBytes& operator=(const HugePageBytes&) = delete;
  ~HugePageBytes();
  void resize(size_t n);
  size_t capacity() const { return cap_; }
  uint8_t* data() { return p_; }
  const uint8_t* data() const { return p_; }
  uint8_t& operator[](size_t i) { return p_[i]; }

 private:
  uint8_t* p_ = nullptr;
  size_t size_ = 0;
  size_t cap_ = 0;
};

// Moves a large vector's contents into a fresh allocation advised for 2 MB pages (before it is first touched, so
// the pages are huge from the start), unless `*last` says this allocation was already moved. For faiss's own
// arrays that a search reads at random rows (the stored vectors, the graph's neighbour lists), which it allocates
// with 4 KB pages. Steady-state memory is the same; while it runs, the array is there twice.
void moveToHugePages(std::vector<uint8_t>& v, const void** last);
void moveToHugePages(std::vector<int32_t>& v, const void** last);
void moveToHugePages(std::vector<size_t>& v, const void** last);

class WalkCodes {
 public:
  // Brings the codes up to the first n rows of x (n * dim floats). Rows are only ever appended, so the rows already
  // coded stay as they are unless a new row falls outside the range. Not thread-safe: the caller holds the index's
  // write lock.
  void update(const float* x, int64_t n, int dim);
  int64_t rows() const { return rows_; }
  size_t bytes() const { return codes_.capacity() + (lo_.capacity() + step_.capacity()) * sizeof(float); }

  // One query's tables. `ip`: inner product (the walk ranks by minus the approximate product).
  struct Query {
    std::vector<float> a;  // L2: q - lo; IP: q * step
    float c = 0;           // IP: sum(q * lo)
    bool ip = false;
  };
  void prepare(const float* q, bool ip, Query& out) const;
  // Approximate distance of `row` for the prepared query (smaller is better for both metrics).
  float distance(const Query& qt, int64_t row) const {
    const uint8_t* code = codes_.data() + static_cast<size_t>(row) * static_cast<size_t>(dim_);
    if (qt.ip) return -(qt.c + dot_(qt.a.data(), code, static_cast<size_t>(dim_)));
    return l2_(qt.a.data(), step_.data(), code, static_cast<size_t>(dim_));
  }
  const uint8_t* code(int64_t row) const { return codes_.data() + static_cast<size_t>(row) * static_cast<size_t>(dim_); }
  size_t codeSize() const { return static_cast<size_t>(dim_); }
  // The quantizer: dimension j of a code c stands for low()[j] + c * step()[j].
  const float* low() const { return lo_.data(); }
  const float* step() const { return step_.data(); }

 private:
  void encode(const float* x, int64_t from, int64_t to);
  int dim_ = 0;
  int64_t rows_ = 0;
  std::vector<float> lo_, step_;
  HugePageBytes codes_;
  float (*l2_)(const float* a, const float* step, const uint8_t* code, size_t d) = nullptr;
  float (*dot_)(const float* a, const uint8_t* code, size_t d) = nullptr;
};

}  // namespace kite
