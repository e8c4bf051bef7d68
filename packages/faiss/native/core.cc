#include "core.h"

#include "hnsw-build.h"

#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <faiss/utils/Heap.h>
#include <faiss/utils/distances.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <shared_mutex>

namespace kite {

const char* const ERR_DIMENSION = "ERR_FAISS_DIMENSION";
const char* const ERR_NOT_TRAINED = "ERR_FAISS_NOT_TRAINED";
const char* const ERR_ALREADY_TRAINED = "ERR_FAISS_ALREADY_TRAINED";
const char* const ERR_BAD_PARAM = "ERR_FAISS_BAD_PARAM";
const char* const ERR_BAD_DATA = "ERR_FAISS_BAD_DATA";
const char* const ERR_FREED = "ERR_FAISS_FREED";
const char* const ERR_INTERNAL = "ERR_FAISS_INTERNAL";

namespace {

// Filtered HNSW, choosing between the graph and an exact scan of the allowed rows. In units of one distance of the
// scan: a filtered walk expands about ef/fraction nodes and computes about M new distances per node, each costing
// about kWalkDistanceCost scan distances (random rows, and heap upkeep per node); the scan computes one distance per
// allowed row and reads the bitmap 64 rows at a time (kBitCheckCost per row). Measured on 100k x 128 rows (M 16,
// ef 64, 10% allowed in runs of 10 rows): the walk took 0.68 ms, the scan 0.33 ms; with the walk priced like the
// scan the model chose the walk there.
constexpr double kWalkDistanceCost = 2.0;
constexpr double kBitCheckCost = 1.0 / 256;
// A row of the scan over 8-bit codes (topkOverBitmapCodes), which also computes codeScanKeep(k) exact distances.
// Measured on 100k x 128 rows around 64 centres (M 16, efConstruction 40, ef 64, k 10, row r allowed when r % 100 is
// below the percentage, one-query calls, CPU per query, load 2.2-2.6): 15% allowed, the walk took 0.50 ms and the
// code scan 0.29; 20%: 0.38-0.40 and 0.33-0.41; 25%: 0.37 and 0.42-0.43. So the code scan wins up to about 20%,
// where the model with a code row at half a scan distance (plus the re-rank) changes its choice; before, the float
// scan's row at 1 put the change near 14%.
constexpr double kCodeDistanceCost = 0.5;

faiss::MetricType faissMetric(Metric m) {
  return m == Metric::L2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
}

// Larger-is-better metrics report missing rows with -inf, smaller-is-better ones with +inf.
float missingDistance(Metric m) {
  return m == Metric::L2 ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
}

inline bool bitAllowed(const uint8_t* bits, size_t bytes, int64_t id) {
  if (id < 0) return false;
  const uint64_t byte = static_cast<uint64_t>(id) >> 3;
  return byte < bytes && ((bits[byte] >> (id & 7)) & 1) != 0;
}

// Set bits in bytes[0..n), 64 at a time (a filter's bitmap is counted on every filtered search).
int64_t popcountBytes(const uint8_t* bytes, size_t n) {
  int64_t c = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, bytes + i, 8);
    c += __builtin_popcountll(w);
  }
  for (; i < n; ++i) c += __builtin_popcount(bytes[i]);
  return c;
}

// Bitmap over caller ids, asked about internal rows of an IndexIDMap.
struct TranslatedBitmap : faiss::IDSelector {
  const faiss::Index::idx_t* idMap;
  const uint8_t* bits;
  size_t bytes;
  TranslatedBitmap(const faiss::Index::idx_t* m, const uint8_t* b, size_t n) : idMap(m), bits(b), bytes(n) {}
  bool is_member(idx_t row) const final { return bitAllowed(bits, bytes, idMap[row]); }
};

std::vector<float> normalizedCopy(int64_t n, int dim, const float* x) {
  std::vector<float> out(x, x + static_cast<size_t>(n) * dim);
  faiss::fvec_renorm_L2(static_cast<size_t>(dim), static_cast<size_t>(n), out.data());
  return out;
}

// Marks visited graph nodes, one byte per node; reused across calls on the same thread (an epoch counter avoids
// clearing it on every query, as faiss's VisitedTable does, but without allocating per call).
struct VisitedMarks {
  std::vector<uint8_t> mark;
  uint8_t epoch = 0;
  void begin(size_t n) {
    if (mark.size() < n) {
      mark.assign(n, 0);
      epoch = 0;
    }
    if (++epoch == 0) {
      std::fill(mark.begin(), mark.end(), 0);
      epoch = 1;
    }
  }
  bool testAndSet(size_t i) {
    if (mark[i] == epoch) return true;
    mark[i] = epoch;
    return false;
  }
};
thread_local VisitedMarks tlsVisited;

// Visited nodes as one bit per node (an index of 100k nodes: 12.5 KB, which stays in the first-level cache while the
// walk streams codes through it; a byte per node is 100 KB), reused across calls on the same thread; the words
// a call set are remembered and cleared at its end, so a call costs in proportion to the nodes it visits.
struct VisitedBits {
  std::vector<uint64_t> words;
  std::vector<uint32_t> touched;
  void begin(size_t n) {
    end();  // a call that ended early (an exception) may have left bits set
    const size_t need = (n + 63) / 64;
    if (words.size() < need) words.assign(need, 0);
  }
  bool testAndSet(size_t i) {
    uint64_t& w = words[i >> 6];
    const uint64_t bit = uint64_t(1) << (i & 63);
    if (w & bit) return true;
    if (w == 0) touched.push_back(static_cast<uint32_t>(i >> 6));
    w |= bit;
    return false;
  }
  void end() {
    for (const uint32_t t : touched) words[t] = 0;
    touched.clear();
  }
};
// Out of line: when GCC sees that the object is thread_local it looks its address up again (a __tls_get_addr call
// from a shared object) at every use inside the walk's loop.
__attribute__((noinline)) VisitedBits& threadVisitedBits() {
  static thread_local VisitedBits bits;
  return bits;
}

const char* mapFaissMessage(const std::string& what) {
  if (what.find("is_trained") != std::string::npos) return ERR_NOT_TRAINED;
  return ERR_INTERNAL;
}

[[noreturn]] void rethrowFaiss(const faiss::FaissException& e, const char* op) {
  throw CodedError(mapFaissMessage(e.what()), std::string("faiss ") + op + " failed: " + e.what());
}

struct MemReader : faiss::IOReader {
  const uint8_t* data;
  size_t size;
  size_t pos = 0;
  MemReader(const uint8_t* d, size_t n) : data(d), size(n) {}
  size_t operator()(void* ptr, size_t itemSize, size_t nitems) override {
    if (itemSize == 0) return 0;
    size_t avail = (size - pos) / itemSize;
    size_t take = std::min(avail, nitems);
    std::memcpy(ptr, data + pos, take * itemSize);
    pos += take * itemSize;
    return take;
  }
};

}  // namespace

// ---- names ----

bool parseIndexKind(const std::string& s, IndexKind* out) {
  static const std::pair<const char*, IndexKind> names[] = {{"FLAT", IndexKind::FLAT},
                                                             {"IVF_FLAT", IndexKind::IVF_FLAT},
                                                             {"IVF_SQ8", IndexKind::IVF_SQ8},
                                                             {"IVF_PQ", IndexKind::IVF_PQ},
                                                             {"HNSW", IndexKind::HNSW}};
  for (auto& n : names) {
    if (s == n.first) {
      *out = n.second;
      return true;
    }
  }
  return false;
}

bool parseMetric(const std::string& s, Metric* out) {
  if (s == "L2") *out = Metric::L2;
  else if (s == "IP") *out = Metric::IP;
  else if (s == "COSINE") *out = Metric::COSINE;
  else return false;
  return true;
}

const char* indexKindName(IndexKind k) {
  switch (k) {
    case IndexKind::FLAT: return "FLAT";
    case IndexKind::IVF_FLAT: return "IVF_FLAT";
    case IndexKind::IVF_SQ8: return "IVF_SQ8";
    case IndexKind::IVF_PQ: return "IVF_PQ";
    case IndexKind::HNSW: return "HNSW";
  }
  return "?";
}

