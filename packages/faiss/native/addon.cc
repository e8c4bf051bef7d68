// N-API glue for @kite/faiss. Arguments are checked here (the TypeScript wrapper checks them too, with friendlier
// messages) so that no call from JS can crash the process. Bulk calls (train, add, serialize, deserialize) run as
// AsyncWorkers on the libuv pool; searches run on the addon's own search threads (see SearchThreads). Every call
// keeps the JS typed arrays it reads or writes referenced until it finishes; the IndexCore itself is held through
// a shared_ptr, so free() while a call is in flight only drops the wrapper's reference.
#include <napi.h>
#include <uv.h>

#include <faiss/impl/FaissException.h>
#include <faiss/utils/utils.h>

#include <atomic>
#include <chrono>
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

#include "binary.h"
#include "core.h"
#include "hnsw-build.h"

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

// What a Job and a SearchJob share: the promise, the work and how it ended, and the JS values (input and output
// arrays, the wrapper) kept alive until it is settled.
class PromisedWork {
 public:
  using Result = std::function<Napi::Value(Napi::Env)>;

  PromisedWork(Napi::Env env, std::function<void()> work)
      : deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)) {}

  void keep(Napi::Value v) {
    if (v.IsObject()) kept_.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }

  Napi::Promise promise() const { return deferred_.Promise(); }

  // Any thread: runs the work, turning any exception into (code, message).
  void run() {
    failed_ = true;
    try {
      work_();
      failed_ = false;
    } catch (const CodedError& e) {
      code_ = e.code();
      message_ = e.what();
    } catch (const faiss::FaissException& e) {
      message_ = std::string("faiss: ") + e.what();
    } catch (const std::bad_alloc&) {
      message_ = "out of memory in faiss call";
    } catch (const std::exception& e) {
      message_ = e.what();
    } catch (...) {
      message_ = "unknown native error";
    }
  }

  // JS thread, inside a HandleScope: rejects with the coded error, or resolves with result(env) (undefined if none).
  void settle(Napi::Env env, const Result& result) {
    if (failed_) {
      deferred_.Reject(codedError(env, code_, message_).Value());
      return;
    }
    try {
      deferred_.Resolve(result ? result(env) : env.Undefined());
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  void reject(const Napi::Error& e) { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<void()> work_;
  std::vector<Napi::ObjectReference> kept_;
  bool failed_ = false;
  const char* code_ = kite::ERR_INTERNAL;  // unless a CodedError says otherwise
  std::string message_;
};

// A number from the environment within [min, max], else the default.
long envLong(const char* name, long min, long max, long dflt) {
  if (const char* env = std::getenv(name)) {
    const long n = std::strtol(env, nullptr, 10);
    if (n >= min && n <= max) return n;
  }
  return dflt;
}

// A promise-returning job on the libuv pool.
class Job : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Done = PromisedWork::Result;

  Job(Napi::Env env, Work work, Done done)
      : Napi::AsyncWorker(env, "kite-faiss"), state_(env, std::move(work)), done_(std::move(done)) {}

  // Keeps a JS value (an input or output array, the wrapper) alive until the job completes.
  void keep(Napi::Value v) { state_.keep(v); }

  Napi::Promise start() {
    Napi::Promise p = state_.promise();
    Queue();
    return p;
  }

 protected:
  void Execute() override { state_.run(); }

  void OnOK() override {
    Napi::HandleScope scope(Env());
    state_.settle(Env(), done_);
  }

  void OnError(const Napi::Error& e) override { state_.reject(e); }

 private:
  PromisedWork state_;
  Done done_;
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
    static SearchThreads* pool = new SearchThreads(threadCount(), spinMicros());  // never destroyed: threads outlive main()
    return *pool;
  }

  size_t size() const { return workers_.size(); }
  int spinUs() const { return static_cast<int>(spin_.count()); }

  void post(std::function<void()> fn) {
    std::unique_lock<std::mutex> lk(mu_);
    if (!idle_.empty()) {
      Worker* w = idle_.back();  // most recently idle: warmest caches
      idle_.pop_back();
      w->job = std::move(fn);
      w->hasJob.store(true, std::memory_order_release);
      const bool wake = w->parked;
      lk.unlock();
      if (wake) w->cv.notify_one();  // a spinning worker sees hasJob by itself: no futex, no cross-CPU wake
      return;
    }
    queue_.push_back(std::move(fn));
  }

 private:
  struct Worker {
    std::condition_variable cv;
    std::function<void()> job;          // guarded by mu_
    std::atomic<bool> hasJob{false};    // set with job; read without the lock while spinning
    bool parked = false;                // guarded by mu_: waiting on cv, needs notify
  };

  static size_t threadCount() {
    return static_cast<size_t>(envLong("KITE_FAISS_SEARCH_THREADS", 1, 256, std::max(1, kite::hardwareThreads())));
  }

  static long spinMicros() { return envLong("KITE_FAISS_SEARCH_SPIN_US", 0, 100000, kDefaultSpinUs); }

  SearchThreads(size_t n, long spinUs) : spin_(spinUs) {
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
    w->hasJob.store(true, std::memory_order_relaxed);
    return true;
  }

  // Idle: first spin for up to spin_ on hasJob (a caller searching one query after another posts its next search
  // within microseconds, and a worker that is still running takes it at once), then park on the condition variable.
  void waitForJob(Worker* w, std::unique_lock<std::mutex>& lk) {
    idle_.push_back(w);
    if (spin_.count() > 0) {
      lk.unlock();
      const auto until = std::chrono::steady_clock::now() + spin_;
      while (!w->hasJob.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < until) {
        __builtin_ia32_pause();
      }
      lk.lock();
    }
    if (!w->hasJob.load(std::memory_order_acquire)) {
      w->parked = true;
      w->cv.wait(lk, [w] { return w->hasJob.load(std::memory_order_acquire); });
      w->parked = false;
    }
  }

  void loop(Worker* w) {
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      if (!w->hasJob.load(std::memory_order_acquire) && !takeQueued(w)) waitForJob(w, lk);
      std::function<void()> job = std::move(w->job);
      w->job = nullptr;
      w->hasJob.store(false, std::memory_order_relaxed);
      lk.unlock();
      job();
      lk.lock();
    }
  }

  // How long an idle search thread spins before it sleeps (KITE_FAISS_SEARCH_SPIN_US). It costs at most this much
  // CPU after a search when no other search follows (about 25 us per one-query search, measured), and spares the
  // futex wake-up of a parked thread, which on a busy host waits for the scheduler. Through the whole server at 16
  // concurrent nq=1 searches turning it off saved no CPU per search, measurably (packages/faiss/README.md).
  static constexpr long kDefaultSpinUs = 50;

  const std::chrono::microseconds spin_;
  std::mutex mu_;
  std::vector<Worker*> workers_;
  std::vector<Worker*> idle_;
  std::deque<std::function<void()>> queue_;
};

