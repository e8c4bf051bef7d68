// Kite's own insertion loop for faiss's HNSW graph. It fills the same structure faiss's IndexHNSW::add fills
// (faiss::HNSW's levels, offsets, neighbors, entry_point, max_level), with the same algorithm, so the result is an
// ordinary faiss::IndexHNSWFlat: faiss's search, write_index and read_index work on it unchanged. What differs is the
// cost: see hnsw-build.cc.
#pragma once

#include <cstdint>
#include <string>

#include <faiss/IndexHNSW.h>

namespace kite {

// Which insertion loop an HNSW add uses and with which distance kernel; process-wide, read at the start of every
// add. Initial values from the environment when first needed (when the addon loads):
// - KITE_FAISS_HNSW_BUILD: "kite" (default; this file's loop) or "faiss" (faiss's own IndexHNSW::add);
// - KITE_FAISS_HNSW_SIMD: "auto" (default), "avx512", "avx2" or "generic": the widest kernel the Kite loop may use
//   (it uses the widest this CPU runs, at most that one).
// A variable with any other value leaves `error` set, naming it, and every HNSW add fails with that message until
// setHnswBuildSettings is called with valid values.
struct HnswBuildSettings {
  std::string builder;  // kite | faiss
  std::string simd;     // the cap: auto | avx512 | avx2 | generic
  std::string kernel;   // what the Kite loop runs here: avx512 | avx2 | generic
  std::string error;    // non-empty when an environment variable was invalid
};
HnswBuildSettings hnswBuildSettings();
// Throws std::invalid_argument (naming the field and the values allowed) on a bad value; changes nothing then.
void setHnswBuildSettings(const std::string& builder, const std::string& simd);

// Appends n vectors (row-major, index.d floats each) to `index`'s flat storage and links them into its graph.
// Throws std::invalid_argument, before changing anything, while the settings hold an error. Otherwise the
// same contract as IndexHNSWFlat::add: OpenMP over omp_get_max_threads() threads; the storage must be an
// IndexFlat (L2 or inner product; inner product is walked on its negation, as faiss does).
void hnswAdd(faiss::IndexHNSW& index, int64_t n, const float* x);

}  // namespace kite
