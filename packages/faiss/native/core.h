// The faiss-facing half of @kite/faiss: one IndexCore per JS VectorIndex. No N-API in here, so every entry point
// can run on a libuv worker thread. Errors leave as CodedError (code + message) and the addon turns them into JS
// Errors with a `code` property.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <faiss/Index.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>

#include "walk.h"

namespace kite {

// Stable error codes, mirrored in src/errors.ts.
extern const char* const ERR_DIMENSION;
extern const char* const ERR_NOT_TRAINED;
extern const char* const ERR_ALREADY_TRAINED;
extern const char* const ERR_BAD_PARAM;
extern const char* const ERR_BAD_DATA;
extern const char* const ERR_FREED;
extern const char* const ERR_INTERNAL;

class CodedError : public std::runtime_error {
 public:
  CodedError(const char* code, const std::string& message) : std::runtime_error(message), code_(code) {}
  const char* code() const { return code_; }

 private:
  const char* code_;
};

enum class IndexKind { FLAT, IVF_FLAT, IVF_SQ8, IVF_PQ, HNSW };
enum class Metric { L2, IP, COSINE };

bool parseIndexKind(const std::string& s, IndexKind* out);
bool parseMetric(const std::string& s, Metric* out);
const char* indexKindName(IndexKind k);
const char* metricName(Metric m);

struct BuildParams {
  int nlist = 128;
  int m = 0;
  int nbits = 8;
  int M = 30;
  int efConstruction = 360;
};

struct SearchRequest {
  int64_t nq = 0;
  const float* queries = nullptr;  // nq * dim
  int64_t k = 0;
  int nprobe = 8;                  // IVF
  int ef = 0;                      // HNSW; 0 => max(k, 16)
  const uint8_t* filter = nullptr; // bitmap over ids (LSB first); nullptr => all rows allowed
  size_t filterBytes = 0;
  float* outDistances = nullptr;   // nq * k
  int64_t* outIds = nullptr;       // nq * k
};

// Thread counts handed to OpenMP inside one call (per calling thread; see README in src/index.ts docs).
struct ThreadConfig {
  std::atomic<int> search{1};
  std::atomic<int> build{0};  // 0 => all cores
};
ThreadConfig& threadConfig();

// Sets OpenMP's thread count for the calling (libuv worker) thread.
void useOmpThreads(int n);
int hardwareThreads();

// Reader-writer lock that prefers writers (glibc's rwlock prefers readers, so a stream of searches could starve an
// add forever). Meets the Lockable and SharedLockable requirements.
class RwLock {
 public:
  void lock_shared();
  void unlock_shared();
  void lock();
  void unlock();
  // Writers (train, add) waiting for the lock: lets a test order a search behind an add without a fixed sleep.
  int writersWaiting();

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int readers_ = 0;
  int writersWaiting_ = 0;
  bool writer_ = false;
};

class IndexCore {
 public:
  IndexCore(IndexKind kind, Metric metric, int dim, const BuildParams& params);
  ~IndexCore();
  IndexCore(const IndexCore&) = delete;
  IndexCore& operator=(const IndexCore&) = delete;

  // Deserialises a payload made by serialize(); checks it holds an index of this kind, metric and dim.
  static std::unique_ptr<IndexCore> deserialize(IndexKind kind, Metric metric, int dim, const BuildParams& params,
                                                const uint8_t* data, size_t size);

  IndexKind kind() const { return kind_; }
  Metric metric() const { return metric_; }
  int dim() const { return dim_; }
  const BuildParams& params() const { return params_; }

