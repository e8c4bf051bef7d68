// Kite's own insertion loop for faiss's HNSW graph. It fills the same structure faiss's IndexHNSW::add fills
// (faiss::HNSW's levels, offsets, neighbors, entry_point, max_level), with the same algorithm, so the result is an
// ordinary faiss::IndexHNSWFlat: faiss's search, write_index and read_index work on it unchanged. What differs is the
// cost: see hnsw-build.cc.
#pragma once

#include <cstdint>
#include <string>

#include <faiss/IndexHNSW.h>

namespace kite {

// Which insertion loop an HNSW add uses, from KITE_FAISS_HNSW_BUILD, read at every add: "kite" (default) or
// "faiss" (faiss's own IndexHNSW::add, for comparison). Anything else is an error naming the variable.
enum class HnswBuilder { KITE, FAISS };
HnswBuilder hnswBuilderFromEnv();

// The distance kernel the Kite loop uses: the widest this CPU runs, or a narrower one named by
// KITE_FAISS_HNSW_SIMD (auto, avx512, avx2, generic; read at every add; a level the CPU lacks falls back to the
// next one it has).
const char* hnswKernelName();

// Appends n vectors (row-major, index.d floats each) to `index`'s flat storage and links them into its graph.
// Same contract as IndexHNSWFlat::add: OpenMP over omp_get_max_threads() threads; the storage must be an
// IndexFlat (L2 or inner product; inner product is walked on its negation, as faiss does).
void hnswAdd(faiss::IndexHNSW& index, int64_t n, const float* x);

}  // namespace kite