class SearchJob;
// Time the search threads spent running searches, for the benchmark's split of a call into search and hand-off.
static std::atomic<uint64_t> g_searchBusyNs{0};

// Per environment: finished searches queue here and are settled on the JS thread, woken by one uv_async handle.
// The handle is referenced only while searches are pending, so it never keeps the process alive by itself.
//
// Polling: while fewer searches are pending than there are search threads (so a core is free), the event loop is
// kept polling with a uv_idle handle for up to KITE_FAISS_SEARCH_POLL_US after the latest search started, instead
// of sleeping in epoll until the uv_async write wakes it. The loop still runs timers and I/O (it polls with a zero
// timeout); it only does not go to sleep, which on a VM saves the wake-up of an idle vCPU on every short search.
// Past the bound, or once every core has a search, it sleeps as usual and the uv_async wakes it.
class Completions {
 public:
  explicit Completions(Napi::Env env) : env_(env), context_(env, "kite-faiss-search") {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) throw Napi::Error::New(env, "no uv loop");
    uv_async_init(loop, &async_, &Completions::onAsync);
    async_.data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(&async_));
    uv_idle_init(loop, &idle_);
    idle_.data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(&idle_));
    napi_add_env_cleanup_hook(env, &Completions::cleanup, this);
  }

  // JS thread.
  void started() {
    if (pending_++ == 0) uv_ref(reinterpret_cast<uv_handle_t*>(&async_));
    if (pollNs() == 0) return;
    if (pending_ < SearchThreads::instance().size()) {
      pollUntil_ = uv_hrtime() + pollNs();
      if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&idle_))) {
        {
          std::lock_guard<std::mutex> lk(mu_);
          polling_ = true;
        }
        uv_idle_start(&idle_, &Completions::onIdle);
      }
    } else {
      stopPolling();
    }
  }

  // Any thread.
  void finished(SearchJob* job) {
    bool wake;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (closed_) return;  // the environment is gone; so are the promise and the arrays
      done_.push_back(job);
      wake = !polling_;  // a polling loop finds it by itself
    }
    if (wake) uv_async_send(&async_);
  }

  static uint64_t pollNs() {
    static const uint64_t ns =
        static_cast<uint64_t>(envLong("KITE_FAISS_SEARCH_POLL_US", 0, 100000, kDefaultPollUs)) * 1000;
    return ns;
  }

 private:
  // Off by default: polling keeps the event loop's core busy for the whole search while a core is free, which
  // doubled the process's CPU per one-query search at one request at a time (480 -> 1040 us for a 0.5 ms search)
  // to save one uv_async wake-up (10-40 us); packages/faiss/README.md.
  static constexpr long kDefaultPollUs = 0;

  static void onAsync(uv_async_t* h) { static_cast<Completions*>(h->data)->drain(); }
  static void onIdle(uv_idle_t* h) {
    auto* c = static_cast<Completions*>(h->data);
    c->drain();
    if (c->pending_ == 0 || uv_hrtime() > c->pollUntil_) c->stopPolling();
  }
  void stopPolling() {
    if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&idle_))) return;
    uv_idle_stop(&idle_);
    bool any;
    {
      std::lock_guard<std::mutex> lk(mu_);
      polling_ = false;
      any = !done_.empty();  // finished while polling: nobody sent the wake-up
    }
    if (any) uv_async_send(&async_);
  }
  static void cleanup(void* self) {
    auto* c = static_cast<Completions*>(self);
    std::lock_guard<std::mutex> lk(c->mu_);
    c->closed_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->async_), nullptr);  // the object is leaked on purpose: workers may still hold it
    uv_close(reinterpret_cast<uv_handle_t*>(&c->idle_), nullptr);
  }
  void drain();

  Napi::Env env_;
  // Settling promises inside a callback scope makes Node run their reactions (the microtask queue) when it closes,
  // as it does after an AsyncWorker's OnOK.
  Napi::AsyncContext context_;
  uv_async_t async_{};
  uv_idle_t idle_{};
  uint64_t pollUntil_ = 0;  // JS thread
  std::mutex mu_;
  std::vector<SearchJob*> done_;
  bool polling_ = false;  // guarded by mu_
  bool closed_ = false;
  size_t pending_ = 0;
};

