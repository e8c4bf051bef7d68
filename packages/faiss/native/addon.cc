// N-API glue for @kite/faiss. Arguments are checked here (the TypeScript wrapper checks them too, with friendlier
// messages) so that no call from JS can crash the process. Bulk calls (train, add, serialize, deserialize) run as
// AsyncWorkers on the libuv pool; searches run on the addon's own search threads (see SearchThreads). Every call
// keeps the JS typed arrays it reads or writes referenced until it finishes; the IndexCore itself is held through
// a shared_ptr, so free() while a call is in flight only drops the wrapper's reference.
#include <napi.h>
#include <uv.h>

#include <faiss/impl/FaissException.h>

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "core.h"

extern "C" int openblas_get_num_threads(void);  // libopenblas, linked for faiss's BLAS/LAPACK

namespace {

using kite::CodedError;

constexpr uint64_t kChecksumSeed = 0x6b697465u;  // "kite"
constexpr size_t kFrameBytes = 16;               // u64 payload length + u64 checksum, before the faiss payload

Napi::Error codedError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

[[noreturn]] void throwCoded(Napi::Env env, const char* code, const std::string& message) {
  throw codedError(env, code, message);
}

// 64-bit checksum over the payload: catches truncation and bit rot before faiss parses anything.
uint64_t checksum(const uint8_t* p, size_t n) {
  uint64_t h = kChecksumSeed ^ (n * 0x9e3779b97f4a7c15ull);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h ^= w * 0x87c37b91114253d5ull;
    h = (h << 31 | h >> 33) * 0x4cf5ad432745937full;
  }
  for (; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

void putU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t getU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

// ---- argument helpers ----

std::string argString(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsString()) throwCoded(info.Env(), kite::ERR_BAD_PARAM, std::string(name) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

int64_t argInt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo, int64_t hi) {
  if (i >= info.Length() || !info[i].IsNumber()) throwCoded(info.Env(), kite::ERR_BAD_PARAM, std::string(name) + " must be a number");
  const double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= static_cast<double>(lo) && d <= static_cast<double>(hi)) || d != static_cast<double>(static_cast<int64_t>(d))) {
    throwCoded(info.Env(), kite::ERR_BAD_PARAM, std::string(name) + " must be an integer in [" + std::to_string(lo) + ", " +
                                                    std::to_string(hi) + "], got " + info[i].ToString().Utf8Value());
  }
  return static_cast<int64_t>(d);
}

template <typename T>
Napi::TypedArrayOf<T> argTyped(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type type, const char* name,
                               const char* typeName) {
  if (i >= info.Length() || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != type) {
    throwCoded(info.Env(), kite::ERR_BAD_PARAM, std::string(name) + " must be a " + typeName);
  }
  return info[i].As<Napi::TypedArrayOf<T>>();
}

// Runs `work`, turning any exception into (code, message); returns false when it threw.
bool runCaught(const std::function<void()>& work, const char** code, std::string* message) {
  try {
    work();
    return true;
  } catch (const CodedError& e) {
    *code = e.code();
    *message = e.what();
  } catch (const faiss::FaissException& e) {
    *code = kite::ERR_INTERNAL;
    *message = std::string("faiss: ") + e.what();
  } catch (const std::bad_alloc&) {
    *code = kite::ERR_INTERNAL;
    *message = "out of memory in faiss call";
  } catch (const std::exception& e) {
    *code = kite::ERR_INTERNAL;
    *message = e.what();
  } catch (...) {
    *code = kite::ERR_INTERNAL;
    *message = "unknown native error";
  }
  return false;
}

// A promise-returning job on the libuv pool.
class Job : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Done = std::function<Napi::Value(Napi::Env)>;

  Job(Napi::Env env, Work work, Done done)
      : Napi::AsyncWorker(env, "kite-faiss"), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)),
        done_(std::move(done)) {}

  // Keeps a JS value (an input or output array, the wrapper) alive until the job completes.
  void keep(Napi::Value v) {
    if (v.IsObject()) kept_.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }

  Napi::Promise start() {
    Napi::Promise p = deferred_.Promise();
    Queue();
    return p;
  }

 protected:
  void Execute() override { failed_ = !runCaught(work_, &code_, &message_); }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (failed_) {
      deferred_.Reject(codedError(env, code_, message_).Value());
      return;
    }
    try {
      deferred_.Resolve(done_ ? done_(env) : env.Undefined());
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Work work_;
  Done done_;
  std::vector<Napi::ObjectReference> kept_;
  bool failed_ = false;
  const char* code_ = kite::ERR_INTERNAL;
  std::string message_;
};