const char* metricName(Metric m) {
  switch (m) {
    case Metric::L2: return "L2";
    case Metric::IP: return "IP";
    case Metric::COSINE: return "COSINE";
  }
  return "?";
}

// ---- threads ----

ThreadConfig& threadConfig() {
  static ThreadConfig cfg;
  return cfg;
}

int hardwareThreads() { return std::max(1, omp_get_num_procs()); }

void useOmpThreads(int n) { omp_set_num_threads(n > 0 ? n : hardwareThreads()); }

// ---- lock ----

void RwLock::lock_shared() {
  std::unique_lock<std::mutex> lk(m_);
  cv_.wait(lk, [&] { return !writer_ && writersWaiting_ == 0; });
  ++readers_;
}

void RwLock::unlock_shared() {
  std::lock_guard<std::mutex> lk(m_);
  if (--readers_ == 0) cv_.notify_all();
}

void RwLock::lock() {
  std::unique_lock<std::mutex> lk(m_);
  ++writersWaiting_;
  cv_.wait(lk, [&] { return !writer_ && readers_ == 0; });
  --writersWaiting_;
  writer_ = true;
}

int RwLock::writersWaiting() {
  std::lock_guard<std::mutex> lk(m_);
  return writersWaiting_;
}

void RwLock::unlock() {
  std::lock_guard<std::mutex> lk(m_);
  writer_ = false;
  cv_.notify_all();
}

// ---- construction ----

IndexCore::IndexCore(IndexKind kind, Metric metric, int dim, const BuildParams& p)
    : kind_(kind), metric_(metric), dim_(dim), params_(p) {
  if (dim <= 0) throw CodedError(ERR_DIMENSION, "dim must be a positive integer, got " + std::to_string(dim));
  const faiss::MetricType fm = faissMetric(metric);
  try {
    switch (kind) {
      case IndexKind::FLAT: {
        auto* inner = new faiss::IndexFlat(dim, fm);
        auto* map = new faiss::IndexIDMap(inner);
        map->own_fields = true;
        index_.reset(map);
        break;
      }
      case IndexKind::HNSW: {
        if (p.M < 2) throw CodedError(ERR_BAD_PARAM, "HNSW M must be >= 2, got " + std::to_string(p.M));
        if (p.efConstruction < 1)
          throw CodedError(ERR_BAD_PARAM, "HNSW efConstruction must be >= 1, got " + std::to_string(p.efConstruction));
        auto* inner = new faiss::IndexHNSWFlat(dim, p.M, fm);
        inner->hnsw.efConstruction = p.efConstruction;
        auto* map = new faiss::IndexIDMap(inner);
        map->own_fields = true;
        index_.reset(map);
        break;
      }
      case IndexKind::IVF_FLAT:
      case IndexKind::IVF_SQ8:
      case IndexKind::IVF_PQ: {
        if (p.nlist < 1) throw CodedError(ERR_BAD_PARAM, "nlist must be >= 1, got " + std::to_string(p.nlist));
        if (kind == IndexKind::IVF_PQ) {
          if (p.m < 1 || dim % p.m != 0)
            throw CodedError(ERR_BAD_PARAM, "IVF_PQ m must divide dim (" + std::to_string(dim) + "), got " +
                                                std::to_string(p.m));
          if (p.nbits < 1 || p.nbits > 16)
            throw CodedError(ERR_BAD_PARAM, "IVF_PQ nbits must be in [1, 16], got " + std::to_string(p.nbits));
        }
        auto* quantizer = new faiss::IndexFlat(dim, fm);
        faiss::IndexIVF* ivf = nullptr;
        if (kind == IndexKind::IVF_FLAT) {
          ivf = new faiss::IndexIVFFlat(quantizer, dim, p.nlist, fm);
        } else if (kind == IndexKind::IVF_SQ8) {
          ivf = new faiss::IndexIVFScalarQuantizer(quantizer, dim, p.nlist, faiss::ScalarQuantizer::QT_8bit, fm, true);
        } else {
          auto* pq = new faiss::IndexIVFPQ(quantizer, dim, p.nlist, p.m, p.nbits, fm);
          // The "please provide at least N training points" warning goes to stderr; it changes nothing.
          pq->pq.cp.min_points_per_centroid = 1;
          ivf = pq;
        }
        ivf->own_fields = true;
        ivf->cp.min_points_per_centroid = 1;
        index_.reset(ivf);
        break;
      }
    }
  } catch (const faiss::FaissException& e) {
    rethrowFaiss(e, "create");
  }
  bindPointers();
  refreshStats();
}

IndexCore::IndexCore(IndexKind kind, Metric metric, int dim, const BuildParams& p, faiss::Index* adopted)
    : kind_(kind), metric_(metric), dim_(dim), params_(p), index_(adopted) {}

IndexCore::~IndexCore() = default;

void IndexCore::bindPointers() {
  idmap_ = nullptr;
  flat_ = nullptr;
  hnsw_ = nullptr;
  ivf_ = nullptr;
  coarse_ = nullptr;
  const char* want = indexKindName(kind_);
  auto mismatch = [&](const char* what) {
    throw CodedError(ERR_BAD_DATA, std::string("serialized index does not hold a ") + want + " index (" + what + ")");
  };
  switch (kind_) {
    case IndexKind::FLAT:
    case IndexKind::HNSW: {
      idmap_ = dynamic_cast<faiss::IndexIDMap*>(index_.get());
      if (!idmap_) mismatch("no id map");
      if (kind_ == IndexKind::FLAT) {
        flat_ = dynamic_cast<faiss::IndexFlat*>(idmap_->index);
        if (!flat_) mismatch("inner index is not flat");
      } else {
        hnsw_ = dynamic_cast<faiss::IndexHNSWFlat*>(idmap_->index);
        if (!hnsw_ || !hnsw_->storage || !dynamic_cast<faiss::IndexFlat*>(hnsw_->storage))
          mismatch("inner index is not HNSW over flat storage");
      }
      identityIds_ = true;
      const auto& m = idmap_->id_map;
      for (size_t i = 0; i < m.size(); ++i) {
        if (m[i] != static_cast<faiss::Index::idx_t>(i)) {
          identityIds_ = false;
          break;
        }
      }
      break;
    }
    case IndexKind::IVF_FLAT:
      ivf_ = dynamic_cast<faiss::IndexIVFFlat*>(index_.get());
      if (!ivf_) mismatch("not IVF flat");
      break;
    case IndexKind::IVF_SQ8: {
      auto* sq = dynamic_cast<faiss::IndexIVFScalarQuantizer*>(index_.get());
      if (!sq || sq->sq.qtype != faiss::ScalarQuantizer::QT_8bit) mismatch("not IVF SQ8");
      ivf_ = sq;
      break;
    }
    case IndexKind::IVF_PQ:
      ivf_ = dynamic_cast<faiss::IndexIVFPQ*>(index_.get());
      if (!ivf_) mismatch("not IVF PQ");
      break;
  }
  if (ivf_) coarse_ = dynamic_cast<const faiss::IndexFlat*>(ivf_->quantizer);
  if (index_->d != dim_) {
    throw CodedError(ERR_BAD_DATA, "serialized index has dim " + std::to_string(index_->d) + ", header says " +
                                       std::to_string(dim_));
  }
  if (index_->metric_type != faissMetric(metric_)) {
    throw CodedError(ERR_BAD_DATA, std::string("serialized index metric does not match header metric ") +
                                       metricName(metric_));
  }
}

std::unique_ptr<IndexCore> IndexCore::deserialize(IndexKind kind, Metric metric, int dim, const BuildParams& params,
                                                  const uint8_t* data, size_t size) {
  MemReader reader(data, size);
  faiss::Index* raw = nullptr;
  try {
    raw = faiss::read_index(&reader);
  } catch (const faiss::FaissException& e) {
    throw CodedError(ERR_BAD_DATA, std::string("cannot read serialized faiss index: ") + e.what());
  }
  std::unique_ptr<IndexCore> core(new IndexCore(kind, metric, dim, params, raw));
  core->bindPointers();
  // Derive the build parameters from what was actually stored.
  if (core->ivf_) core->params_.nlist = static_cast<int>(core->ivf_->nlist);
  if (auto* pq = dynamic_cast<faiss::IndexIVFPQ*>(core->ivf_)) {
    core->params_.m = static_cast<int>(pq->pq.M);
    core->params_.nbits = static_cast<int>(pq->pq.nbits);
  }
  if (core->hnsw_) {
    core->params_.M = core->hnsw_->hnsw.nb_neighbors(1);
    core->params_.efConstruction = core->hnsw_->hnsw.efConstruction;
  }
  core->refreshStats();
  return core;
}