// One search: created and settled on the JS thread, run on a search thread.
class SearchJob {
 public:
  SearchJob(Napi::Env env, Completions* done, std::function<void()> work) : state_(env, std::move(work)), done_(done) {}

  void keep(Napi::Value v) { state_.keep(v); }

  Napi::Promise start() {
    Napi::Promise p = state_.promise();
    done_->started();
    SearchThreads::instance().post([this] {
      const uint64_t t0 = uv_hrtime();
      state_.run();
      g_searchBusyNs.fetch_add(uv_hrtime() - t0, std::memory_order_relaxed);
      done_->finished(this);
    });
    return p;
  }

  // JS thread, inside a HandleScope.
  void settle(Napi::Env env) { state_.settle(env, nullptr); }

 private:
  PromisedWork state_;
  Completions* done_;
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
  Napi::FunctionReference binaryCtor;
  Completions* completions = nullptr;
};

// What both index wrappers share: the native core they own (empty once freed) and the external memory reported to V8
// for it, so that V8's heap accounting sees the index and gives the memory back when the wrapper is collected.
template <class Self, class Core>
class CoreWrap : public Napi::ObjectWrap<Self> {
 public:
  explicit CoreWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Self>(info) {}

  ~CoreWrap() override {
    // Runs from the GC finalizer on the JS thread: give back the external memory we reported. The raw call (not the
    // throwing C++ wrapper) because a destructor must not throw.
    if (reported_ != 0) {
      int64_t ignored = 0;
      napi_adjust_external_memory(this->Env(), -reported_, &ignored);
    }
  }

