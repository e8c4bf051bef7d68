// @kite/sparse: inverted indexes over sparse vectors (SPARSE_INVERTED_INDEX, SPARSE_WAND) with the IP and BM25 metrics.
export { SparseIndex, SPARSE_INDEX_TYPES, bm25Idf, dropSmallest } from './index-impl';
export type { Bm25Query, SparseIndexOptions, SparseIndexType, SparseMetric, SparseSearchOptions, SparseSearchResult, TermStats } from './index-impl';
export { TopK } from './topk';
export { addTermStats, decodeBm25Query, decodeSparseQueries, decodeTermStats, distinctTerms, encodeBm25Query, encodeSparseQueries, encodeTermStats } from './wire';