// ---- search threads ----
//
// Searches run on threads of the addon's own (one per core unless KITE_FAISS_SEARCH_THREADS says otherwise), not
// on the libuv pool. A search goes to the thread that went idle most recently, so a caller that searches one call
// after another keeps landing on the same thread, whose caches (the graph's upper levels, its visited table) are
// warm; the libuv pool wakes whichever of its (default 4) threads it wakes, which cost 50-100 us per nq=1 call on
// a 2-core VM against a 100k HNSW index. Results come back to the JS thread through one uv_async handle per
// environment that drains every finished search.

class SearchThreads {
 public:
  static SearchThreads& instance() {
    static SearchThreads* pool = new SearchThreads(threadCount());  // never destroyed: threads outlive main()
    return *pool;
  }

  size_t size() const { return workers_.size(); }

  void post(std::function<void()> fn) {
    std::unique_lock<std::mutex> lk(mu_);
    if (!idle_.empty()) {
      Worker* w = idle_.back();  // most recently idle: warmest caches
      idle_.pop_back();
      w->job = std::move(fn);
      lk.unlock();
      w->cv.notify_one();
      return;
    }
    queue_.push_back(std::move(fn));
  }

 private:
  struct Worker {
    std::condition_variable cv;
    std::function<void()> job;
  };

  static size_t threadCount() {
    if (const char* env = std::getenv("KITE_FAISS_SEARCH_THREADS")) {
      const long n = std::strtol(env, nullptr, 10);
      if (n > 0 && n <= 256) return static_cast<size_t>(n);
    }
    return static_cast<size_t>(std::max(1, kite::hardwareThreads()));
  }

  explicit SearchThreads(size_t n) {
    for (size_t i = 0; i < n; ++i) {
      auto* w = new Worker();
      workers_.push_back(w);
      std::thread([this, w] { loop(w); }).detach();
    }
  }

  bool takeQueued(Worker* w) {
    if (queue_.empty()) return false;
    w->job = std::move(queue_.front());
    queue_.pop_front();
    return true;
  }

  void loop(Worker* w) {
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      if (!w->job) takeQueued(w);
      if (!w->job) {
        idle_.push_back(w);
        w->cv.wait(lk, [w] { return static_cast<bool>(w->job); });
      }
      std::function<void()> job = std::move(w->job);
      w->job = nullptr;
      lk.unlock();
      job();
      lk.lock();
    }
  }

  std::mutex mu_;
  std::vector<Worker*> workers_;
  std::vector<Worker*> idle_;
  std::deque<std::function<void()>> queue_;
};

class SearchJob;

// Per environment: finished searches queue here and one uv_async wakes the JS thread to settle their promises.
// The handle is referenced only while searches are pending, so it never keeps the process alive by itself.
class Completions {
 public:
  explicit Completions(Napi::Env env) : env_(env), context_(env, "kite-faiss-search") {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) throw Napi::Error::New(env, "no uv loop");
    uv_async_init(loop, &async_, &Completions::onAsync);
    async_.data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(&async_));
    napi_add_env_cleanup_hook(env, &Completions::cleanup, this);
  }

  // JS thread.
  void started() {
    if (pending_++ == 0) uv_ref(reinterpret_cast<uv_handle_t*>(&async_));
  }

  // Any thread.
  void finished(SearchJob* job) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (closed_) return;  // the environment is gone; so are the promise and the arrays
      done_.push_back(job);
    }
    uv_async_send(&async_);
  }

 private:
  static void onAsync(uv_async_t* h) { static_cast<Completions*>(h->data)->drain(); }
  static void cleanup(void* self) {
    auto* c = static_cast<Completions*>(self);
    std::lock_guard<std::mutex> lk(c->mu_);
    c->closed_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->async_), nullptr);  // the object is leaked on purpose: workers may still hold it
  }
  void drain();

  Napi::Env env_;
  // Settling promises inside a callback scope makes Node run their reactions (the microtask queue) when it closes,
  // as it does after an AsyncWorker's OnOK.
  Napi::AsyncContext context_;
  uv_async_t async_{};
  std::mutex mu_;
  std::vector<SearchJob*> done_;
  bool closed_ = false;
  size_t pending_ = 0;
};