 protected:
  std::shared_ptr<Core> live(Napi::Env env) const {
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

  // A new wrapper (made by `ctor`) owning `core`, its memory reported to V8.
  static Napi::Object wrapCore(Napi::Env env, Napi::FunctionReference& ctor, std::shared_ptr<Core> core) {
    Napi::Object obj = ctor.New({});
    Self* self = Self::Unwrap(obj);
    self->core_ = std::move(core);
    self->syncExternalMemory(env);
    return obj;
  }

  // The deserialize job of both index kinds. At buf[offset]: u64 payload length, u64 checksum, payload. The frame is
  // checked here; the checksum and `load(payload, length)` run off the event loop, and the promise resolves to a new
  // wrapper of the loaded core.
  template <class Load>
  static Napi::Value deserializeFrame(Napi::Env env, const Napi::TypedArrayOf<uint8_t>& buf, size_t offset, Load load) {
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
    auto result = std::make_shared<std::shared_ptr<Core>>();
    const uint8_t* payload = base + offset + kFrameBytes;
    Job* job = new Job(
        env,
        [=]() {
          if (checksum(payload, payloadLen) != sum) {
            throw CodedError(kite::ERR_BAD_DATA, "serialized index is corrupt (checksum mismatch)");
          }
          *result = std::shared_ptr<Core>(load(payload, static_cast<size_t>(payloadLen)));
        },
        [=](Napi::Env e) -> Napi::Value { return Self::wrap(e, *result); });
    job->keep(buf);
    return job->start();
  }

  // train(vectors) and add(vectors, ids) of both index kinds: `vectors` a typed array of T (`type`, named `typeName`),
  // `rows(env, core, vectors)` the number of vectors it holds. Both run off the event loop and then report the new memory.
  template <class T, class Rows>
  Napi::Value trainRows(const Napi::CallbackInfo& info, napi_typedarray_type type, const char* typeName, Rows rows) {
    Napi::Env env = info.Env();
    auto core = live(env);
    auto x = argTyped<T>(info, 0, type, "vectors", typeName);
    const int64_t n = rows(env, *core, x);
    const T* data = x.Data();
    Job* job = new Job(env, [core, n, data]() { core->train(n, data); }, syncDone());
    job->keep(x);
    job->keep(info.This());
    return job->start();
  }

  template <class T, class Rows>
  Napi::Value addRows(const Napi::CallbackInfo& info, napi_typedarray_type type, const char* typeName, Rows rows) {
    Napi::Env env = info.Env();
    auto core = live(env);
    auto x = argTyped<T>(info, 0, type, "vectors", typeName);
    auto ids = argTyped<int64_t>(info, 1, napi_bigint64_array, "ids", "BigInt64Array");
    const int64_t n = rows(env, *core, x);
    if (static_cast<int64_t>(ids.ElementLength()) != n) {
      throwCoded(env, kite::ERR_BAD_PARAM, "ids length " + std::to_string(ids.ElementLength()) +
                                               " does not match the number of vectors " + std::to_string(n));
    }
    const T* data = x.Data();
    const int64_t* idData = ids.Data();
    Job* job = new Job(env, [core, n, data, idData]() { core->add(n, data, idData); }, syncDone());
    job->keep(x);
    job->keep(ids);
    job->keep(info.This());
    return job->start();
  }

  std::shared_ptr<Core> core_;
  int64_t reported_ = 0;
};

class NativeIndex : public CoreWrap<NativeIndex, kite::IndexCore> {
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
                           InstanceMethod<&NativeIndex::searchRows>("searchRows"),
                           InstanceMethod<&NativeIndex::serialize>("serialize"),
                           InstanceMethod<&NativeIndex::ntotal>("ntotal"),
                           InstanceMethod<&NativeIndex::writersWaiting>("writersWaiting"),
                           InstanceMethod<&NativeIndex::isTrained>("isTrained"),
                           InstanceMethod<&NativeIndex::memoryUsage>("memoryUsage"),
                           InstanceMethod<&NativeIndex::params>("params"),
                           InstanceMethod<&NativeIndex::free>("free"),
                       });
  }

  explicit NativeIndex(const Napi::CallbackInfo& info) : CoreWrap(info) {}

 private:
  friend class CoreWrap<NativeIndex, kite::IndexCore>;

  static Napi::Object wrap(Napi::Env env, std::shared_ptr<kite::IndexCore> core) {
    return wrapCore(env, env.GetInstanceData<AddonData>()->ctor, std::move(core));
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
    return deserializeFrame(env, buf, offset, [=](const uint8_t* payload, size_t len) {
      return kite::IndexCore::deserialize(kind, metric, dim, p, payload, len);
    });
  }

  static int64_t vectorCount(Napi::Env env, size_t floats, int dim, const char* what) {
    if (floats % static_cast<size_t>(dim) != 0) {
      throwCoded(env, kite::ERR_DIMENSION, std::string(what) + " length " + std::to_string(floats) +
                                               " is not a multiple of dim " + std::to_string(dim));
    }
    return static_cast<int64_t>(floats / static_cast<size_t>(dim));
  }

  // The vectors `x` holds for train and add: a whole number of dim floats.
  static int64_t floatRows(Napi::Env env, const kite::IndexCore& core, const Napi::Float32Array& x) {
    return vectorCount(env, x.ElementLength(), core.dim(), "vectors");
  }

  // train(vectors: Float32Array) -> Promise<void>
  Napi::Value train(const Napi::CallbackInfo& info) {
    return trainRows<float>(info, napi_float32_array, "Float32Array", floatRows);
  }

  // add(vectors: Float32Array, ids: BigInt64Array) -> Promise<void>
  Napi::Value add(const Napi::CallbackInfo& info) {
    return addRows<float>(info, napi_float32_array, "Float32Array", floatRows);
  }

  // search(queries, k, nprobe, ef, filter: Uint8Array|null, outDistances: Float32Array, outIds: BigInt64Array)
  Napi::Value search(const Napi::CallbackInfo& info) { return searchImpl(info, false); }
  // referenceSearch(same arguments as search): faiss's own search call for HNSW and IVF (tests only).
  Napi::Value referenceSearch(const Napi::CallbackInfo& info) { return searchImpl(info, true); }

  // searchRows(queries, k, rows: Int32Array, outDistances, outIds) -> boolean: synchronous exact top-k over the
  // listed rows (see IndexCore::searchRows); false when this index or size takes search() instead.
  Napi::Value searchRows(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto core = live(env);
    auto q = argTyped<float>(info, 0, napi_float32_array, "queries", "Float32Array");
    const int64_t nq = vectorCount(env, q.ElementLength(), core->dim(), "queries");
    const int64_t k = argInt(info, 1, "k", 1, 1 << 20);
    auto rows = argTyped<int32_t>(info, 2, napi_int32_array, "rows", "Int32Array");
    auto outD = argTyped<float>(info, 3, napi_float32_array, "outDistances", "Float32Array");
    auto outI = argTyped<int64_t>(info, 4, napi_bigint64_array, "outIds", "BigInt64Array");
    const size_t total = static_cast<size_t>(nq) * static_cast<size_t>(k);
    if (outD.ElementLength() != total || outI.ElementLength() != total) {
      throwCoded(env, kite::ERR_BAD_PARAM, "output arrays must hold nq*k = " + std::to_string(total) + " elements");
    }
    try {
      return Napi::Boolean::New(env, core->searchRows(nq, q.Data(), k, rows.Data(), rows.ElementLength(), outD.Data(), outI.Data()));
    } catch (const CodedError& e) {
      throwCoded(env, e.code(), e.what());
    } catch (const std::exception& e) {
      throwCoded(env, kite::ERR_INTERNAL, e.what());
    }
  }

  Napi::Value searchImpl(const Napi::CallbackInfo& info, bool reference) {
    Napi::Env env = info.Env();
    auto core = live(env);
    auto q = argTyped<float>(info, 0, napi_float32_array, "queries", "Float32Array");
    kite::SearchRequest req;
    req.nq = vectorCount(env, q.ElementLength(), core->dim(), "queries");
    req.queries = q.Data();
    req.k = argInt(info, 1, "k", 1, 1 << 20);
    size_t at = 2;
    req.nprobe = static_cast<int>(argInt(info, at++, "nprobe", 1, 1 << 20));
    req.ef = static_cast<int>(argInt(info, at++, "ef", 0, 1 << 20));
    Napi::Value filterArg = info[at++];
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
      if (reference) core->referenceSearch(req);
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
  Napi::Value writersWaiting(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), live(info.Env())->writersWaiting());
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
};

