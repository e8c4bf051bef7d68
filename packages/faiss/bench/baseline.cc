// The C++ side of `pnpm --filter @kite/faiss run bench`: the same searches as bench.js, through faiss's own API,
// linked against the same libfaiss. Reads the files bench.js wrote, prints one JSON object per line.
//
//   baseline DIR   (DIR holds meta.json-equivalent args in argv, see bench.js: base.f32 queries.f32 gt.i64)
//
// Usage: baseline DIR N DIM NQ K M EFC NLIST "ef1,ef2" "np1,np2" BATCH MIN_SECONDS STREAMS
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <omp.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
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
    std::fprintf(stderr, "cannot read %zu items from %s\n", count, path.c_str());
    std::exit(2);
  }
  return v;
}

static std::vector<int> parseList(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::atoi(item.c_str()));
  return out;
}

struct Ctx {
  int nq, k, d, batch, streams;
  double minSeconds;
  const float* queries;
  const int64_t* gt;
};

static double recallAt(const Ctx& c, const std::vector<int64_t>& labels) {
  size_t hit = 0;
  for (int i = 0; i < c.nq; ++i) {
    for (int j = 0; j < c.k; ++j) {
      const int64_t l = labels[size_t(i) * c.k + j];
      for (int t = 0; t < c.k; ++t) {
        if (c.gt[size_t(i) * c.k + t] == l) {
          ++hit;
          break;
        }
      }
    }
  }
  return double(hit) / (double(c.nq) * c.k);
}

// Runs passes over the query set (in chunks of `nqPerCall`) until minSeconds have passed; recall from pass one.
static void runMode(const Ctx& c, const char* index, const char* knob, int value, const char* mode, int nqPerCall,
                    const std::function<void(int64_t, const float*, float*, int64_t*)>& search, int streams) {
  std::vector<float> D(size_t(c.nq) * c.k);
  std::vector<int64_t> I(size_t(c.nq) * c.k);
  size_t done = 0;
  double recall = 0;
  const auto t0 = Clock::now();
  int pass = 0;
  do {
    if (streams <= 1) {
      for (int i = 0; i < c.nq; i += nqPerCall) {
        const int n = std::min(nqPerCall, c.nq - i);
        search(n, c.queries + size_t(i) * c.d, D.data() + size_t(i) * c.k, I.data() + size_t(i) * c.k);
      }
    } else {
      std::atomic<int> next{0};
      std::vector<std::thread> threads;
      for (int t = 0; t < streams; ++t) {
        threads.emplace_back([&]() {
          omp_set_num_threads(1);
          for (int i; (i = next.fetch_add(1)) < c.nq;) {
            search(1, c.queries + size_t(i) * c.d, D.data() + size_t(i) * c.k, I.data() + size_t(i) * c.k);
          }
        });
      }
      for (auto& th : threads) th.join();
    }
    if (pass++ == 0) recall = recallAt(c, I);
    done += c.nq;
  } while (secondsSince(t0) < c.minSeconds);
  const double secs = secondsSince(t0);
  std::printf("{\"side\":\"cpp\",\"index\":\"%s\",\"knob\":\"%s\",\"value\":%d,\"mode\":\"%s\",\"qps\":%.1f,"
              "\"recall\":%.4f}\n",
              index, knob, value, mode, double(done) / secs, recall);
  std::fflush(stdout);
}

int main(int argc, char** argv) {
  if (argc < 14) {
    std::fprintf(stderr, "usage: baseline DIR N DIM NQ K M EFC NLIST EFS NPROBES BATCH MIN_SECONDS STREAMS\n");
    return 2;
  }
  const std::string dir = argv[1];
  const int n = std::atoi(argv[2]), d = std::atoi(argv[3]), nq = std::atoi(argv[4]), k = std::atoi(argv[5]);
  const int M = std::atoi(argv[6]), efc = std::atoi(argv[7]), nlist = std::atoi(argv[8]);
  const auto efs = parseList(argv[9]);
  const auto nprobes = parseList(argv[10]);
  const int batch = std::atoi(argv[11]);
  const double minSeconds = std::atof(argv[12]);
  const int streams = std::atoi(argv[13]);

  const auto base = readFile<float>(dir + "/base.f32", size_t(n) * d);
  const auto queries = readFile<float>(dir + "/queries.f32", size_t(nq) * d);
  const auto gt = readFile<int64_t>(dir + "/gt.i64", size_t(nq) * k);
  const Ctx c{nq, k, d, batch, streams, minSeconds, queries.data(), gt.data()};
  const int hw = omp_get_max_threads();

  {  // HNSW
    faiss::IndexHNSWFlat index(d, M);
    index.hnsw.efConstruction = efc;
    const auto t0 = Clock::now();
    index.add(n, base.data());
    std::printf("{\"side\":\"cpp\",\"index\":\"HNSW\",\"build\":%.3f}\n", secondsSince(t0));
    std::fflush(stdout);
    for (int ef : efs) {
      index.hnsw.efSearch = ef;
      auto s = [&](int64_t m, const float* x, float* D, int64_t* I) { index.search(m, x, k, D, I); };
      omp_set_num_threads(hw);
      runMode(c, "HNSW", "ef", ef, "nq=1", 1, s, 1);
      runMode(c, "HNSW", "ef", ef, "nq=1 x streams", 1, s, streams);
      omp_set_num_threads(hw);
      runMode(c, "HNSW", "ef", ef, "batch", batch, s, 1);
    }
  }
  {  // IVF_FLAT
    faiss::IndexFlatL2 quantizer(d);
    faiss::IndexIVFFlat index(&quantizer, d, nlist);
    index.cp.min_points_per_centroid = 1;
    const auto t0 = Clock::now();
    index.train(n, base.data());
    index.add(n, base.data());
    std::printf("{\"side\":\"cpp\",\"index\":\"IVF_FLAT\",\"build\":%.3f}\n", secondsSince(t0));
    std::fflush(stdout);
    for (int np : nprobes) {
      faiss::SearchParametersIVF sp;
      sp.nprobe = np;
      auto s = [&](int64_t m, const float* x, float* D, int64_t* I) { index.search(m, x, k, D, I, &sp); };
      omp_set_num_threads(hw);
      runMode(c, "IVF_FLAT", "nprobe", np, "nq=1", 1, s, 1);
      runMode(c, "IVF_FLAT", "nprobe", np, "nq=1 x streams", 1, s, streams);
      omp_set_num_threads(hw);
      runMode(c, "IVF_FLAT", "nprobe", np, "batch", batch, s, 1);
    }
  }
  return 0;
}