// ---- stats ----

void IndexCore::refreshStats() {
  if (hnsw_) {
    auto* st = dynamic_cast<faiss::IndexFlat*>(hnsw_->storage);
    walkCodes_.update(st->get_xb(), st->ntotal, dim_);
    // A search reads these at random rows too (the exact re-rank, the walk's neighbour lists).
    moveToHugePages(st->codes, &hugeVectors_);
    moveToHugePages(hnsw_->hnsw.neighbors, &hugeNeighbours_);
    moveToHugePages(hnsw_->hnsw.offsets, &hugeOffsets_);
  }
  ntotal_.store(index_->ntotal);
  trained_.store(index_->is_trained);
  memory_.store(estimateMemory());
}

size_t IndexCore::estimateMemory() const {
  const size_t n = static_cast<size_t>(index_->ntotal);
  const size_t vec = static_cast<size_t>(dim_) * sizeof(float);
  size_t bytes = 1024;  // the objects themselves
  if (idmap_) bytes += idmap_->id_map.capacity() * sizeof(int64_t);
  if (flat_) bytes += flat_->codes.capacity();
  if (hnsw_) {
    const auto& g = hnsw_->hnsw;
    bytes += g.neighbors.capacity() * sizeof(g.neighbors[0]) + g.offsets.capacity() * sizeof(g.offsets[0]) +
             g.levels.capacity() * sizeof(g.levels[0]);
    if (auto* st = dynamic_cast<const faiss::IndexFlat*>(hnsw_->storage)) bytes += st->codes.capacity();
    bytes += walkCodes_.bytes();
  }
  if (ivf_) {
    bytes += ivf_->nlist * vec;                              // coarse centroids
    bytes += n * (ivf_->code_size + sizeof(int64_t));        // codes and ids in the inverted lists
    bytes += ivf_->nlist * 3 * sizeof(void*) * 2;            // the lists' vectors
    if (auto* pq = dynamic_cast<const faiss::IndexIVFPQ*>(ivf_)) {
      bytes += pq->pq.centroids.size() * sizeof(float) + pq->precomputed_table.size() * sizeof(float);
    }
    if (auto* sq = dynamic_cast<const faiss::IndexIVFScalarQuantizer*>(ivf_)) {
      bytes += sq->sq.trained.size() * sizeof(float);
    }
  }
  return bytes;
}

int64_t IndexCore::countAllowed(const uint8_t* filter, size_t bytes) const {
  const int64_t n = index_->ntotal;
  int64_t c = 0;
  if (idmap_ && !identityIds_) {
    for (auto id : idmap_->id_map) c += bitAllowed(filter, bytes, id) ? 1 : 0;
    return c;
  }
  if (idmap_) {  // ids are the rows 0..n-1: count the bits below n
    const size_t fullBytes = std::min(bytes, static_cast<size_t>(n >> 3));
    c += popcountBytes(filter, fullBytes);
    for (int64_t id = static_cast<int64_t>(fullBytes) * 8; id < n; ++id) c += bitAllowed(filter, bytes, id) ? 1 : 0;
    return c;
  }
  // IVF keeps caller ids only inside its lists: count every set bit. That is exact when the bitmap covers the
  // index's ids and nothing else (Kite's row numbers) and an upper bound otherwise, which only costs an extra pass.
  return popcountBytes(filter, bytes);
}

int64_t IndexCore::internalToExternal(int64_t label) const {
  if (label < 0 || !idmap_ || identityIds_) return label;
  return idmap_->id_map[static_cast<size_t>(label)];
}

// ---- mutation ----

void IndexCore::train(int64_t n, const float* x) {
  std::unique_lock<RwLock> lk(mu_);
  if (!ivf_) {
    refreshStats();  // FLAT and HNSW need no training
    return;
  }
  if (index_->is_trained) {
    throw CodedError(ERR_ALREADY_TRAINED, std::string(indexKindName(kind_)) + " index is already trained");
  }
  int64_t need = params_.nlist;
  std::string why = "nlist=" + std::to_string(params_.nlist);
  if (kind_ == IndexKind::IVF_PQ) {
    const int64_t ksub = int64_t(1) << params_.nbits;
    if (ksub > need) {
      need = ksub;
      why = "2^nbits=" + std::to_string(ksub);
    }
  }
  if (n < need) {
    throw CodedError(ERR_BAD_PARAM, std::string(indexKindName(kind_)) + " training needs at least " +
                                        std::to_string(need) + " vectors (" + why + "), got " + std::to_string(n));
  }
  useOmpThreads(threadConfig().build.load());
  std::vector<float> norm;
  if (metric_ == Metric::COSINE) {
    norm = normalizedCopy(n, dim_, x);
    x = norm.data();
  }
  try {
    index_->train(n, x);
  } catch (const faiss::FaissException& e) {
    rethrowFaiss(e, "train");
  }
  refreshStats();
}

void IndexCore::add(int64_t n, const float* x, const int64_t* ids) {
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] < 0) {
      throw CodedError(ERR_BAD_PARAM, "ids must be >= 0, ids[" + std::to_string(i) + "] = " + std::to_string(ids[i]));
    }
  }
  std::unique_lock<RwLock> lk(mu_);
  if (!index_->is_trained) {
    throw CodedError(ERR_NOT_TRAINED, std::string(indexKindName(kind_)) + " index must be trained before add");
  }
  if (hnsw_ && index_->ntotal + n > std::numeric_limits<int32_t>::max()) {
    throw CodedError(ERR_BAD_PARAM, "HNSW holds at most 2^31-1 vectors");
  }
  if (n == 0) return;
  useOmpThreads(threadConfig().build.load());
  std::vector<float> norm;
  if (metric_ == Metric::COSINE) {
    norm = normalizedCopy(n, dim_, x);
    x = norm.data();
  }
  const int64_t before = index_->ntotal;
  try {
    if (hnsw_) {
      // IndexIDMap::add_with_ids, with the graph built by Kite's loop (hnsw-build.h; KITE_FAISS_HNSW_BUILD=faiss
      // uses faiss's own IndexHNSW::add).
      hnswAdd(*hnsw_, n, x);
      idmap_->id_map.insert(idmap_->id_map.end(), ids, ids + n);
      idmap_->ntotal = hnsw_->ntotal;
    } else {
      index_->add_with_ids(n, x, ids);
    }
  } catch (const std::invalid_argument& e) {  // a bad KITE_FAISS_HNSW_* variable, found before anything changed
    throw CodedError(ERR_BAD_PARAM, e.what());
  } catch (const faiss::FaissException& e) {
    refreshStats();
    rethrowFaiss(e, "add");
  }
  if (idmap_ && identityIds_) {
    for (int64_t i = 0; i < n; ++i) {
      if (ids[i] != before + i) {
        identityIds_ = false;
        break;
      }
    }
  }
  refreshStats();
}

// ---- search ----

void IndexCore::search(const SearchRequest& req) const {
  std::shared_lock<RwLock> lk(mu_);
  if (!index_->is_trained) {
    throw CodedError(ERR_NOT_TRAINED, std::string(indexKindName(kind_)) + " index must be trained before search");
  }
  const size_t total = static_cast<size_t>(req.nq) * static_cast<size_t>(req.k);
  if (req.nq == 0) return;
  useOmpThreads(threadConfig().search.load());

  std::vector<float> norm;
  const float* q = req.queries;
  if (metric_ == Metric::COSINE) {
    norm = normalizedCopy(req.nq, dim_, q);
    q = norm.data();
  }

  int64_t allowed = index_->ntotal;
  if (req.filter) allowed = countAllowed(req.filter, req.filterBytes);
  if (allowed == 0 || index_->ntotal == 0) {
    std::fill(req.outIds, req.outIds + total, int64_t(-1));
    std::fill(req.outDistances, req.outDistances + total, missingDistance(metric_));
    return;
  }

  try {
    if (flat_) searchFlat(req, q, allowed);
    else if (hnsw_) searchHnsw(req, q, allowed);
    else searchIvf(req, q, allowed);
  } catch (const faiss::FaissException& e) {
    rethrowFaiss(e, "search");
  }

  const float miss = missingDistance(metric_);
  for (size_t i = 0; i < total; ++i) {
    if (req.outIds[i] < 0) {
      req.outIds[i] = -1;
      req.outDistances[i] = miss;
    }
  }
}