// Binary vectors (BIN_FLAT, BIN_IVF_FLAT; HAMMING, JACCARD): the same threading model as NativeIndex (train, add,
// serialize and deserialize as Jobs on the libuv pool; searches as SearchJobs on the search threads).
class NativeBinaryIndex : public CoreWrap<NativeBinaryIndex, kite::BinaryCore> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeBinaryIndex",
                       {
                           StaticMethod<&NativeBinaryIndex::create>("create"),
                           StaticMethod<&NativeBinaryIndex::deserialize>("deserialize"),
                           InstanceMethod<&NativeBinaryIndex::train>("train"),
                           InstanceMethod<&NativeBinaryIndex::add>("add"),
                           InstanceMethod<&NativeBinaryIndex::search>("search"),
                           InstanceMethod<&NativeBinaryIndex::serialize>("serialize"),
                           InstanceMethod<&NativeBinaryIndex::ntotal>("ntotal"),
                           InstanceMethod<&NativeBinaryIndex::isTrained>("isTrained"),
                           InstanceMethod<&NativeBinaryIndex::nlist>("nlist"),
                           InstanceMethod<&NativeBinaryIndex::free>("free"),
                       });
  }

  explicit NativeBinaryIndex(const Napi::CallbackInfo& info) : CoreWrap(info) {}

 private:
  friend class CoreWrap<NativeBinaryIndex, kite::BinaryCore>;

  static Napi::Object wrap(Napi::Env env, std::shared_ptr<kite::BinaryCore> core) {
    return wrapCore(env, env.GetInstanceData<AddonData>()->binaryCtor, std::move(core));
  }

  static void readKindMetric(const Napi::CallbackInfo& info, kite::BinaryKind* kind, kite::BinaryMetric* metric) {
    const std::string k = argString(info, 0, "indexType");
    const std::string m = argString(info, 1, "metric");
    if (!kite::parseBinaryKind(k, kind)) {
      throwCoded(info.Env(), kite::ERR_BAD_PARAM, "unknown binary index type '" + k + "' (expected BIN_FLAT or BIN_IVF_FLAT)");
    }
    if (!kite::parseBinaryMetric(m, metric)) {
      throwCoded(info.Env(), kite::ERR_BAD_PARAM, "unknown binary metric '" + m + "' (expected HAMMING or JACCARD)");
    }
  }

  static int readDim(const Napi::CallbackInfo& info, size_t i) {
    const int dim = static_cast<int>(argInt(info, i, "dim", 8, 32768 * 8));
    if (dim % 8 != 0) throwCoded(info.Env(), kite::ERR_BAD_PARAM, "dim must be a multiple of 8, got " + std::to_string(dim));
    return dim;
  }

  // create(indexType, metric, dim (bits), nlist) -> NativeBinaryIndex
  static Napi::Value create(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    kite::BinaryKind kind;
    kite::BinaryMetric metric;
    readKindMetric(info, &kind, &metric);
    const int dim = readDim(info, 2);
    const int nlist = static_cast<int>(argInt(info, 3, "nlist", 1, 65536));
    try {
      return wrap(env, std::make_shared<kite::BinaryCore>(kind, metric, dim, nlist));
    } catch (const CodedError& e) {
      throwCoded(env, e.code(), e.what());
    } catch (const std::exception& e) {
      throwCoded(env, kite::ERR_INTERNAL, e.what());
    }
  }

  // deserialize(indexType, metric, dim, buf: Uint8Array, offset) -> Promise<NativeBinaryIndex>
  // At buf[offset]: u64 payload length, u64 checksum, payload (faiss write_index_binary bytes).
  static Napi::Value deserialize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    kite::BinaryKind kind;
    kite::BinaryMetric metric;
    readKindMetric(info, &kind, &metric);
    const int dim = readDim(info, 2);
    auto buf = argTyped<uint8_t>(info, 3, napi_uint8_array, "buffer", "Uint8Array or Buffer");
    const size_t offset = static_cast<size_t>(argInt(info, 4, "offset", 0, static_cast<int64_t>(buf.ByteLength())));
    return deserializeFrame(env, buf, offset, [=](const uint8_t* payload, size_t len) {
      return kite::BinaryCore::deserialize(kind, metric, dim, payload, len);
    });
  }

  static int64_t codeCount(Napi::Env env, size_t bytes, int codeSize, const char* what) {
    if (bytes % static_cast<size_t>(codeSize) != 0) {
      throwCoded(env, kite::ERR_DIMENSION, std::string(what) + " length " + std::to_string(bytes) +
                                               " bytes is not a multiple of dim/8 = " + std::to_string(codeSize));
    }
    return static_cast<int64_t>(bytes / static_cast<size_t>(codeSize));
  }

  // The codes `x` holds for train and add: a whole number of dim/8 bytes.
  static int64_t codeRows(Napi::Env env, const kite::BinaryCore& core, const Napi::Uint8Array& x) {
    return codeCount(env, x.ByteLength(), core.codeSize(), "vectors");
  }

  // train(codes: Uint8Array) -> Promise<void>
  Napi::Value train(const Napi::CallbackInfo& info) {
    return trainRows<uint8_t>(info, napi_uint8_array, "Uint8Array", codeRows);
  }

  // add(codes: Uint8Array, ids: BigInt64Array) -> Promise<void>
  Napi::Value add(const Napi::CallbackInfo& info) {
    return addRows<uint8_t>(info, napi_uint8_array, "Uint8Array", codeRows);
  }

  // search(queries: Uint8Array, k, nprobe, filter: Uint8Array|null, outDistances: Float32Array, outIds: BigInt64Array)
  Napi::Value search(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto core = live(env);
    auto q = argTyped<uint8_t>(info, 0, napi_uint8_array, "queries", "Uint8Array");
    kite::BinarySearchRequest req;
    req.nq = codeCount(env, q.ByteLength(), core->codeSize(), "queries");
    req.queries = q.Data();
    req.k = argInt(info, 1, "k", 1, 1 << 20);
    req.nprobe = static_cast<int>(argInt(info, 2, "nprobe", 1, 1 << 20));
    Napi::Value filterArg = info[3];
    if (!filterArg.IsNull() && !filterArg.IsUndefined()) {
      auto f = argTyped<uint8_t>(info, 3, napi_uint8_array, "filter", "Uint8Array");
      req.filter = f.Data();
      req.filterBytes = f.ByteLength();
      static const uint8_t kNone = 0;
      if (req.filter == nullptr) {
        req.filter = &kNone;
        req.filterBytes = 0;
      }
    }
    auto outD = argTyped<float>(info, 4, napi_float32_array, "outDistances", "Float32Array");
    auto outI = argTyped<int64_t>(info, 5, napi_bigint64_array, "outIds", "BigInt64Array");
    const size_t total = static_cast<size_t>(req.nq) * static_cast<size_t>(req.k);
    if (outD.ElementLength() != total || outI.ElementLength() != total) {
      throwCoded(env, kite::ERR_BAD_PARAM, "output arrays must hold nq*k = " + std::to_string(total) + " elements");
    }
    req.outDistances = outD.Data();
    req.outIds = outI.Data();
    auto* job = new SearchJob(env, env.GetInstanceData<AddonData>()->completions, [core, req]() { core->search(req); });
    job->keep(q);
    if (req.filter) job->keep(info[3]);
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
  Napi::Value nlist(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), live(info.Env())->nlist());
  }
  Napi::Value free(const Napi::CallbackInfo& info) {
    core_.reset();
    syncExternalMemory(info.Env());
    return info.Env().Undefined();
  }
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
  o.Set("searchSpinUs", static_cast<double>(SearchThreads::instance().spinUs()));
  o.Set("searchBusyNs", static_cast<double>(g_searchBusyNs.load()));
  o.Set("searchPollUs", static_cast<double>(Completions::pollNs() / 1000));
  o.Set("blas", openblas_get_num_threads());
  return o;
}

