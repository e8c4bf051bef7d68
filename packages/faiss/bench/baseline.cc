// The C++ side of `pnpm --filter @kite/faiss run bench`: the same searches as bench.js, through faiss's own API,
// linked against the same libfaiss (g++ ... -lfaiss -lopenblas -fopenmp). bench.js drives it over stdin, one
// command per line, so that binding and C++ measurements of each setting alternate (the machine's background load
// then hits both alike); each command answers with one JSON line on stdout.
//
//   load DIR N DIM NQ K              read DIR/base.f32 (N*DIM), DIR/queries.f32 (NQ*DIM), DIR/gt.i64 (NQ*K)
//   build_hnsw M EFC                 IndexHNSWFlat(DIM, M), efConstruction=EFC, add all      -> {"build":s}
//   build_ivf NLIST                  IndexIVFFlat(L2, NLIST), train+add all                   -> {"build":s}
//   run hnsw|ivf VALUE NQ_PER_CALL STREAMS MIN_SECONDS
//       VALUE is efSearch (hnsw) or nprobe (ivf). STREAMS=1: calls of NQ_PER_CALL queries one after another, with
//       OpenMP on all cores for batches and on one thread for single queries (faiss parallelises over queries, so a
//       team only costs time there). STREAMS>1: that many threads each searching one query per call (one OpenMP
//       thread each), like a server. Passes over the queries until MIN_SECONDS passed   -> {"qps":x,"recall":r}
//   quit
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using Clock = std::chrono::steady_clock;

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

static void run(const Data& c, const SearchFn& search, int nqPerCall, int streams, double minSeconds) {
  std::vector<float> D(size_t(c.nq) * c.k);
  std::vector<int64_t> I(size_t(c.nq) * c.k);
  const int defaultThreads = omp_get_num_procs();
  size_t done = 0;
  double recall = 0;
  int pass = 0;
  const auto t0 = Clock::now();
  do {
    if (streams <= 1) {
      omp_set_num_threads(nqPerCall > 1 ? defaultThreads : 1);
      for (int i = 0; i < c.nq; i += nqPerCall) {
        const int m = std::min(nqPerCall, c.nq - i);
        search(m, &c.queries[size_t(i) * c.d], &D[size_t(i) * c.k], &I[size_t(i) * c.k]);
      }
    } else {
      std::atomic<int> next{0};
      std::vector<std::thread> threads;
      for (int t = 0; t < streams; ++t) {
        threads.emplace_back([&]() {
          omp_set_num_threads(1);
          for (int i; (i = next.fetch_add(1)) < c.nq;) {
            search(1, &c.queries[size_t(i) * c.d], &D[size_t(i) * c.k], &I[size_t(i) * c.k]);
          }
        });
      }
      for (auto& th : threads) th.join();
    }
    if (pass++ == 0) recall = recallAt(c, I);
    done += c.nq;
  } while (secondsSince(t0) < minSeconds);
  std::printf("{\"qps\":%.1f,\"recall\":%.4f}\n", double(done) / secondsSince(t0), recall);
}

int main() {
  Data data;
  std::unique_ptr<faiss::IndexHNSWFlat> hnsw;
  std::unique_ptr<faiss::IndexFlatL2> quantizer;
  std::unique_ptr<faiss::IndexIVFFlat> ivf;
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
      hnsw.reset(new faiss::IndexHNSWFlat(data.d, M));
      hnsw->hnsw.efConstruction = efc;
      hnsw->add(data.n, data.base.data());
      std::printf("{\"build\":%.3f}\n", secondsSince(t0));
    } else if (cmd == "build_ivf") {
      int nlist = 1024;
      in >> nlist;
      omp_set_num_threads(omp_get_num_procs());
      const auto t0 = Clock::now();
      quantizer.reset(new faiss::IndexFlatL2(data.d));
      ivf.reset(new faiss::IndexIVFFlat(quantizer.get(), data.d, nlist));
      ivf->cp.min_points_per_centroid = 1;  // as the binding does: silences a warning, changes nothing
      ivf->train(data.n, data.base.data());
      ivf->add(data.n, data.base.data());
      std::printf("{\"build\":%.3f}\n", secondsSince(t0));
    } else if (cmd == "run") {
      std::string which;
      int value = 0, nqPerCall = 1, streams = 1;
      double minSeconds = 1;
      in >> which >> value >> nqPerCall >> streams >> minSeconds;
      const int k = data.k;
      if (which == "hnsw" && hnsw) {
        hnsw->hnsw.efSearch = value;
        run(data, [&](int64_t m, const float* x, float* D, int64_t* I) { hnsw->search(m, x, k, D, I); }, nqPerCall,
            streams, minSeconds);
      } else if (which == "ivf" && ivf) {
        faiss::SearchParametersIVF sp;
        sp.nprobe = static_cast<size_t>(value);
        run(data, [&](int64_t m, const float* x, float* D, int64_t* I) { ivf->search(m, x, k, D, I, &sp); },
            nqPerCall, streams, minSeconds);
      } else {
        std::printf("{\"error\":\"no %s index\"}\n", which.c_str());
      }
    } else if (cmd == "quit") {
      break;
    } else {
      std::printf("{\"error\":\"unknown command\"}\n");
    }
    std::fflush(stdout);
  }
  return 0;
}