namespace {
// One query's top-k over `rows` into D/I, as faiss's exhaustive_*_seq with a HeapResultHandler does it.
template <class C, class Dist>
void topkOverRows(const float* x, const float* xb, int dim, int64_t ntotal, int64_t k, const int32_t* rows,
                  size_t nrows, float* D, int64_t* I, Dist dist) {
  faiss::heap_heapify<C>(k, D, I);
  float threshold = D[0];
  for (size_t r = 0; r < nrows; ++r) {
    const int64_t row = rows[r];
    if (row < 0 || row >= ntotal) continue;
    const float d = dist(x, xb + row * dim, static_cast<size_t>(dim));
    if (C::cmp(threshold, d)) {
      faiss::heap_replace_top<C>(k, D, I, d, row);
      threshold = D[0];
    }
  }
  faiss::heap_reorder<C>(k, D, I);
}

// The rows 0..ntotal-1 whose bit is set in `bits`, ascending, read 64 at a time (zero words skipped).
void allowedRows(int64_t ntotal, const uint8_t* bits, size_t bytes, std::vector<int32_t>& rows) {
  const size_t usable = std::min(bytes, static_cast<size_t>((ntotal + 7) >> 3));
  rows.clear();
  for (size_t at = 0; at < usable; at += 8) {
    uint64_t word = 0;
    std::memcpy(&word, bits + at, std::min<size_t>(8, usable - at));
    const int64_t base = static_cast<int64_t>(at) * 8;
    while (word != 0) {
      const int64_t row = base + __builtin_ctzll(word);
      word &= word - 1;
      if (row >= ntotal) break;
      rows.push_back(static_cast<int32_t>(row));
    }
  }
}

// One query's top-k over `rows` (ascending), with the same distances, heap and row order as faiss's exhaustive
// search with an IDSelectorBitmap (so the same answer), without its per-row virtual membership call; each row's
// vector is prefetched a few rows ahead of the distance being computed.
template <class C, class Dist>
void topkOverList(const float* x, const float* xb, int dim, int64_t k, const int32_t* rows, size_t count, float* D,
                  int64_t* I, Dist dist) {
  constexpr size_t kAhead = 3;
  const size_t vecBytes = sizeof(float) * static_cast<size_t>(dim);
  auto prefetch = [&](int64_t row) {
    const char* at = reinterpret_cast<const char*>(xb + row * dim);
    for (size_t o = 0; o < vecBytes; o += 64) __builtin_prefetch(at + o);
  };
  faiss::heap_heapify<C>(k, D, I);
  float threshold = D[0];
  for (size_t j = 0; j < std::min<size_t>(count, kAhead); ++j) prefetch(rows[j]);
  for (size_t j = 0; j < count; ++j) {
    if (j + kAhead < count) prefetch(rows[j + kAhead]);
    const float d = dist(x, xb + static_cast<int64_t>(rows[j]) * dim, static_cast<size_t>(dim));
    if (C::cmp(threshold, d)) {
      faiss::heap_replace_top<C>(k, D, I, d, rows[j]);
      threshold = D[0];
    }
  }
  faiss::heap_reorder<C>(k, D, I);
}

// One query's top-k over the rows 0..ntotal-1 whose bit is set in `bits` by exact float distances (topkOverList).
template <class C, class Dist>
void topkOverBitmap(const float* x, const float* xb, int dim, int64_t ntotal, int64_t k, const uint8_t* bits,
                    size_t bytes, float* D, int64_t* I, Dist dist) {
  thread_local std::vector<int32_t> rows;
  allowedRows(ntotal, bits, bytes, rows);
  topkOverList<C>(x, xb, dim, k, rows.data(), rows.size(), D, I, dist);
}

// The code scan's own integer kernels (AVX-512BW, chosen at run time): the walk's float kernels convert every code
// byte to a float, which cost more than the float scan they replace when the allowed rows' vectors sit in the
// last-level cache (the same filter query after query). Here the query is put in 16-bit fixed point once, and a row
// costs a byte-to-word widening and two or three integer operations per 32 dimensions.
// L2: u_j = (q_j - low_j) / step_j in 1/32 steps (U_j = round(32 u_j), which must lie in [-8192, 16351]; otherwise
// the query is too far outside the codes' range and the float scan answers), w_j = step_j^2 scaled to [0, 16383];
// the row's value is sum_j (U_j - 32 c_j) * ((U_j - 32 c_j) * w_j >> 15), which is proportional to the distance to
// the code up to the rounding of U and w. Each 32-bit lane adds 4 blocks before it is moved to a float (no overflow).
// IP: b_j = q_j * step_j scaled to [-32767, 32767]; the value is -sum_j c_j b_j (smaller is better, as for L2).
#pragma GCC diagnostic push
// GCC 12 reports its own AVX-512 intrinsics' pass-through operands as used uninitialized when they are compiled
// through a target attribute (see walk.cc); a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
struct ScanQuery {
  std::vector<int16_t> a;  // L2: U; IP: b (padded with zeros to a multiple of 32)
  std::vector<int16_t> w;  // L2 only
  bool ip = false;
};

bool scanKernelsAvailable() {
  static const bool ok = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
  }();
  return ok;
}

bool prepareScan(const WalkCodes& codes, const float* q, bool ip, ScanQuery& out) {
  const size_t d = codes.codeSize();
  const size_t padded = (d + 31) / 32 * 32;
  const float* lo = codes.low();
  const float* step = codes.step();
  out.ip = ip;
  out.a.assign(padded, 0);
  out.w.assign(ip ? 0 : padded, 0);
  if (ip) {
    float top = 0;
    for (size_t j = 0; j < d; ++j) {
      const float b = std::fabs(q[j] * step[j]);
      if (!std::isfinite(b)) return false;  // the float scan answers a query with NaN or infinite values
      top = std::max(top, b);
    }
    if (top == 0) return true;
    for (size_t j = 0; j < d; ++j) out.a[j] = static_cast<int16_t>(std::lround(q[j] * step[j] * (32767.0f / top)));
    return true;
  }
  float top = 0;
  for (size_t j = 0; j < d; ++j) top = std::max(top, step[j] * step[j]);
  if (!(top > 0) || !std::isfinite(top)) return false;
  for (size_t j = 0; j < d; ++j) {
    const float u = (q[j] - lo[j]) / step[j] * 32.0f;
    if (!(u >= -8192.0f && u <= 16351.0f)) return false;  // also NaN
    out.a[j] = static_cast<int16_t>(std::lround(u));
    out.w[j] = static_cast<int16_t>(std::lround(step[j] * step[j] * (16383.0f / top)));
  }
  return true;
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) float scanL2(const int16_t* u, const int16_t* w,
                                                                   const uint8_t* code, size_t d) {
  __m512 acc = _mm512_setzero_ps();
  __m512i sum = _mm512_setzero_si512();
  int blocks = 0;
  for (size_t i = 0; i < d; i += 32) {
    const __mmask32 m = i + 32 <= d ? ~__mmask32(0) : static_cast<__mmask32>((uint64_t(1) << (d - i)) - 1);
    const __m512i c = _mm512_slli_epi16(_mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, code + i)), 5);
    const __m512i diff = _mm512_sub_epi16(_mm512_loadu_si512(u + i), c);
    const __m512i wd = _mm512_mulhrs_epi16(diff, _mm512_loadu_si512(w + i));
    sum = _mm512_add_epi32(sum, _mm512_madd_epi16(diff, wd));
    if (++blocks == 4) {
      acc = _mm512_add_ps(acc, _mm512_cvtepi32_ps(sum));
      sum = _mm512_setzero_si512();
      blocks = 0;
    }
  }
  acc = _mm512_add_ps(acc, _mm512_cvtepi32_ps(sum));
  return _mm512_reduce_add_ps(acc);
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) float scanIp(const int16_t* b, const uint8_t* code, size_t d) {
  __m512 acc = _mm512_setzero_ps();
  __m512i sum = _mm512_setzero_si512();
  int blocks = 0;
  for (size_t i = 0; i < d; i += 32) {
    const __mmask32 m = i + 32 <= d ? ~__mmask32(0) : static_cast<__mmask32>((uint64_t(1) << (d - i)) - 1);
    const __m512i c = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, code + i));
    sum = _mm512_add_epi32(sum, _mm512_madd_epi16(c, _mm512_loadu_si512(b + i)));
    if (++blocks == 64) {
      acc = _mm512_add_ps(acc, _mm512_cvtepi32_ps(sum));
      sum = _mm512_setzero_si512();
      blocks = 0;
    }
  }
  acc = _mm512_add_ps(acc, _mm512_cvtepi32_ps(sum));
  return -_mm512_reduce_add_ps(acc);
}
#pragma GCC diagnostic pop