// binding.gyp defines KITE_FAISS_LIBRARY as a bare word (avx2 or generic): gyp does not keep quotes in defines.
#ifndef KITE_FAISS_LIBRARY
#define KITE_FAISS_LIBRARY unknown
#endif
#define KITE_STRINGIFY_(x) #x
#define KITE_STRINGIFY(x) KITE_STRINGIFY_(x)

// Which faiss the addon was linked against: `library` is binding.gyp's choice (scripts/faiss-link.js: "avx2" for
// the archive built by scripts/install-faiss-simd.sh, "generic" for Debian's libfaiss); `compileOptions` is what
// that library itself says it was compiled with (faiss::get_compile_options(), e.g. "OPTIMIZE AVX2 ").
Napi::Value buildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("library", KITE_STRINGIFY(KITE_FAISS_LIBRARY));
  o.Set("compileOptions", faiss::get_compile_options());
  return o;
}

// Column comparison for filters (@kite/expr's kernels): bit r of out (32-bit words, LSB first) = data[r] op c for
// r < n, bits past n cleared. Ops as @kite/expr numbers them: 0 ==, 1 !=, 2 <, 3 <=, 4 >, 5 >=. Int64 columns
// compare exactly with an int64 constant; Int32/Float32/Float64 columns compare as doubles with a double constant
// (what the JavaScript operators do, NaN included). Runs on the calling thread: a pass over one column, a few
// hundred microseconds at most for a million rows.
template <class T, class V, class Cmp>
void compareWords(const T* d, V c, size_t n, uint32_t* out, Cmp cmp) {
  const size_t full = n / 32;
  for (size_t w = 0; w < full; ++w) {
    const T* x = d + w * 32;
    uint32_t bits = 0;
    for (int s = 0; s < 32; ++s) bits |= static_cast<uint32_t>(cmp(static_cast<V>(x[s]), c)) << s;
    out[w] = bits;
  }
  if (n % 32 != 0) {
    uint32_t bits = 0;
    for (size_t r = full * 32; r < n; ++r) bits |= static_cast<uint32_t>(cmp(static_cast<V>(d[r]), c)) << (r % 32);
    out[full] = bits;
  }
}

