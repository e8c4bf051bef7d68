#include "binary.h"

#include <faiss/impl/FaissException.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>

#include <algorithm>
#include <cstring>
#include <cmath>
#include <limits>
#include <mutex>
#include <queue>
#include <shared_mutex>
#include <utility>

namespace kite {

bool parseBinaryKind(const std::string& s, BinaryKind* out) {
  if (s == "BIN_FLAT") *out = BinaryKind::BIN_FLAT;
  else if (s == "BIN_IVF_FLAT") *out = BinaryKind::BIN_IVF_FLAT;
  else return false;
  return true;
}

bool parseBinaryMetric(const std::string& s, BinaryMetric* out) {
  if (s == "HAMMING") *out = BinaryMetric::HAMMING;
  else if (s == "JACCARD") *out = BinaryMetric::JACCARD;
  else return false;
  return true;
}

namespace {

// Hamming distance, or Jaccard distance 1 - |a & b| / |a | b| (0 when both are all zeros), as Milvus reports them.
inline float distance(BinaryMetric metric, const uint8_t* a, const uint8_t* b, int bytes) {
  if (metric == BinaryMetric::HAMMING) {
    int d = 0;
    int i = 0;
    for (; i + 8 <= bytes; i += 8) {
      uint64_t x, y;
      std::memcpy(&x, a + i, 8);
      std::memcpy(&y, b + i, 8);
      d += __builtin_popcountll(x ^ y);
    }
    for (; i < bytes; i++) d += __builtin_popcount(static_cast<unsigned>(a[i] ^ b[i]));
    return static_cast<float>(d);
  }
  int inter = 0;
  int uni = 0;
  for (int i = 0; i < bytes; i++) {
    inter += __builtin_popcount(static_cast<unsigned>(a[i] & b[i]));
    uni += __builtin_popcount(static_cast<unsigned>(a[i] | b[i]));
  }
  return uni == 0 ? 0.0f : static_cast<float>(1.0 - static_cast<double>(inter) / static_cast<double>(uni));
}

inline bool allowed(const BinarySearchRequest& req, int64_t id) {
  if (!req.filter) return true;
  if (id < 0 || static_cast<size_t>(id >> 3) >= req.filterBytes) return false;
  return (req.filter[id >> 3] >> (id & 7)) & 1;
}

// The k smallest (distance, id) pairs seen, ties by smaller id.
class TopK {
 public:
  explicit TopK(int64_t k) : k_(static_cast<size_t>(k)) {}
  void push(float d, int64_t id) {
    if (heap_.size() < k_) {
      heap_.emplace(d, id);
    } else if (std::make_pair(d, id) < heap_.top()) {
      heap_.pop();
      heap_.emplace(d, id);
    }
  }
  size_t size() const { return heap_.size(); }
  void write(float* dist, int64_t* ids) {
    const size_t n = heap_.size();
    for (size_t j = n; j < k_; j++) {
      dist[j] = std::numeric_limits<float>::infinity();
      ids[j] = -1;
    }
    for (size_t j = n; j-- > 0;) {
      dist[j] = heap_.top().first;
      ids[j] = heap_.top().second;
      heap_.pop();
    }
  }