// Whether the code scan can stand in for the float scan of an index with n rows of `dim` floats: the codes cover
// every row (refreshStats keeps them so) and the CPU has the kernels.
bool codeScanUsable(const WalkCodes& codes, int64_t n, int dim) {
  return codes.rows() >= n && codes.codeSize() == static_cast<size_t>(dim) && scanKernelsAvailable();
}

// How many rows the code scan keeps for the exact re-rank. On data like the benchmark's (100k x 128 around 64 centres,
// spread 0.3, 10% allowed in runs of 10 rows, k 10, 200 queries) recall against an exact scan of the allowed rows
// was 1.000 for L2, IP and COSINE keeping 64 or 32 rows, and 1.000 / 1.000 / 0.999 keeping 20.
int64_t codeScanKeep(int64_t k) { return std::max<int64_t>(4 * k, 32); }

// The same top-k as topkOverBitmap, reading the 8-bit codes of the rows (walk.h: a quarter of the bytes) instead of
// their float vectors: the allowed rows are ranked by code distance, the best codeScanKeep(k) of them are ranked
// again by faiss's exact distances (in row order, as the float scan meets them), and those are the ones returned.
// `codes` must cover every row below ntotal. `ip`: larger-is-better metric (the codes rank by minus the product).
template <class C, class Dist>
void topkOverBitmapCodes(const WalkCodes& codes, bool ip, const float* x, const float* xb, int dim, int64_t ntotal,
                         int64_t k, const uint8_t* bits, size_t bytes, float* D, int64_t* I, Dist dist) {
  thread_local std::vector<int32_t> rows;
  allowedRows(ntotal, bits, bytes, rows);
  const size_t count = rows.size();
  const int64_t keep = codeScanKeep(k);
  if (static_cast<int64_t>(count) <= keep) {
    topkOverList<C>(x, xb, dim, k, rows.data(), count, D, I, dist);
    return;
  }
  thread_local ScanQuery qt;
  if (!prepareScan(codes, x, ip, qt)) {
    topkOverList<C>(x, xb, dim, k, rows.data(), count, D, I, dist);
    return;
  }
  thread_local std::vector<float> cd;
  thread_local std::vector<int64_t> ci;
  cd.resize(static_cast<size_t>(keep));
  ci.resize(static_cast<size_t>(keep));
  using Keep = faiss::CMax<float, int64_t>;  // the code distance is smaller-is-better for every metric
  faiss::heap_heapify<Keep>(static_cast<size_t>(keep), cd.data(), ci.data());
  float threshold = cd[0];
  constexpr size_t kAhead = 6;
  const size_t codeSize = codes.codeSize();
  auto prefetch = [&](int32_t row) {
    const char* at = reinterpret_cast<const char*>(codes.code(row));
    for (size_t o = 0; o < codeSize; o += 64) __builtin_prefetch(at + o);
  };
  for (size_t j = 0; j < std::min<size_t>(count, kAhead); ++j) prefetch(rows[j]);
  for (size_t j = 0; j < count; ++j) {
    if (j + kAhead < count) prefetch(rows[j + kAhead]);
    const float d = ip ? scanIp(qt.a.data(), codes.code(rows[j]), codeSize)
                       : scanL2(qt.a.data(), qt.w.data(), codes.code(rows[j]), codeSize);
    if (d < threshold) {
      faiss::heap_replace_top<Keep>(static_cast<size_t>(keep), cd.data(), ci.data(), d, rows[j]);
      threshold = cd[0];
    }
  }
  thread_local std::vector<int32_t> kept;
  kept.clear();
  for (const int64_t row : ci) {
    if (row >= 0) kept.push_back(static_cast<int32_t>(row));  // every slot is filled (count > keep); defensive
  }
  std::sort(kept.begin(), kept.end());
  topkOverList<C>(x, xb, dim, k, kept.data(), kept.size(), D, I, dist);
}
}  // namespace

bool IndexCore::searchRows(int64_t nq, const float* queries, int64_t k, const int32_t* rows, size_t nrows,
                           float* outDistances, int64_t* outIds) const {
  std::shared_lock<RwLock> lk(mu_);
  if (!flat_ || !identityIds_ || k <= 0 || nq <= 0) return false;
  if (k >= faiss::distance_compute_min_k_reservoir || nq >= faiss::distance_compute_blas_threshold) return false;
  std::vector<float> norm;
  const float* q = queries;
  if (metric_ == Metric::COSINE) {
    norm = normalizedCopy(nq, dim_, queries);
    q = norm.data();
  }
  const float* xb = flat_->get_xb();
  const int64_t n = flat_->ntotal;
  const bool l2 = flat_->metric_type == faiss::METRIC_L2;
  for (int64_t i = 0; i < nq; ++i) {
    float* D = outDistances + i * k;
    int64_t* I = outIds + i * k;
    const float* x = q + i * dim_;
    if (l2) {
      topkOverRows<faiss::CMax<float, int64_t>>(x, xb, dim_, n, k, rows, nrows, D, I, faiss::fvec_L2sqr);
    } else {
      topkOverRows<faiss::CMin<float, int64_t>>(x, xb, dim_, n, k, rows, nrows, D, I, faiss::fvec_inner_product);
    }
  }
  const float miss = missingDistance(metric_);
  const size_t total = static_cast<size_t>(nq) * static_cast<size_t>(k);
  for (size_t i = 0; i < total; ++i) {
    if (outIds[i] < 0) {
      outIds[i] = -1;
      outDistances[i] = miss;
    }
  }
  return true;
}

void IndexCore::searchFlat(const SearchRequest& req, const float* q, int64_t /*allowed*/) const {
  faiss::SearchParameters sp;
  std::unique_ptr<faiss::IDSelector> sel;
  if (req.filter) {
    if (identityIds_) sel.reset(new faiss::IDSelectorBitmap(req.filterBytes, req.filter));
    else sel.reset(new TranslatedBitmap(idmap_->id_map.data(), req.filter, req.filterBytes));
    sp.sel = sel.get();
  }
  flat_->search(req.nq, q, req.k, req.outDistances, req.outIds, req.filter ? &sp : nullptr);
  if (!identityIds_) {
    const size_t total = static_cast<size_t>(req.nq) * static_cast<size_t>(req.k);
    for (size_t i = 0; i < total; ++i) req.outIds[i] = internalToExternal(req.outIds[i]);
  }
}

std::unique_ptr<faiss::IDSelectorBitmap> IndexCore::ivfParams(const SearchRequest& req,
                                                               faiss::SearchParametersIVF& sp) const {
  sp.nprobe = static_cast<size_t>(std::min(std::max(req.nprobe, 1), static_cast<int>(ivf_->nlist)));
  std::unique_ptr<faiss::IDSelectorBitmap> sel;
  if (req.filter) {
    sel.reset(new faiss::IDSelectorBitmap(req.filterBytes, req.filter));
    sp.sel = sel.get();
  }
  return sel;
}