template <class T, class V>
void compareOp(int op, const T* d, V c, size_t n, uint32_t* out) {
  switch (op) {
    case 0: return compareWords(d, c, n, out, [](V a, V b) { return a == b; });
    case 1: return compareWords(d, c, n, out, [](V a, V b) { return a != b; });
    case 2: return compareWords(d, c, n, out, [](V a, V b) { return a < b; });
    case 3: return compareWords(d, c, n, out, [](V a, V b) { return a <= b; });
    case 4: return compareWords(d, c, n, out, [](V a, V b) { return a > b; });
    default: return compareWords(d, c, n, out, [](V a, V b) { return a >= b; });
  }
}

// compareColumn(op, data, c, n, out): see compareWords.
Napi::Value compareColumn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int op = static_cast<int>(argInt(info, 0, "op", 0, 5));
  if (info.Length() < 5 || !info[1].IsTypedArray()) throwCoded(env, kite::ERR_BAD_PARAM, "data must be a typed array");
  const Napi::TypedArray data = info[1].As<Napi::TypedArray>();
  Napi::Uint32Array out = argTyped<uint32_t>(info, 4, napi_uint32_array, "out", "a Uint32Array");
  const int64_t n = argInt(info, 3, "n", 0, static_cast<int64_t>(data.ElementLength()));
  if (out.ElementLength() < static_cast<size_t>((n + 31) / 32)) throwCoded(env, kite::ERR_BAD_PARAM, "out is too short for n rows");
  const size_t rows = static_cast<size_t>(n);
  uint32_t* words = out.Data();
  switch (data.TypedArrayType()) {
    case napi_bigint64_array: {
      if (!info[2].IsBigInt()) throwCoded(env, kite::ERR_BAD_PARAM, "an Int64 column compares with a bigint");
      bool lossless = false;
      const int64_t c = info[2].As<Napi::BigInt>().Int64Value(&lossless);
      if (!lossless) throwCoded(env, kite::ERR_BAD_PARAM, "the constant must fit in 64 signed bits");
      compareOp(op, data.As<Napi::TypedArrayOf<int64_t>>().Data(), c, rows, words);
      break;
    }
    case napi_int32_array:
    case napi_float32_array:
    case napi_float64_array: {
      if (!info[2].IsNumber()) throwCoded(env, kite::ERR_BAD_PARAM, "a number column compares with a number");
      const double c = info[2].As<Napi::Number>().DoubleValue();
      if (data.TypedArrayType() == napi_int32_array) compareOp(op, data.As<Napi::TypedArrayOf<int32_t>>().Data(), c, rows, words);
      else if (data.TypedArrayType() == napi_float32_array) compareOp(op, data.As<Napi::TypedArrayOf<float>>().Data(), c, rows, words);
      else compareOp(op, data.As<Napi::TypedArrayOf<double>>().Data(), c, rows, words);
      break;
    }
    default:
      throwCoded(env, kite::ERR_BAD_PARAM, "data must be a BigInt64Array, Int32Array, Float32Array or Float64Array");
  }
  return env.Undefined();
}

