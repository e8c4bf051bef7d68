// @kite/faiss: Kite's binding over faiss (an AVX2 build of Debian's faiss source, or Debian's generic libfaiss;
// see scripts/faiss-link.js), built from native/ by node-gyp.
export { VectorIndex, MAX_RESULT_ROWS } from './vector-index';
export type { SearchResult, CreateOptions } from './vector-index';
export {
  validateIndexParams, validateSearchParams, parseIntParam, isIndexType, isMetricType, INDEX_TYPES, METRIC_TYPES,
  MAX_DIM, MAX_TOPK, MAX_NLIST, MAX_NPROBE, MAX_EF, DEFAULT_NLIST, DEFAULT_NBITS, DEFAULT_HNSW_M,
  DEFAULT_EF_CONSTRUCTION, DEFAULT_NPROBE, DEFAULT_MIN_EF,
} from './params';
export type { MetricType, IndexType, IndexParams, SearchOptions } from './params';
export { FaissError, isFaissError } from './errors';
export { compareColumn, faissBuildInfo } from './native';
export type { FaissBuildInfo } from './native';
export type { FaissErrorCode } from './errors';
export { getThreadSettings, searchBusySeconds, setThreadSettings } from './threads';
export type { SearchPoolInfo, ThreadSettings } from './threads';
export { getHnswBuildSettings, setHnswBuildSettings, HNSW_BUILDERS, HNSW_BUILD_SIMD } from './hnsw-build';
export type { HnswBuilder, HnswBuildSimd, HnswBuildSettings, HnswBuildInfo } from './hnsw-build';
export { BinaryIndex, BINARY_INDEX_TYPES, BINARY_METRICS, DEFAULT_BINARY_NLIST } from './binary-index';
export type { BinaryIndexType, BinaryMetric } from './binary-index';
