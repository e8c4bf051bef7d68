import { KiteError } from '@kite/common';
import type { BinaryIndex, VectorIndex } from '@kite/faiss';
import type { SparseRow } from '@kite/segment';
import type { Bm25Query, SparseIndex, TermStats } from '@kite/sparse';

/**
 * What a search runs through, whatever the field: a faiss index over a FloatVector field or a sparse inverted index
 * over a SparseFloatVector field. Row ids are the rows of the source's batch; `filter` is a row bitmap.
 */
export type AnnQueries = { kind: 'dense'; data: Float32Array } | { kind: 'binary'; data: Uint8Array } | { kind: 'sparse'; rows: SparseRow[] };

export interface AnnSearchParams {
  /** IVF_*. */
  nprobe?: number;
  /** HNSW. */
  ef?: number;
  /** Sparse: the fraction of the smallest query values ignored. */
  dropRatioSearch?: number;
  /** Sparse with the BM25 metric: the collection-wide statistics to score with. */
  bm25?: Bm25Query;
}

export interface AnnIndex {
  readonly metric: string;
  /** True when a search costs about the same whatever k (FLAT, sparse): a range search then asks for many rows at once. */
  readonly exact: boolean;
  /** True once free() was called. */
  readonly isFreed: boolean;
  search(queries: AnnQueries, k: number, opts: { filter?: Uint8Array; params: AnnSearchParams }): Promise<{ ids: BigInt64Array; distances: Float32Array }>;
  /**
   * Exact top-k over the listed rows only (ascending), synchronously, when the index can give what search() with
   * those rows as the filter gives (a FLAT index); undefined when it cannot (search() then).
   */
  searchRows?(queries: AnnQueries, k: number, rows: Int32Array): { ids: BigInt64Array; distances: Float32Array } | undefined;
  /** Sparse indexes: row and document-frequency statistics of some terms over the rows `mask` allows. */
  termStats?(terms: readonly number[], mask?: Uint8Array): TermStats;
  free(): void;
}

export function denseAnn(index: VectorIndex): AnnIndex {
  return {
    metric: index.metric,
    exact: index.indexType === 'FLAT',
    get isFreed() {
      return index.isFreed;
    },
    search(q, k, { filter, params }) {
      if (q.kind !== 'dense') throw new KiteError('Internal', 'a FloatVector index was given sparse queries');
      return index.search(q.data, k, { nprobe: params.nprobe, ef: params.ef, filter });
    },
    searchRows(q, k, rows) {
      if (q.kind !== 'dense' || index.indexType !== 'FLAT') return undefined;
      return index.searchRows(q.data, k, rows);
    },
    free: () => index.free(),
  };
}

export function binaryAnn(index: BinaryIndex): AnnIndex {
  return {
    metric: index.metric,
    // The native search scans every row of BIN_FLAT: a range search may ask for many rows at once.
    exact: index.indexType === 'BIN_FLAT',
    get isFreed() {
      return index.isFreed;
    },
    search(q, k, { filter, params }) {
      if (q.kind !== 'binary') throw new KiteError('Internal', 'a BinaryVector index was given non-binary queries');
      return index.search(q.data, k, { nprobe: params.nprobe, filter });
    },
    free: () => index.free(),
  };
}

export function sparseAnn(index: SparseIndex): AnnIndex {
  let freed = false;
  return {
    metric: index.metric,
    exact: true,
    get isFreed() {
      return freed;
    },
    search(q, k, { filter, params }) {
      if (q.kind !== 'sparse') throw new KiteError('Internal', 'a sparse index was given dense queries');
      return index.search(q.rows, k, { filter, dropRatioSearch: params.dropRatioSearch, bm25: params.bm25 });
    },
    termStats: (terms, mask) => index.termStats(terms, mask),
    free: () => {
      freed = true;
      index.free();
    },
  };
}

/** The queries of one query vector (a range or grouping search asks the index per query). */
export function queryAt(q: AnnQueries, i: number, nq: number): AnnQueries {
  if (q.kind === 'sparse') return { kind: 'sparse', rows: [q.rows[i]!] };
  if (q.kind === 'binary') {
    const w = q.data.length / nq;
    return { kind: 'binary', data: q.data.subarray(i * w, (i + 1) * w) };
  }
  const dim = q.data.length / nq;
  return { kind: 'dense', data: q.data.subarray(i * dim, (i + 1) * dim) };
}