void IndexCore::searchIvf(const SearchRequest& req, const float* q, int64_t allowed) const {
  const int nlist = static_cast<int>(ivf_->nlist);
  faiss::SearchParametersIVF sp;
  const auto sel = ivfParams(req, sp);
  if (req.nq < faiss::distance_compute_blas_threshold && omp_get_max_threads() == 1 && coarse_ != nullptr) {
    searchIvfSerial(req.nq, q, req.k, sp.nprobe, sp.sel, req.outDistances, req.outIds);
  } else {
    ivf_->search(req.nq, q, req.k, req.outDistances, req.outIds, &sp);
  }
  if (!req.filter || static_cast<int>(sp.nprobe) >= nlist) return;

  // A selective filter can leave the probed lists with fewer than k allowed rows although more exist elsewhere:
  // search those queries again over every list.
  const int64_t want = std::min<int64_t>(req.k, allowed);
  std::vector<int64_t> redo;
  for (int64_t i = 0; i < req.nq; ++i) {
    const int64_t* row = req.outIds + i * req.k;
    int64_t got = 0;
    for (int64_t j = 0; j < req.k; ++j) got += row[j] >= 0 ? 1 : 0;
    if (got < want) redo.push_back(i);
  }
  if (redo.empty()) return;
  std::vector<float> qs(redo.size() * dim_);
  for (size_t r = 0; r < redo.size(); ++r) {
    std::memcpy(&qs[r * dim_], q + redo[r] * dim_, sizeof(float) * dim_);
  }
  std::vector<float> d(redo.size() * req.k);
  std::vector<faiss::Index::idx_t> l(redo.size() * req.k);
  sp.nprobe = static_cast<size_t>(nlist);
  ivf_->search(static_cast<int64_t>(redo.size()), qs.data(), req.k, d.data(), l.data(), &sp);
  for (size_t r = 0; r < redo.size(); ++r) {
    std::memcpy(req.outDistances + redo[r] * req.k, &d[r * req.k], sizeof(float) * req.k);
    std::memcpy(req.outIds + redo[r] * req.k, &l[r * req.k], sizeof(int64_t) * req.k);
  }
}

// What faiss 1.7.3's IndexIVF::search does for fewer queries than its BLAS threshold (coarse search by exhaustive
// distances to the centroids, then an InvertedListScanner over the nprobe nearest lists, in that order, into a
// k-heap), for the search threads' one-thread calls. faiss's path enters OpenMP regions (IndexIVF::search, the
// coarse flat search, search_preassigned) even with one thread, and libgomp pays a futex system call per region
// (seen with strace on the HNSW path before it lost its region): a visible share of a one-query search. The
// results are faiss's, bit for bit (tested against referenceSearch).
void IndexCore::searchIvfSerial(int64_t nq, const float* q, int64_t k, size_t nprobe, const faiss::IDSelector* sel,
                                float* distances, int64_t* labels) const {
  const float* centroids = coarse_->get_xb();
  const size_t nlist = static_cast<size_t>(coarse_->ntotal);
  const size_t d = static_cast<size_t>(dim_);
  std::vector<float> listDis(nprobe);
  std::vector<faiss::Index::idx_t> lists(nprobe);
  std::unique_ptr<faiss::InvertedListScanner> scanner(ivf_->get_InvertedListScanner(false, sel));
  const faiss::InvertedLists* inv = ivf_->invlists;
  // C: faiss's heap order (CMax keeps the smallest L2 distances, CMin the largest inner products).
  auto run = [&](auto order, auto distance) {
    using C = decltype(order);
    for (int64_t i = 0; i < nq; ++i) {
      const float* x = q + i * dim_;
      float* simi = distances + i * k;
      faiss::Index::idx_t* idxi = labels + i * k;
      // Coarse: the nprobe best centroids, best first.
      faiss::heap_heapify<C>(nprobe, listDis.data(), lists.data());
      for (size_t c = 0; c < nlist; ++c) {
        const float s = distance(x, centroids + c * d, d);
        if (C::cmp(listDis[0], s)) {
          faiss::heap_replace_top<C>(nprobe, listDis.data(), lists.data(), s, static_cast<faiss::Index::idx_t>(c));
        }
      }
      faiss::heap_reorder<C>(nprobe, listDis.data(), lists.data());
      faiss::heap_heapify<C>(static_cast<size_t>(k), simi, idxi);
      scanner->set_query(x);
      for (size_t j = 0; j < nprobe; ++j) {
        const faiss::Index::idx_t list = lists[j];
        if (list < 0) continue;
        const size_t size = inv->list_size(list);
        if (size == 0) continue;
        scanner->set_list(list, listDis[j]);
        faiss::InvertedLists::ScopedCodes codes(inv, list);
        faiss::InvertedLists::ScopedIds ids(inv, list);
        scanner->scan_codes(size, codes.get(), ids.get(), simi, idxi, static_cast<size_t>(k));
      }
      faiss::heap_reorder<C>(static_cast<size_t>(k), simi, idxi);
    }
  };
  using Id = faiss::Index::idx_t;
  if (ivf_->metric_type == faiss::METRIC_INNER_PRODUCT) run(faiss::CMin<float, Id>{}, faiss::fvec_inner_product);
  else run(faiss::CMax<float, Id>{}, faiss::fvec_L2sqr);
}