// One search: created and settled on the JS thread, run on a search thread.
class SearchJob {
 public:
  SearchJob(Napi::Env env, Completions* done, std::function<void()> work)
      : deferred_(Napi::Promise::Deferred::New(env)), done_(done), work_(std::move(work)) {}

  void keep(Napi::Value v) {
    if (v.IsObject()) kept_.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }

  Napi::Promise start() {
    Napi::Promise p = deferred_.Promise();
    done_->started();
    SearchThreads::instance().post([this] {
      failed_ = !runCaught(work_, &code_, &message_);
      done_->finished(this);
    });
    return p;
  }

  // JS thread, inside a HandleScope.
  void settle(Napi::Env env) {
    if (failed_) deferred_.Reject(codedError(env, code_, message_).Value());
    else deferred_.Resolve(env.Undefined());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Completions* done_;
  std::function<void()> work_;
  std::vector<Napi::ObjectReference> kept_;
  bool failed_ = false;
  const char* code_ = kite::ERR_INTERNAL;
  std::string message_;
};

void Completions::drain() {
  std::vector<SearchJob*> batch;
  {
    std::lock_guard<std::mutex> lk(mu_);
    batch.swap(done_);
  }
  if (batch.empty()) return;
  Napi::HandleScope scope(env_);
  Napi::CallbackScope callbackScope(env_, context_);
  for (SearchJob* job : batch) {
    job->settle(env_);
    delete job;
  }
  pending_ -= batch.size();
  if (pending_ == 0) uv_unref(reinterpret_cast<uv_handle_t*>(&async_));
}

struct AddonData {
  Napi::FunctionReference ctor;
  Completions* completions = nullptr;
};

class NativeIndex : public Napi::ObjectWrap<NativeIndex> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeIndex",
                       {
                           StaticMethod<&NativeIndex::create>("create"),
                           StaticMethod<&NativeIndex::deserialize>("deserialize"),
                           InstanceMethod<&NativeIndex::train>("train"),
                           InstanceMethod<&NativeIndex::add>("add"),
                           InstanceMethod<&NativeIndex::search>("search"),
                           InstanceMethod<&NativeIndex::referenceSearch>("referenceSearch"),
                           InstanceMethod<&NativeIndex::serialize>("serialize"),
                           InstanceMethod<&NativeIndex::ntotal>("ntotal"),
                           InstanceMethod<&NativeIndex::isTrained>("isTrained"),
                           InstanceMethod<&NativeIndex::memoryUsage>("memoryUsage"),
                           InstanceMethod<&NativeIndex::params>("params"),
                           InstanceMethod<&NativeIndex::free>("free"),
                       });
  }

  explicit NativeIndex(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeIndex>(info) {}

  ~NativeIndex() override {
    // Runs from the GC finalizer on the JS thread: give back the external memory we reported. The raw call (not the
    // throwing C++ wrapper) because a destructor must not throw.
    if (reported_ != 0) {
      int64_t ignored = 0;
      napi_adjust_external_memory(Env(), -reported_, &ignored);
    }
  }

 private:
  static Napi::Object wrap(Napi::Env env, std::shared_ptr<kite::IndexCore> core) {
    auto* data = env.GetInstanceData<AddonData>();
    Napi::Object obj = data->ctor.New({});
    NativeIndex* self = NativeIndex::Unwrap(obj);
    self->core_ = std::move(core);
    self->syncExternalMemory(env);
    return obj;
  }

  static kite::BuildParams readParams(const Napi::CallbackInfo& info, size_t i) {
    kite::BuildParams p;
    if (i >= info.Length() || !info[i].IsObject()) return p;
    Napi::Object o = info[i].As<Napi::Object>();
    auto field = [&](const char* name, int* dst, int lo, int hi) {
      Napi::Value v = o.Get(name);
      if (v.IsUndefined() || v.IsNull()) return;
      const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : std::nan("");
      if (!(d >= lo && d <= hi) || d != static_cast<double>(static_cast<int64_t>(d))) {
        throwCoded(info.Env(), kite::ERR_BAD_PARAM, std::string(name) + " must be an integer in [" + std::to_string(lo) +
                                                        ", " + std::to_string(hi) + "]");
      }
      *dst = static_cast<int>(d);
    };
    field("nlist", &p.nlist, 1, 65536);
    field("m", &p.m, 1, 65536);
    field("nbits", &p.nbits, 1, 16);
    field("M", &p.M, 2, 2048);
    field("efConstruction", &p.efConstruction, 1, std::numeric_limits<int>::max());
    return p;
  }

  static void readKindMetric(const Napi::CallbackInfo& info, kite::IndexKind* kind, kite::Metric* metric) {
    const std::string k = argString(info, 0, "indexType");
    const std::string m = argString(info, 1, "metric");
    if (!kite::parseIndexKind(k, kind)) {
      throwCoded(info.Env(), kite::ERR_BAD_PARAM,
                 "unknown index type '" + k + "' (expected FLAT, IVF_FLAT, IVF_SQ8, IVF_PQ or HNSW)");
    }
    if (!kite::parseMetric(m, metric)) {
      throwCoded(info.Env(), kite::ERR_BAD_PARAM, "unknown metric '" + m + "' (expected L2, IP or COSINE)");
    }
  }

  // create(indexType, metric, dim, params) -> NativeIndex
  static Napi::Value create(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    kite::IndexKind kind;
    kite::Metric metric;
    readKindMetric(info, &kind, &metric);
    const int dim = static_cast<int>(argInt(info, 2, "dim", 1, 32768));
    const kite::BuildParams p = readParams(info, 3);
    try {
      return wrap(env, std::make_shared<kite::IndexCore>(kind, metric, dim, p));
    } catch (const CodedError& e) {
      throwCoded(env, e.code(), e.what());
    } catch (const std::exception& e) {
      throwCoded(env, kite::ERR_INTERNAL, e.what());
    }
  }

  // deserialize(indexType, metric, dim, params, buf: Uint8Array, offset) -> Promise<NativeIndex>
  // At buf[offset]: u64 payload length, u64 checksum, payload (faiss write_index bytes).
  static Napi::Value deserialize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    kite::IndexKind kind;
    kite::Metric metric;
    readKindMetric(info, &kind, &metric);
    const int dim = static_cast<int>(argInt(info, 2, "dim", 1, 32768));
    const kite::BuildParams p = readParams(info, 3);
    auto buf = argTyped<uint8_t>(info, 4, napi_uint8_array, "buffer", "Uint8Array or Buffer");
    const size_t offset = static_cast<size_t>(argInt(info, 5, "offset", 0, static_cast<int64_t>(buf.ByteLength())));
    const uint8_t* base = buf.Data();
    const size_t size = buf.ByteLength();
    if (size - offset < kFrameBytes) throwCoded(env, kite::ERR_BAD_DATA, "serialized index is truncated (no payload frame)");
    const uint64_t payloadLen = getU64(base + offset);
    const uint64_t sum = getU64(base + offset + 8);
    if (payloadLen != size - offset - kFrameBytes) {
      throwCoded(env, kite::ERR_BAD_DATA, "serialized index is truncated or padded: payload should be " +
                                              std::to_string(payloadLen) + " bytes, buffer holds " +
                                              std::to_string(size - offset - kFrameBytes));
    }
    auto result = std::make_shared<std::shared_ptr<kite::IndexCore>>();
    const uint8_t* payload = base + offset + kFrameBytes;
    Job* job = new Job(
        env,
        [=]() {
          if (checksum(payload, payloadLen) != sum) {
            throw CodedError(kite::ERR_BAD_DATA, "serialized index is corrupt (checksum mismatch)");
          }
          *result = std::shared_ptr<kite::IndexCore>(
              kite::IndexCore::deserialize(kind, metric, dim, p, payload, static_cast<size_t>(payloadLen)));
        },
        [=](Napi::Env e) -> Napi::Value { return wrap(e, *result); });
    job->keep(buf);
    return job->start();
  }

  std::shared_ptr<kite::IndexCore> live(Napi::Env env) const {
    if (!core_) throwCoded(env, kite::ERR_FREED, "the index was freed; create or deserialize a new one");
    return core_;
  }

  void syncExternalMemory(Napi::Env env) {
    const int64_t now = core_ ? static_cast<int64_t>(core_->memoryUsage()) : 0;
    if (now != reported_) {
      Napi::MemoryManagement::AdjustExternalMemory(env, now - reported_);
      reported_ = now;
    }
  }

  // Completion of a mutating job: the wrapper (kept alive by the job) reports the new native memory size to V8.
  Job::Done syncDone() {
    return [this](Napi::Env e) -> Napi::Value {
      syncExternalMemory(e);
      return e.Undefined();
    };
  }

  int64_t vectorCount(Napi::Env env, size_t floats, int dim, const char* what) const {
    if (floats % static_cast<size_t>(dim) != 0) {
      throwCoded(env, kite::ERR_DIMENSION, std::string(what) + " length " + std::to_string(floats) +
                                               " is not a multiple of dim " + std::to_string(dim));
    }
    return static_cast<int64_t>(floats / static_cast<size_t>(dim));
  }

  // train(vectors: Float32Array) -> Promise<void>
  Napi::Value train(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto core = live(env);
    auto x = argTyped<float>(info, 0, napi_float32_array, "vectors", "Float32Array");
    const int64_t n = vectorCount(env, x.ElementLength(), core->dim(), "vectors");
    const float* data = x.Data();
    Job* job = new Job(env, [core, n, data]() { core->train(n, data); }, syncDone());
    job->keep(x);
    job->keep(info.This());
    return job->start();
  }

  // add(vectors: Float32Array, ids: BigInt64Array) -> Promise<void>
  Napi::Value add(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto core = live(env);
    auto x = argTyped<float>(info, 0, napi_float32_array, "vectors", "Float32Array");
    auto ids = argTyped<int64_t>(info, 1, napi_bigint64_array, "ids", "BigInt64Array");
    const int64_t n = vectorCount(env, x.ElementLength(), core->dim(), "vectors");
    if (static_cast<int64_t>(ids.ElementLength()) != n) {
      throwCoded(env, kite::ERR_BAD_PARAM, "ids length " + std::to_string(ids.ElementLength()) +
                                               " does not match the number of vectors " + std::to_string(n));
    }
    const float* data = x.Data();
    const int64_t* idData = ids.Data();
    Job* job = new Job(env, [core, n, data, idData]() { core->add(n, data, idData); }, syncDone());
    job->keep(x);
    job->keep(ids);
    job->keep(info.This());
    return job->start();
  }

  // search(queries, k, nprobe, ef, filter: Uint8Array|null, outDistances: Float32Array, outIds: BigInt64Array)
  Napi::Value search(const Napi::CallbackInfo& info) { return searchImpl(info, false); }
  // referenceSearch(queries, k, ef, outDistances, outIds): faiss's own HNSW search (tests only).
  Napi::Value referenceSearch(const Napi::CallbackInfo& info) { return searchImpl(info, true); }

  Napi::Value searchImpl(const Napi::CallbackInfo& info, bool reference) {
    Napi::Env env = info.Env();
    auto core = live(env);
    auto q = argTyped<float>(info, 0, napi_float32_array, "queries", "Float32Array");
    kite::SearchRequest req;
    req.nq = vectorCount(env, q.ElementLength(), core->dim(), "queries");
    req.queries = q.Data();
    req.k = argInt(info, 1, "k", 1, 1 << 20);
    size_t at = 2;
    if (!reference) req.nprobe = static_cast<int>(argInt(info, at++, "nprobe", 1, 1 << 20));
    req.ef = static_cast<int>(argInt(info, at++, "ef", 0, 1 << 20));
    Napi::Value filterArg = reference ? env.Null() : info[at++];
    if (!filterArg.IsNull() && !filterArg.IsUndefined()) {
      auto f = argTyped<uint8_t>(info, at - 1, napi_uint8_array, "filter", "Uint8Array");
      req.filter = f.Data();
      req.filterBytes = f.ByteLength();
      // An empty Uint8Array has a null data pointer: it still means "no row allowed".
      static const uint8_t kNone = 0;
      if (req.filter == nullptr) {
        req.filter = &kNone;
        req.filterBytes = 0;
      }
    }
    auto outD = argTyped<float>(info, at, napi_float32_array, "outDistances", "Float32Array");
    auto outI = argTyped<int64_t>(info, at + 1, napi_bigint64_array, "outIds", "BigInt64Array");
    const size_t total = static_cast<size_t>(req.nq) * static_cast<size_t>(req.k);
    if (outD.ElementLength() != total || outI.ElementLength() != total) {
      throwCoded(env, kite::ERR_BAD_PARAM, "output arrays must hold nq*k = " + std::to_string(total) + " elements");
    }
    req.outDistances = outD.Data();
    req.outIds = outI.Data();
    auto* job = new SearchJob(env, env.GetInstanceData<AddonData>()->completions, [core, req, reference]() {
      if (reference) core->referenceHnswSearch(req);
      else core->search(req);
    });
    job->keep(q);
    if (req.filter) job->keep(info[at - 1]);
    job->keep(outD);
    job->keep(outI);
    return job->start();
  }

  // serialize(prefix: Uint8Array) -> Promise<Buffer>: prefix, u64 payload length, u64 checksum, payload.
  Napi::Value serialize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto core = live(env);
    auto prefix = argTyped<uint8_t>(info, 0, napi_uint8_array, "prefix", "Uint8Array");
    auto bytes = std::make_shared<std::vector<uint8_t>>(prefix.Data(), prefix.Data() + prefix.ByteLength());
    const size_t payloadAt = bytes->size() + kFrameBytes;
    Job* job = new Job(
        env,
        [core, bytes, payloadAt]() {
          bytes->resize(payloadAt);
          core->serialize(*bytes);
          const size_t len = bytes->size() - payloadAt;
          putU64(bytes->data() + payloadAt - kFrameBytes, len);
          putU64(bytes->data() + payloadAt - 8, checksum(bytes->data() + payloadAt, len));
        },
        [bytes](Napi::Env e) -> Napi::Value {
          // Hand the vector's memory to the Buffer without copying it.
          auto* owned = new std::vector<uint8_t>(std::move(*bytes));
          return Napi::Buffer<uint8_t>::New(e, owned->data(), owned->size(),
                                            [](Napi::Env, uint8_t*, std::vector<uint8_t>* v) { delete v; }, owned);
        });
    job->keep(info.This());
    return job->start();
  }

  Napi::Value ntotal(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(live(info.Env())->ntotal()));
  }
  Napi::Value isTrained(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), live(info.Env())->isTrained());
  }
  Napi::Value memoryUsage(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(live(info.Env())->memoryUsage()));
  }

  Napi::Value params(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto core = live(env);
    // Fixed at creation (or read from the stored index on deserialize), so reading them needs no lock.
    const kite::BuildParams& p = core->params();
    Napi::Object o = Napi::Object::New(env);
    switch (core->kind()) {
      case kite::IndexKind::FLAT:
        break;
      case kite::IndexKind::HNSW:
        o.Set("M", p.M);
        o.Set("efConstruction", p.efConstruction);
        break;
      case kite::IndexKind::IVF_PQ:
        o.Set("m", p.m);
        o.Set("nbits", p.nbits);
        o.Set("nlist", p.nlist);
        break;
      default:
        o.Set("nlist", p.nlist);
    }
    return o;
  }

  Napi::Value free(const Napi::CallbackInfo& info) {
    core_.reset();
    syncExternalMemory(info.Env());
    return info.Env().Undefined();
  }

  std::shared_ptr<kite::IndexCore> core_;
  int64_t reported_ = 0;
};

Napi::Value setThreads(const Napi::CallbackInfo& info) {
  const int search = static_cast<int>(argInt(info, 0, "search", 0, 1024));
  const int build = static_cast<int>(argInt(info, 1, "build", 0, 1024));
  kite::threadConfig().search.store(search);
  kite::threadConfig().build.store(build);
  return info.Env().Undefined();
}

Napi::Value getThreads(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("search", kite::threadConfig().search.load());
  o.Set("build", kite::threadConfig().build.load());
  o.Set("hardware", kite::hardwareThreads());
  o.Set("searchPool", static_cast<double>(SearchThreads::instance().size()));
  o.Set("blas", openblas_get_num_threads());
  return o;
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  Napi::Function ctor = NativeIndex::define(env);
  data->ctor = Napi::Persistent(ctor);
  data->completions = new Completions(env);
  env.SetInstanceData<AddonData>(data);
  exports.Set("NativeIndex", ctor);
  exports.Set("setThreads", Napi::Function::New<setThreads>(env, "setThreads"));
  exports.Set("getThreads", Napi::Function::New<getThreads>(env, "getThreads"));
  return exports;
}

}  // namespace

NODE_API_MODULE(kite_faiss, init)
