// The C++ side of `pnpm --filter @kite/faiss run bench`: the same searches as bench.js, through faiss's own API,
// linked against the same libfaiss (g++ ... -lfaiss -lopenblas -fopenmp). bench.js drives it over stdin, one
// command per line, so that binding and C++ measurements of each setting alternate (the machine's background load
// then hits both alike); each command answers with one JSON line on stdout.
//
//   load DIR N DIM NQ K              read DIR/base.f32 (N*DIM), DIR/queries.f32 (NQ*DIM), DIR/gt.i64 (NQ*K)
//   build_hnsw M EFC                 IndexHNSWFlat(DIM, M), efConstruction=EFC, add all      -> {"build":s,"cpu":s}
//   build_ivf NLIST                  IndexIVFFlat(L2, NLIST), train+add all                   -> {"build":s,"cpu":s}
//                                    (OpenMP on all cores; "cpu": the process's CPU time during the build, all threads)
//   adopt hnsw|ivf FILE              replace that index with faiss::read_index(FILE): the binding's own index, so
//                                    that both sides search the same graph / the same lists   -> {"ok":true}
//   run hnsw|ivf VALUE NQ_PER_CALL STREAMS SECONDS
//       VALUE is efSearch (hnsw) or nprobe (ivf). STREAMS=1: calls of NQ_PER_CALL queries one after another, with
//       OpenMP on all cores for batches and on one thread for single queries (faiss parallelises over queries, so a
//       team only costs time there). STREAMS>1: that many threads each searching one query per call (one OpenMP
//       thread each), like a server. Goes round the query set until SECONDS passed (a slice: it need not finish a
//       pass, so that slices can be short)                                                  -> {"qps":x}
//   handoff hnsw|ivf VALUE SECONDS   one query per call, one call at a time, each handed to a worker thread and waited
//       for (std::condition_variable both ways, as in a thread pool): what any server that keeps its I/O thread
//       free pays per call, for comparison with the binding's own hand-off                -> {"qps":x}
//   recall hnsw|ivf VALUE            one pass over the queries in one call                    -> {"recall":r}
//   quit
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/index_io.h>
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using Clock = std::chrono::steady_clock;

static double cpuSeconds() {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

template <typename T>
static std::vector<T> readFile(const std::string& path, size_t count) {
  std::vector<T> v(count);
  std::ifstream f(path, std::ios::binary);
  if (!f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(count * sizeof(T)))) {
    std::fprintf(stderr, "baseline: cannot read %zu items from %s\n", count, path.c_str());
    std::exit(2);
  }
  return v;
}

struct Data {
  int n = 0, d = 0, nq = 0, k = 0;
  std::vector<float> base, queries;
  std::vector<int64_t> gt;
};

static double recallAt(const Data& c, const std::vector<int64_t>& labels) {
  size_t hit = 0;
  for (int i = 0; i < c.nq; ++i) {
    const int64_t* truth = &c.gt[size_t(i) * c.k];
    for (int j = 0; j < c.k; ++j) {
      const int64_t l = labels[size_t(i) * c.k + j];
      if (l >= 0 && std::find(truth, truth + c.k, l) != truth + c.k) ++hit;
    }
  }
  return double(hit) / (double(c.nq) * c.k);
}

using SearchFn = std::function<void(int64_t, const float*, float*, int64_t*)>;

// Time-bounded: calls until `seconds` passed, going round the query set; each stream has its own output buffers.
static void run(const Data& c, const SearchFn& search, int nqPerCall, int streams, double seconds) {
  const int defaultThreads = omp_get_num_procs();
  std::atomic<size_t> done{0};
  const auto t0 = Clock::now();
  if (streams <= 1) {
    omp_set_num_threads(nqPerCall > 1 ? defaultThreads : 1);
    std::vector<float> D(size_t(nqPerCall) * c.k);
    std::vector<int64_t> I(size_t(nqPerCall) * c.k);
    int i = 0;
    do {
      const int m = std::min(nqPerCall, c.nq - i);
      search(m, &c.queries[size_t(i) * c.d], D.data(), I.data());
      done += size_t(m);
      i = (i + m) % c.nq;
    } while (secondsSince(t0) < seconds);
  } else {
    std::atomic<size_t> next{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < streams; ++t) {
      threads.emplace_back([&]() {
        omp_set_num_threads(1);
        std::vector<float> D(c.k);
        std::vector<int64_t> I(c.k);
        do {
          const size_t i = next.fetch_add(1) % size_t(c.nq);
          search(1, &c.queries[i * c.d], D.data(), I.data());
          done.fetch_add(1);
        } while (secondsSince(t0) < seconds);
      });
    }
    for (auto& th : threads) th.join();
  }
  std::printf("{\"qps\":%.1f}\n", double(done.load()) / secondsSince(t0));
}

// One query per call, each run on a worker thread while the calling thread waits.
static void runHandoff(const Data& c, const SearchFn& search, double seconds) {
  std::mutex mu;
  std::condition_variable toWorker, toCaller;
  int job = -1;  // query index; -2: stop
  bool finished = false;
  std::thread worker([&]() {
    omp_set_num_threads(1);
    std::vector<float> D(c.k);
    std::vector<int64_t> I(c.k);
    for (;;) {
      std::unique_lock<std::mutex> lk(mu);
      toWorker.wait(lk, [&] { return job != -1; });
      const int i = job;
      job = -1;
      lk.unlock();
      if (i == -2) return;
      search(1, &c.queries[size_t(i) * c.d], D.data(), I.data());
      lk.lock();
      finished = true;
      lk.unlock();
      toCaller.notify_one();
    }
  });
  size_t done = 0;
  const auto t0 = Clock::now();
  int i = 0;
  do {
    {
      std::lock_guard<std::mutex> lk(mu);
      job = i;
      finished = false;
    }
    toWorker.notify_one();
    std::unique_lock<std::mutex> lk(mu);
    toCaller.wait(lk, [&] { return finished; });
    ++done;
    i = (i + 1) % c.nq;
  } while (secondsSince(t0) < seconds);
  const double elapsed = secondsSince(t0);
  {
    std::lock_guard<std::mutex> lk(mu);
    job = -2;
  }
  toWorker.notify_one();
  worker.join();
  std::printf("{\"qps\":%.1f}\n", double(done) / elapsed);
}