void IndexCore::searchHnsw(const SearchRequest& req, const float* q, int64_t allowed) const {
  const faiss::HNSW& g = hnsw_->hnsw;
  const int64_t n = index_->ntotal;
  const int k = static_cast<int>(req.k);
  const int efSearch = std::max(req.ef > 0 ? req.ef : std::max(k, 16), k);
  const bool filtered = req.filter != nullptr && allowed < n;

  if (filtered) {
    const double fraction = static_cast<double>(allowed) / static_cast<double>(n);
    const double walkCost = std::min<double>(n, efSearch / fraction) * g.nb_neighbors(1) * kWalkDistanceCost;
    // The scan bruteForceHnsw runs: over the codes (a cheaper row, plus the exact re-rank) or the float vectors.
    const bool codeScan = identityIds_ && req.k < faiss::distance_compute_min_k_reservoir &&
                          codeScanUsable(walkCodes_, n, dim_) && allowed > codeScanKeep(req.k);
    const double scanCost = (codeScan ? kCodeDistanceCost * static_cast<double>(allowed) +
                                            static_cast<double>(codeScanKeep(req.k))
                                      : static_cast<double>(allowed)) +
                            kBitCheckCost * static_cast<double>(n);
    if (allowed <= k || scanCost <= walkCost) {
      std::vector<int64_t> all(static_cast<size_t>(req.nq));
      for (int64_t i = 0; i < req.nq; ++i) all[i] = i;
      bruteForceHnsw(req, q, all);
      return;
    }
  }
  const bool negate = index_->metric_type == faiss::METRIC_INNER_PRODUCT;  // walk on -ip so smaller is better
  const uint8_t* bits = req.filter;
  const size_t bytes = req.filterBytes;
  const faiss::Index::idx_t* idMap = idmap_->id_map.data();
  const bool identity = identityIds_;
  const int64_t want = std::min<int64_t>(k, allowed);
  const auto* storage = dynamic_cast<const faiss::IndexFlat*>(hnsw_->storage);  // checked when the index was made

  const int nt = static_cast<int>(std::min<int64_t>(std::max(1, omp_get_max_threads()), req.nq));
  std::vector<std::vector<int64_t>> redoPerThread(static_cast<size_t>(nt));
  std::string error;
  std::mutex errorMu;

  // One thread's share: its own distance computer, heaps and visited marks, over the queries `forEach` gives it.
  auto work = [&](auto&& forEach) {
    try {
      std::vector<int64_t>& redo = redoPerThread[static_cast<size_t>(omp_get_thread_num())];
      std::unique_ptr<faiss::DistanceComputer> dc(hnsw_->storage->get_distance_computer());
      VisitedMarks& visited = tlsVisited;
      // Layer 0 expands a node in two passes: first its unvisited neighbours are listed (and marked) with a
      // prefetch of each one's vector, then their distances are computed and offered in the same order. The
      // vectors of a large index are not in cache, so each distance waited for its own memory loads one after the
      // other; with the loads started together they overlap. The answers are the same: the distances, and the
      // order in which they reach the heaps, do not change.
      const char* xb = reinterpret_cast<const char*>(storage->get_xb());
      const size_t vecBytes = sizeof(float) * static_cast<size_t>(dim_);
      std::vector<faiss::HNSW::storage_idx_t> fresh;
      auto unvisitedNeighbours = [&](faiss::HNSW::storage_idx_t node) {
        fresh.clear();
        size_t begin, end;
        g.neighbor_range(node, 0, &begin, &end);
        for (size_t j = begin; j < end; ++j) {
          const faiss::HNSW::storage_idx_t v = g.neighbors[j];
          if (v < 0) break;
          if (visited.testAndSet(static_cast<size_t>(v))) continue;
          const char* at = xb + static_cast<size_t>(v) * vecBytes;
          for (size_t o = 0; o < vecBytes; o += 64) __builtin_prefetch(at + o);
          fresh.push_back(v);
        }
      };
      using Hit = std::pair<float, int64_t>;
      std::vector<Hit> best;  // max-heap on distance: the best allowed rows so far
      std::vector<Hit> frontier;  // filtered walk: min-heap of nodes to expand
      auto dist = [&](int64_t row) {
        const float d = (*dc)(row);
        return negate ? -d : d;
      };
      auto isAllowed = [&](int64_t row) {
        return bits == nullptr || bitAllowed(bits, bytes, identity ? row : idMap[row]);
      };
      // Keeps the `cap` best allowed rows in `best`.
      auto offer = [&](float d, int64_t row, size_t cap) {
        if (!isAllowed(row)) return;
        if (best.size() < cap) {
          best.emplace_back(d, row);
          std::push_heap(best.begin(), best.end());
        } else if (d < best.front().first) {
          std::pop_heap(best.begin(), best.end());
          best.back() = {d, row};
          std::push_heap(best.begin(), best.end());
        }
      };
      auto minFirst = [](const Hit& a, const Hit& b) { return a.first > b.first; };

      // Layer 0, unfiltered: the beam search of the HNSW paper (and of faiss's search_from_candidates): a min-heap of
      // nodes to expand and a max-heap of the ef best nodes met (the beam; at least 2k), stopping when the closest node
      // left to expand is farther than the worst of those. Two differences from faiss's loop, for speed; the recall is the same
      // (recall.test.ts checks it against faiss's own search and exact answers):
      // - the walk ranks nodes by distances to the 8-bit codes (walk.h: 2 cache lines per 128-dim vector instead of
      //   8, the walk being bound by memory), then the nearest of the nodes it ends with are ranked again by their
      //   exact distances (faiss's distance computer, so the distances returned are faiss's);
      // - two binary heaps instead of faiss's MinimaxHeap, which scans all ef entries twice per expanded node.
      // While a node's neighbours are coded, the neighbour list of the next node to expand is prefetched (and the
      // offset of each fresh node's list, read if it is expanded later).
      WalkCodes::Query qt;
      using Cand = std::pair<float, faiss::HNSW::storage_idx_t>;
      std::vector<Cand> frontier0;  // min-heap: nodes to expand
      std::vector<Cand> pool;       // max-heap: the ef best nodes met
      auto farthestFirst = [](const Cand& a, const Cand& b) { return a.first < b.first; };
      auto nearestFirst = [](const Cand& a, const Cand& b) { return a.first > b.first; };
      const faiss::HNSW::storage_idx_t* nbrs = g.neighbors.data();
      const size_t* offsets = g.offsets.data();
      const size_t l0Begin = static_cast<size_t>(g.cum_nneighbor_per_level[0]);
      const size_t l0End = static_cast<size_t>(g.cum_nneighbor_per_level[1]);
      const size_t codeSize = walkCodes_.codeSize();
      VisitedBits& seen = threadVisitedBits();
      // How many of the ef nodes the walk ends with are ranked again exactly: the nearest max(2k, ef/2) by their
      // codes. On the benchmark's data (100k x 128, ef 64, k 10) re-ranking 20, 32 or all 64 gave the same recall.
      // The walk's beam is at least 2k wide: with ef close to k, ranking by codes alone dropped true neighbours that
      // faiss's float walk kept (inner product, ef = k = 10: recall 0.969 against 0.986).
      const size_t beam = std::max<size_t>(static_cast<size_t>(efSearch), 2 * static_cast<size_t>(k));
      const size_t rerank = std::max<size_t>(2 * static_cast<size_t>(k), beam / 2);
      auto walkLayer0 = [&](faiss::HNSW::storage_idx_t start, float d0, size_t ef) {
        seen.begin(static_cast<size_t>(n));
        seen.testAndSet(static_cast<size_t>(start));
        frontier0.clear();
        pool.clear();
        frontier0.emplace_back(d0, start);
        pool.emplace_back(d0, start);
        while (!frontier0.empty()) {
          const Cand cur = frontier0.front();
          if (pool.size() >= ef && cur.first > pool.front().first) break;
          std::pop_heap(frontier0.begin(), frontier0.end(), nearestFirst);
          frontier0.pop_back();
          if (!frontier0.empty()) {
            const char* next = reinterpret_cast<const char*>(nbrs + offsets[frontier0.front().second] + l0Begin);
            __builtin_prefetch(next);
            __builtin_prefetch(next + 64);
          }
          fresh.clear();
          const faiss::HNSW::storage_idx_t* list = nbrs + offsets[cur.second];
          for (size_t j = l0Begin; j < l0End; ++j) {
            const faiss::HNSW::storage_idx_t v = list[j];
            if (v < 0) break;
            if (seen.testAndSet(static_cast<size_t>(v))) continue;
            const char* at = reinterpret_cast<const char*>(walkCodes_.code(v));
            for (size_t o = 0; o < codeSize; o += 64) __builtin_prefetch(at + o);
            __builtin_prefetch(offsets + v);  // read if v is expanded later, to find its neighbour list
            fresh.push_back(v);
          }
          for (const faiss::HNSW::storage_idx_t v : fresh) {
            const float d = walkCodes_.distance(qt, v);
            if (pool.size() < ef || d < pool.front().first) {
              frontier0.emplace_back(d, v);
              std::push_heap(frontier0.begin(), frontier0.end(), nearestFirst);
              pool.emplace_back(d, v);
              std::push_heap(pool.begin(), pool.end(), farthestFirst);
              if (pool.size() > ef) {
                std::pop_heap(pool.begin(), pool.end(), farthestFirst);
                pool.pop_back();
              }
            }
          }
        }
        seen.end();
        // Exact distances of the nearest `rerank`, their vectors fetched together first.
        if (rerank < pool.size()) {
          std::sort_heap(pool.begin(), pool.end(), farthestFirst);
          pool.resize(rerank);
        }
        for (const Cand& c : pool) {
          const char* at = xb + static_cast<size_t>(c.second) * vecBytes;
          for (size_t o = 0; o < vecBytes; o += 64) __builtin_prefetch(at + o);
        }
        for (const Cand& c : pool) offer(dist(c.second), c.second, static_cast<size_t>(k));
      };

      forEach([&](int64_t qi) {
        float* outD = req.outDistances + qi * req.k;
        int64_t* outI = req.outIds + qi * req.k;
        best.clear();
        if (g.entry_point >= 0) {
          // Greedy descent through the upper layers, with `distance` to rank nodes.
          auto descend = [&](auto&& distance, faiss::HNSW::storage_idx_t& nearest, float& dNearest) {
            nearest = g.entry_point;
            dNearest = distance(nearest);
            for (int level = g.max_level; level >= 1; --level) {
              for (;;) {
                const faiss::HNSW::storage_idx_t from = nearest;
                size_t begin, end;
                g.neighbor_range(from, level, &begin, &end);
                for (size_t j = begin; j < end; ++j) {
                  const faiss::HNSW::storage_idx_t v = g.neighbors[j];
                  if (v < 0) break;
                  const float d = distance(v);
                  if (d < dNearest) {
                    nearest = v;
                    dNearest = d;
                  }
                }
                if (nearest == from) break;
              }
            }
          };
          faiss::HNSW::storage_idx_t nearest;
          float dNearest;
          dc->set_query(q + qi * dim_);
          // The codes cover every stored row once refreshStats has run; should they not, the float walk below (with
          // no filter, every row allowed) answers instead.
          if (!filtered && walkCodes_.rows() >= n) {
            walkCodes_.prepare(q + qi * dim_, negate, qt);
            descend([&](faiss::HNSW::storage_idx_t v) { return walkCodes_.distance(qt, v); }, nearest, dNearest);
            walkLayer0(nearest, dNearest, beam);
          } else {
            descend(dist, nearest, dNearest);
            visited.begin(static_cast<size_t>(n));
            visited.testAndSet(static_cast<size_t>(nearest));
            // Layer 0, filtered: every node may be walked through, only allowed ones are kept. The walk goes on
            // until efSearch allowed rows are held and no queued node is closer than the worst of them, so it
            // widens by itself as the filter gets more selective.
            const size_t cap = static_cast<size_t>(efSearch);
            frontier.clear();
            frontier.emplace_back(dNearest, nearest);
            offer(dNearest, nearest, cap);
            while (!frontier.empty()) {
              const Hit cur = frontier.front();
              if (best.size() >= cap && cur.first > best.front().first) break;
              std::pop_heap(frontier.begin(), frontier.end(), minFirst);
              frontier.pop_back();
              unvisitedNeighbours(static_cast<faiss::HNSW::storage_idx_t>(cur.second));
              for (const faiss::HNSW::storage_idx_t v : fresh) {
                const float d = dist(v);
                if (best.size() < cap || d < best.front().first) {
                  frontier.emplace_back(d, v);
                  std::push_heap(frontier.begin(), frontier.end(), minFirst);
                  offer(d, v, cap);
                }
              }
            }
          }
        }
        std::sort_heap(best.begin(), best.end());
        for (int j = 0; j < k; ++j) {
          if (j < static_cast<int>(best.size())) {
            outD[j] = negate ? -best[j].first : best[j].first;
            outI[j] = identity ? best[j].second : idMap[best[j].second];
          } else {
            outD[j] = 0;
            outI[j] = -1;
          }
        }
        if (filtered && static_cast<int64_t>(std::min<size_t>(best.size(), static_cast<size_t>(k))) < want) {
          redo.push_back(qi);
        }
      });
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lk(errorMu);
      error = e.what();
    }
  };
  if (nt > 1) {
#pragma omp parallel num_threads(nt)
    work([&](auto&& one) {
#pragma omp for schedule(dynamic, 8)
      for (int64_t qi = 0; qi < req.nq; ++qi) one(qi);
    });
  } else {
    // One thread (every search thread's call; see threads.ts): no OpenMP region at all. Even a one-thread region
    // costs libgomp a futex wake-up system call per call, a visible share of a one-query search.
    work([&](auto&& one) {
      for (int64_t qi = 0; qi < req.nq; ++qi) one(qi);
    });
  }
  if (!error.empty()) throw CodedError(ERR_INTERNAL, "HNSW search failed: " + error);

  // A filtered walk that met fewer than k allowed rows (although more exist) is redone exactly.
  std::vector<int64_t> redo;
  for (auto& r : redoPerThread) redo.insert(redo.end(), r.begin(), r.end());
  if (!redo.empty()) {
    std::sort(redo.begin(), redo.end());
    bruteForceHnsw(req, q, redo);
  }
}

