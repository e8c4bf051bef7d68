// Binary vectors for @kite/faiss: BIN_FLAT (faiss IndexBinaryFlat under an IndexBinaryIDMap) and BIN_IVF_FLAT
// (faiss IndexBinaryIVF over a flat binary quantizer), with the HAMMING and JACCARD metrics. faiss stores, trains,
// assigns lists and serialises; the search itself scans the stored codes here, so that it is exact for the rows it
// visits, takes Kite's row bitmap as a filter (faiss 1.7.3's binary indexes accept no IDSelector) and computes
// JACCARD (faiss's binary indexes search by Hamming distance only). No N-API in here: it runs on worker threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <faiss/IndexBinary.h>
#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexBinaryIVF.h>
#include <faiss/IndexIDMap.h>
#include <atomic>

#include "core.h"

namespace kite {

enum class BinaryKind { BIN_FLAT, BIN_IVF_FLAT };
enum class BinaryMetric { HAMMING, JACCARD };

bool parseBinaryKind(const std::string& s, BinaryKind* out);
bool parseBinaryMetric(const std::string& s, BinaryMetric* out);

struct BinarySearchRequest {
  int64_t nq = 0;
  const uint8_t* queries = nullptr;  // nq * dim / 8 bytes
  int64_t k = 0;
  int nprobe = 8;                    // BIN_IVF_FLAT
  const uint8_t* filter = nullptr;   // bitmap over ids (LSB first); nullptr => all rows allowed
  size_t filterBytes = 0;
  float* outDistances = nullptr;     // nq * k; unfilled slots: +inf
  int64_t* outIds = nullptr;         // nq * k; unfilled slots: -1
};

class BinaryCore {
 public:
  BinaryCore(BinaryKind kind, BinaryMetric metric, int dimBits, int nlist);
  static std::unique_ptr<BinaryCore> deserialize(BinaryKind kind, BinaryMetric metric, int dimBits,
                                                 const uint8_t* data, size_t size);

  BinaryKind kind() const { return kind_; }
  BinaryMetric metric() const { return metric_; }
  int dim() const { return dim_; }
  int codeSize() const { return dim_ / 8; }
  int nlist() const { return nlist_; }

  void train(int64_t n, const uint8_t* codes);
  void add(int64_t n, const uint8_t* codes, const int64_t* ids);
  void search(const BinarySearchRequest& req) const;
  void serialize(std::vector<uint8_t>& out) const;

  int64_t ntotal() const { return ntotal_.load(); }
  bool isTrained() const { return trained_.load(); }
  size_t memoryUsage() const { return memory_.load(); }

 private:
  BinaryCore(BinaryKind kind, BinaryMetric metric, int dimBits, int nlist, faiss::IndexBinary* adopted);
  void bindPointers();
  void refresh();

  BinaryKind kind_;
  BinaryMetric metric_;
  int dim_;
  int nlist_;
  std::unique_ptr<faiss::IndexBinary> index_;
  faiss::IndexBinaryIDMap* idmap_ = nullptr;  // BIN_FLAT
  faiss::IndexBinaryFlat* flat_ = nullptr;    // BIN_FLAT: the inner index
  faiss::IndexBinaryIVF* ivf_ = nullptr;      // BIN_IVF_FLAT
  mutable RwLock mu_;
  std::atomic<int64_t> ntotal_{0};
  std::atomic<bool> trained_{false};
  std::atomic<size_t> memory_{0};
};

}  // namespace kite