static void recallOf(const Data& c, const SearchFn& search) {
  omp_set_num_threads(omp_get_num_procs());
  std::vector<float> D(size_t(c.nq) * c.k);
  std::vector<int64_t> I(size_t(c.nq) * c.k);
  search(c.nq, c.queries.data(), D.data(), I.data());
  std::printf("{\"recall\":%.4f}\n", recallAt(c, I));
}

int main() {
  Data data;
  // What is searched: built here, or adopted from the binding (an IndexIDMap over IndexHNSWFlat; an IndexIVFFlat).
  std::unique_ptr<faiss::Index> hnswIndex;
  faiss::IndexHNSW* hnsw = nullptr;
  std::unique_ptr<faiss::IndexFlatL2> quantizer;
  std::unique_ptr<faiss::Index> ivfIndex;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    if (cmd == "load") {
      std::string dir;
      in >> dir >> data.n >> data.d >> data.nq >> data.k;
      data.base = readFile<float>(dir + "/base.f32", size_t(data.n) * data.d);
      data.queries = readFile<float>(dir + "/queries.f32", size_t(data.nq) * data.d);
      data.gt = readFile<int64_t>(dir + "/gt.i64", size_t(data.nq) * data.k);
      std::printf("{\"ok\":true}\n");
    } else if (cmd == "build_hnsw") {
      int M = 16, efc = 40;
      in >> M >> efc;
      omp_set_num_threads(omp_get_num_procs());
      const auto t0 = Clock::now();
      const double cpu0 = cpuSeconds();
      auto* built = new faiss::IndexHNSWFlat(data.d, M);
      hnswIndex.reset(built);
      hnsw = built;
      hnsw->hnsw.efConstruction = efc;
      hnsw->add(data.n, data.base.data());
      std::printf("{\"build\":%.3f,\"cpu\":%.3f}\n", secondsSince(t0), cpuSeconds() - cpu0);
    } else if (cmd == "build_ivf") {
      int nlist = 1024;
      in >> nlist;
      omp_set_num_threads(omp_get_num_procs());
      const auto t0 = Clock::now();
      const double cpu0 = cpuSeconds();
      quantizer.reset(new faiss::IndexFlatL2(data.d));
      auto* ivf = new faiss::IndexIVFFlat(quantizer.get(), data.d, nlist);
      ivfIndex.reset(ivf);
      ivf->cp.min_points_per_centroid = 1;  // as the binding does: silences a warning, changes nothing
      ivf->train(data.n, data.base.data());
      ivf->add(data.n, data.base.data());
      std::printf("{\"build\":%.3f,\"cpu\":%.3f}\n", secondsSince(t0), cpuSeconds() - cpu0);
    } else if (cmd == "adopt") {
      std::string which, file;
      in >> which >> file;
      std::unique_ptr<faiss::Index> loaded(faiss::read_index(file.c_str()));
      if (which == "hnsw") {
        auto* map = dynamic_cast<faiss::IndexIDMap*>(loaded.get());
        auto* inner = map ? dynamic_cast<faiss::IndexHNSW*>(map->index) : dynamic_cast<faiss::IndexHNSW*>(loaded.get());
        if (!inner) {
          std::printf("{\"error\":\"%s does not hold an HNSW index\"}\n", file.c_str());
        } else {
          hnsw = inner;
          hnswIndex = std::move(loaded);
          std::printf("{\"ok\":true}\n");
        }
      } else if (which == "ivf" && dynamic_cast<faiss::IndexIVF*>(loaded.get())) {
        ivfIndex = std::move(loaded);  // owns its quantizer
        std::printf("{\"ok\":true}\n");
      } else {
        std::printf("{\"error\":\"cannot adopt %s from %s\"}\n", which.c_str(), file.c_str());
      }
    } else if (cmd == "run" || cmd == "recall" || cmd == "handoff") {
      std::string which;
      int value = 0, nqPerCall = 1, streams = 1;
      double seconds = 1;
      in >> which >> value;
      if (cmd == "run") in >> nqPerCall >> streams >> seconds;
      if (cmd == "handoff") in >> seconds;
      const int k = data.k;
      SearchFn fn;
      faiss::SearchParametersIVF sp;
      if (which == "hnsw" && hnsw) {
        hnsw->hnsw.efSearch = value;
        faiss::Index* index = hnswIndex.get();
        fn = [index, k](int64_t m, const float* x, float* D, int64_t* I) { index->search(m, x, k, D, I); };
      } else if (which == "ivf" && ivfIndex) {
        sp.nprobe = static_cast<size_t>(value);
        faiss::Index* index = ivfIndex.get();
        fn = [index, k, &sp](int64_t m, const float* x, float* D, int64_t* I) { index->search(m, x, k, D, I, &sp); };
      }
      if (!fn) std::printf("{\"error\":\"no %s index\"}\n", which.c_str());
      else if (cmd == "run") run(data, fn, nqPerCall, streams, seconds);
      else if (cmd == "handoff") runHandoff(data, fn, seconds);
      else recallOf(data, fn);
    } else if (cmd == "quit") {
      break;
    } else {
      std::printf("{\"error\":\"unknown command\"}\n");
    }
    std::fflush(stdout);
  }
  return 0;
}