void IndexCore::bruteForceHnsw(const SearchRequest& req, const float* q, const std::vector<int64_t>& rows) const {
  const auto* storage = dynamic_cast<const faiss::IndexFlat*>(hnsw_->storage);
  // Rows numbered as their ids (Kite's segments), a filter and a small k: the allowed rows are read straight from
  // the bitmap (see topkOverBitmap), on this thread. Otherwise faiss's exhaustive search with a selector.
  if (req.filter && identityIds_ && req.k > 0 && req.k < faiss::distance_compute_min_k_reservoir) {
    const float* xb = storage->get_xb();
    const int64_t n = storage->ntotal;
    const bool l2 = storage->metric_type == faiss::METRIC_L2;
    // By the walk's 8-bit codes where they can (see topkOverBitmapCodes), else by the float vectors.
    const bool codes = codeScanUsable(walkCodes_, n, dim_);
    for (const int64_t qi : rows) {
      float* D = req.outDistances + qi * req.k;
      int64_t* I = req.outIds + qi * req.k;
      const float* x = q + qi * dim_;
      if (codes && l2) {
        topkOverBitmapCodes<faiss::CMax<float, int64_t>>(walkCodes_, false, x, xb, dim_, n, req.k, req.filter,
                                                         req.filterBytes, D, I, faiss::fvec_L2sqr);
      } else if (codes) {
        topkOverBitmapCodes<faiss::CMin<float, int64_t>>(walkCodes_, true, x, xb, dim_, n, req.k, req.filter,
                                                         req.filterBytes, D, I, faiss::fvec_inner_product);
      } else if (l2) {
        topkOverBitmap<faiss::CMax<float, int64_t>>(x, xb, dim_, n, req.k, req.filter, req.filterBytes, D, I,
                                                    faiss::fvec_L2sqr);
      } else {
        topkOverBitmap<faiss::CMin<float, int64_t>>(x, xb, dim_, n, req.k, req.filter, req.filterBytes, D, I,
                                                    faiss::fvec_inner_product);
      }
    }
    return;
  }
  std::vector<float> qs(rows.size() * dim_);
  for (size_t r = 0; r < rows.size(); ++r) std::memcpy(&qs[r * dim_], q + rows[r] * dim_, sizeof(float) * dim_);
  std::vector<float> d(rows.size() * req.k);
  std::vector<faiss::Index::idx_t> l(rows.size() * req.k);
  faiss::SearchParameters sp;
  std::unique_ptr<faiss::IDSelector> sel;
  if (req.filter) {
    if (identityIds_) sel.reset(new faiss::IDSelectorBitmap(req.filterBytes, req.filter));
    else sel.reset(new TranslatedBitmap(idmap_->id_map.data(), req.filter, req.filterBytes));
    sp.sel = sel.get();
  }
  storage->search(static_cast<int64_t>(rows.size()), qs.data(), req.k, d.data(), l.data(), sel ? &sp : nullptr);
  for (size_t r = 0; r < rows.size(); ++r) {
    for (int64_t j = 0; j < req.k; ++j) {
      req.outDistances[rows[r] * req.k + j] = d[r * req.k + j];
      req.outIds[rows[r] * req.k + j] = internalToExternal(l[r * req.k + j]);
    }
  }
}

void IndexCore::referenceSearch(const SearchRequest& req) {
  std::unique_lock<RwLock> lk(mu_);
  if (!hnsw_ && !ivf_) throw CodedError(ERR_BAD_PARAM, "referenceSearch is for HNSW and IVF indexes");
  if (hnsw_ && req.filter) throw CodedError(ERR_BAD_PARAM, "referenceSearch takes no filter for HNSW");
  useOmpThreads(threadConfig().search.load());
  std::vector<float> norm;
  const float* q = req.queries;
  if (metric_ == Metric::COSINE) {
    norm = normalizedCopy(req.nq, dim_, q);
    q = norm.data();
  }
  if (ivf_) {
    faiss::SearchParametersIVF sp;
    const auto sel = ivfParams(req, sp);
    try {
      ivf_->search(req.nq, q, req.k, req.outDistances, req.outIds, &sp);
    } catch (const faiss::FaissException& e) {
      rethrowFaiss(e, "search");
    }
    return;
  }
  const int saved = hnsw_->hnsw.efSearch;
  hnsw_->hnsw.efSearch = req.ef > 0 ? req.ef : std::max<int>(static_cast<int>(req.k), 16);
  try {
    hnsw_->search(req.nq, q, req.k, req.outDistances, req.outIds);
  } catch (const faiss::FaissException& e) {
    hnsw_->hnsw.efSearch = saved;
    rethrowFaiss(e, "search");
  }
  hnsw_->hnsw.efSearch = saved;
  const size_t total = static_cast<size_t>(req.nq) * static_cast<size_t>(req.k);
  for (size_t i = 0; i < total; ++i) req.outIds[i] = internalToExternal(req.outIds[i]);
}

// ---- serialisation ----

void IndexCore::serialize(std::vector<uint8_t>& out) const {
  std::shared_lock<RwLock> lk(mu_);
  faiss::VectorIOWriter writer;
  writer.data = std::move(out);
  writer.data.reserve(writer.data.size() + memory_.load());
  try {
    faiss::write_index(index_.get(), &writer);
  } catch (const faiss::FaissException& e) {
    rethrowFaiss(e, "serialize");
  }
  out = std::move(writer.data);
}

}  // namespace kite