 private:
  size_t k_;
  std::priority_queue<std::pair<float, int64_t>> heap_;
};

}  // namespace

BinaryCore::BinaryCore(BinaryKind kind, BinaryMetric metric, int dimBits, int nlist)
    : kind_(kind), metric_(metric), dim_(dimBits), nlist_(nlist) {
  if (dimBits <= 0 || dimBits % 8 != 0) {
    throw CodedError(ERR_BAD_PARAM, "binary vector dim must be a positive multiple of 8, got " + std::to_string(dimBits));
  }
  if (kind == BinaryKind::BIN_FLAT) {
    auto* flat = new faiss::IndexBinaryFlat(dimBits);
    auto* idmap = new faiss::IndexBinaryIDMap(flat);
    idmap->own_fields = true;
    index_.reset(idmap);
  } else {
    auto* quantizer = new faiss::IndexBinaryFlat(dimBits);
    auto* ivf = new faiss::IndexBinaryIVF(quantizer, dimBits, static_cast<size_t>(nlist));
    ivf->own_fields = true;
    index_.reset(ivf);
  }
  bindPointers();
  refresh();
}

BinaryCore::BinaryCore(BinaryKind kind, BinaryMetric metric, int dimBits, int nlist, faiss::IndexBinary* adopted)
    : kind_(kind), metric_(metric), dim_(dimBits), nlist_(nlist), index_(adopted) {}

void BinaryCore::bindPointers() {
  idmap_ = dynamic_cast<faiss::IndexBinaryIDMap*>(index_.get());
  flat_ = idmap_ ? dynamic_cast<faiss::IndexBinaryFlat*>(idmap_->index) : nullptr;
  ivf_ = dynamic_cast<faiss::IndexBinaryIVF*>(index_.get());
}

void BinaryCore::refresh() {
  ntotal_.store(index_->ntotal);
  trained_.store(index_->is_trained);
  size_t bytes = static_cast<size_t>(index_->ntotal) * (static_cast<size_t>(codeSize()) + sizeof(int64_t));
  if (ivf_) bytes += static_cast<size_t>(nlist_) * static_cast<size_t>(codeSize());
  memory_.store(bytes);
}

std::unique_ptr<BinaryCore> BinaryCore::deserialize(BinaryKind kind, BinaryMetric metric, int dimBits,
                                                    const uint8_t* data, size_t size) {
  faiss::VectorIOReader reader;
  reader.data.assign(data, data + size);
  faiss::IndexBinary* raw = nullptr;
  try {
    raw = faiss::read_index_binary(&reader);
  } catch (const faiss::FaissException& e) {
    throw CodedError(ERR_BAD_DATA, std::string("cannot read serialized faiss binary index: ") + e.what());
  }
  std::unique_ptr<BinaryCore> core(new BinaryCore(kind, metric, dimBits, 0, raw));
  core->bindPointers();
  const bool ok = kind == BinaryKind::BIN_FLAT ? core->flat_ != nullptr : core->ivf_ != nullptr;
  if (!ok) throw CodedError(ERR_BAD_DATA, "serialized binary index is not of the expected type");
  if (raw->d != dimBits) {
    throw CodedError(ERR_DIMENSION, "serialized binary index has dim " + std::to_string(raw->d) + ", expected " +
                                        std::to_string(dimBits));
  }
  if (core->ivf_) core->nlist_ = static_cast<int>(core->ivf_->nlist);
  core->refresh();
  return core;
}

void BinaryCore::train(int64_t n, const uint8_t* codes) {
  std::unique_lock<RwLock> lk(mu_);
  if (index_->is_trained) throw CodedError(ERR_ALREADY_TRAINED, "the index is already trained");
  if (n < nlist_) {
    throw CodedError(ERR_BAD_PARAM, "training needs at least nlist = " + std::to_string(nlist_) + " vectors, got " +
                                        std::to_string(n));
  }
  useOmpThreads(threadConfig().build.load());
  try {
    index_->train(n, codes);
  } catch (const faiss::FaissException& e) {
    throw CodedError(ERR_INTERNAL, std::string("faiss train: ") + e.what());
  }
  refresh();
}

void BinaryCore::add(int64_t n, const uint8_t* codes, const int64_t* ids) {
  if (n == 0) return;  // nothing to add, trained or not
  std::unique_lock<RwLock> lk(mu_);
  if (!index_->is_trained) throw CodedError(ERR_NOT_TRAINED, "the index must be trained before vectors are added");
  useOmpThreads(threadConfig().build.load());
  try {
    index_->add_with_ids(n, codes, ids);
  } catch (const faiss::FaissException& e) {
    throw CodedError(ERR_INTERNAL, std::string("faiss add: ") + e.what());
  }
  refresh();
}

void BinaryCore::search(const BinarySearchRequest& req) const {
  std::shared_lock<RwLock> lk(mu_);
  const int cs = codeSize();
  if (!index_->is_trained) throw CodedError(ERR_NOT_TRAINED, "the index must be trained before it is searched");
  useOmpThreads(threadConfig().search.load());  // the quantizer's search (BIN_IVF_FLAT)
  std::vector<faiss::Index::idx_t> lists;
  std::vector<int32_t> listDist;
  const size_t nprobe = ivf_ ? std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(req.nprobe), ivf_->nlist)) : 0;
  for (int64_t q = 0; q < req.nq; q++) {
    const uint8_t* query = req.queries + q * cs;
    TopK top(req.k);
    if (flat_) {
      const uint8_t* codes = flat_->xb.data();
      const int64_t n = flat_->ntotal;
      for (int64_t i = 0; i < n; i++) {
        const int64_t id = idmap_->id_map[static_cast<size_t>(i)];
        if (!allowed(req, id)) continue;
        top.push(distance(metric_, query, codes + i * cs, cs), id);
      }
    } else {
      // The lists whose centroids are nearest by Hamming distance (faiss's quantizer), scanned exactly. As the float
      // IVF search does, a query that found fewer than k allowed rows there is answered again over every list.
      auto scanList = [&](size_t l, TopK& into) {
        const size_t n = ivf_->invlists->list_size(l);
        if (n == 0) return;
        faiss::InvertedLists::ScopedCodes codes(ivf_->invlists, l);
        faiss::InvertedLists::ScopedIds ids(ivf_->invlists, l);
        for (size_t i = 0; i < n; i++) {
          const int64_t id = ids[i];
          if (!allowed(req, id)) continue;
          into.push(distance(metric_, query, codes.get() + i * cs, cs), id);
        }
      };
      lists.resize(nprobe);
      listDist.resize(nprobe);
      ivf_->quantizer->search(1, query, static_cast<faiss::Index::idx_t>(nprobe), listDist.data(), lists.data());
      for (size_t p = 0; p < nprobe; p++) {
        if (lists[p] >= 0) scanList(static_cast<size_t>(lists[p]), top);
      }
      if (top.size() < static_cast<size_t>(req.k) && nprobe < ivf_->nlist) {
        TopK all(req.k);
        for (size_t l = 0; l < ivf_->nlist; l++) scanList(l, all);
        all.write(req.outDistances + q * req.k, req.outIds + q * req.k);
        continue;
      }
    }
    top.write(req.outDistances + q * req.k, req.outIds + q * req.k);
  }
}

void BinaryCore::serialize(std::vector<uint8_t>& out) const {
  std::shared_lock<RwLock> lk(mu_);
  faiss::VectorIOWriter writer;
  writer.data = std::move(out);
  try {
    faiss::write_index_binary(index_.get(), &writer);
  } catch (const faiss::FaissException& e) {
    throw CodedError(ERR_INTERNAL, std::string("faiss serialize: ") + e.what());
  }
  out = std::move(writer.data);
}

}  // namespace kite