// Kite's HNSW insertion loop (hnsw-build.h): which loop and kernel cap later adds use, and what they resolve to here.
Napi::Value setHnswBuild(const Napi::CallbackInfo& info) {
  const std::string builder = argString(info, 0, "builder");
  const std::string simd = argString(info, 1, "simd");
  try {
    kite::setHnswBuildSettings(builder, simd);
  } catch (const std::invalid_argument& e) {
    throwCoded(info.Env(), kite::ERR_BAD_PARAM, e.what());
  }
  return info.Env().Undefined();
}

Napi::Value getHnswBuild(const Napi::CallbackInfo& info) {
  const kite::HnswBuildSettings s = kite::hnswBuildSettings();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("builder", s.builder);
  o.Set("simd", s.simd);
  o.Set("kernel", s.kernel);
  o.Set("error", s.error);
  return o;
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  Napi::Function ctor = NativeIndex::define(env);
  data->ctor = Napi::Persistent(ctor);
  data->completions = new Completions(env);
  env.SetInstanceData<AddonData>(data);
  exports.Set("NativeIndex", ctor);
  Napi::Function binaryCtor = NativeBinaryIndex::define(env);
  data->binaryCtor = Napi::Persistent(binaryCtor);
  exports.Set("NativeBinaryIndex", binaryCtor);
  exports.Set("setThreads", Napi::Function::New<setThreads>(env, "setThreads"));
  exports.Set("getThreads", Napi::Function::New<getThreads>(env, "getThreads"));
  exports.Set("buildInfo", Napi::Function::New<buildInfo>(env, "buildInfo"));
  exports.Set("compareColumn", Napi::Function::New<compareColumn>(env, "compareColumn"));
  exports.Set("setHnswBuild", Napi::Function::New<setHnswBuild>(env, "setHnswBuild"));
  exports.Set("getHnswBuild", Napi::Function::New<getHnswBuild>(env, "getHnswBuild"));
  return exports;
}

}  // namespace

NODE_API_MODULE(kite_faiss, init)