  // Exclusive: train and add take the write lock; search and serialize share the read lock.
  void train(int64_t n, const float* x);
  void add(int64_t n, const float* x, const int64_t* ids);
  void search(const SearchRequest& req) const;
  int writersWaiting() const { return mu_.writersWaiting(); }
  // Exact top-k over the listed rows only (a selective filter's candidates), on the calling thread: FLAT indexes
  // whose ids are their row numbers, k below faiss's reservoir threshold and nq below its BLAS threshold, where it
  // is what IndexFlat::search with those rows as the selector computes, bit for bit (the same distance functions,
  // the same heap, rows visited in ascending order). Returns false (outputs untouched) for any other index or
  // size, which the caller searches with search(). `rows` must be ascending; rows outside the index are skipped.
  bool searchRows(int64_t nq, const float* queries, int64_t k, const int32_t* rows, size_t nrows, float* outDistances,
                  int64_t* outIds) const;
  // Appends the serialised form to `out` (after whatever prefix `out` already holds).
  void serialize(std::vector<uint8_t>& out) const;

  // Lock-free snapshots, refreshed after every mutation (safe to read from the JS thread at any time).
  int64_t ntotal() const { return ntotal_.load(); }
  bool isTrained() const { return trained_.load(); }
  size_t memoryUsage() const { return memory_.load(); }

  // For tests: faiss's own search call, to compare against ours. HNSW: IndexHNSW::search with hnsw.efSearch set
  // (exclusive lock; no filter). IVF: IndexIVF::search with SearchParametersIVF (no redo for selective filters).
  void referenceSearch(const SearchRequest& req);

 private:
  IndexCore(IndexKind kind, Metric metric, int dim, const BuildParams& params, faiss::Index* adopted);
  void bindPointers();
  void refreshStats();
  size_t estimateMemory() const;
  int64_t countAllowed(const uint8_t* filter, size_t bytes) const;
  int64_t internalToExternal(int64_t label) const;

  void searchFlat(const SearchRequest& req, const float* q, int64_t allowed) const;
  void searchIvf(const SearchRequest& req, const float* q, int64_t allowed) const;
  void searchHnsw(const SearchRequest& req, const float* q, int64_t allowed) const;
  // nprobe clamped to [1, nlist], and the filter as faiss's bitmap selector (IVF lists hold the caller's ids).
  std::unique_ptr<faiss::IDSelectorBitmap> ivfParams(const SearchRequest& req, faiss::SearchParametersIVF& sp) const;
  // faiss's IndexIVF::search for a few queries on the calling thread, without its OpenMP regions (see core.cc).
  void searchIvfSerial(int64_t nq, const float* q, int64_t k, size_t nprobe, const faiss::IDSelector* sel,
                       float* distances, int64_t* labels) const;
  // Exact search over the HNSW's flat storage for the given query rows (used for selective filters).
  void bruteForceHnsw(const SearchRequest& req, const float* q, const std::vector<int64_t>& rows) const;

  IndexKind kind_;
  Metric metric_;
  int dim_;
  BuildParams params_;
  std::unique_ptr<faiss::Index> index_;  // what gets serialised
  faiss::IndexIDMap* idmap_ = nullptr;   // FLAT, HNSW: maps internal row -> caller id
  faiss::IndexFlat* flat_ = nullptr;     // FLAT: the inner index
  faiss::IndexHNSW* hnsw_ = nullptr;     // HNSW: the inner index
  faiss::IndexIVF* ivf_ = nullptr;       // IVF_*
  const faiss::IndexFlat* coarse_ = nullptr;  // IVF_*: the coarse quantizer when it is flat (always, when built here)
  bool identityIds_ = true;              // FLAT/HNSW: id_map[i] == i for every row
  WalkCodes walkCodes_;                  // HNSW: 8-bit codes of the stored vectors for the search walk (walk.h)
  const void* hugeVectors_ = nullptr;    // HNSW: the stored vectors' and neighbour lists' allocations last moved
  const void* hugeNeighbours_ = nullptr; //   to huge pages (moveToHugePages)
  const void* hugeOffsets_ = nullptr;
  mutable RwLock mu_;
  std::atomic<int64_t> ntotal_{0};
  std::atomic<bool> trained_{false};
  std::atomic<size_t> memory_{0};
};

}  // namespace kite
