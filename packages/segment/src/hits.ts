import { concatBatches, takeBatch, PK, type Column, type ColumnBatch } from './columns';

/**
 * Search hits as a ColumnBatch: `$query` (which query vector), `$score`, `$pk`, then any output fields.
 * Every level (segment, delegator, proxy) merges hits with the same function.
 */
export const QUERY = '$query';
export const SCORE = '$score';

/** Whether larger scores are better for a metric (IP, COSINE, BM25) or smaller (the distances L2, HAMMING, JACCARD). */
export function higherIsBetter(metric: string): boolean {
  const m = metric.toUpperCase();
  return m !== 'L2' && m !== 'HAMMING' && m !== 'JACCARD';
}

export function emptyHits(): ColumnBatch {
  return { numRows: 0, columns: new Map() };
}

/** Keeps the best `k` hits per query from several hit batches, ordered best first within each query (ties by key). */
export function mergeHits(parts: ColumnBatch[], nq: number, k: number, metric: string): ColumnBatch {
  const nonEmpty = parts.filter((p) => p.numRows > 0);
  if (nonEmpty.length === 0) return emptyHits();
  // One part already in merged order (a delegator's answer when its growing rows had no hits, a single shard's at
  // the proxy): it is its own merge, without sorting it and copying every column again.
  if (nonEmpty.length === 1 && inMergedOrder(nonEmpty[0]!, nq, k, metric)) return nonEmpty[0]!;
  const all = concatBatches(nonEmpty);
  const pick: number[] = [];
  for (const rows of hitsByQuery(all, nq, metric)) for (let j = 0; j < Math.min(k, rows.length); j++) pick.push(rows[j]!);
  return takeBatch(all, pick);
}

/**
 * Whether `b` is already what mergeHits would make of it alone: rows grouped by query in ascending order (each below
 * nq), at most k per query, best score first, equal scores by ascending primary key. A linear check with no
 * allocation; a NaN score, or a batch without the columns, answers false (the full merge handles it).
 */
export function inMergedOrder(b: ColumnBatch, nq: number, k: number, metric: string): boolean {
  const q = b.columns.get(QUERY);
  const s = b.columns.get(SCORE);
  const pk = b.columns.get(PK);
  if (k < 1 || q?.kind !== 'int' || s?.kind !== 'float' || (pk !== undefined && pk.kind !== 'int64' && pk.kind !== 'string')) return false;
  const keys = pk?.data as ArrayLike<bigint | string> | undefined;
  const better = higherIsBetter(metric);
  let run = 0;
  for (let i = 0; i < b.numRows; i++) {
    const qi = q.data[i]!;
    const si = s.data[i]!;
    if (!(qi >= 0 && qi < nq) || Number.isNaN(si)) return false;
    if (i === 0 || qi !== q.data[i - 1]) {
      if (i > 0 && qi < q.data[i - 1]!) return false;
      run = 1;
    } else {
      if (++run > k) return false;
      const prev = s.data[i - 1]!;
      if (better ? si > prev : si < prev) return false;
      if (si === prev && keys !== undefined && keys[i]! < keys[i - 1]!) return false;
    }
  }
  return run <= k;
}

function pkCompare(pk: Column | undefined): (a: number, b: number) => number {
  if (!pk || (pk.kind !== 'int64' && pk.kind !== 'string')) return () => 0;
  const keys = pk.data as ArrayLike<bigint | string>;
  return (a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : 0);
}

/**
 * The rows of each query of a hit batch in order: best score first, ties by ascending primary key (so that every
 * level orders equal scores the same way).
 */
export function hitsByQuery(all: ColumnBatch, nq: number, metric: string): number[][] {
  const q = all.columns.get(QUERY) as Extract<Column, { kind: 'int' }> | undefined;
  const s = all.columns.get(SCORE) as Extract<Column, { kind: 'float' }> | undefined;
  const byQuery: number[][] = Array.from({ length: nq }, () => []);
  if (!q || !s) return byQuery;
  for (let i = 0; i < all.numRows; i++) byQuery[q.data[i]!]?.push(i);
  const better = higherIsBetter(metric);
  const pkCmp = pkCompare(all.columns.get(PK));
  for (const rows of byQuery) rows.sort((a, b) => (better ? s.data[b]! - s.data[a]! : s.data[a]! - s.data[b]!) || pkCmp(a, b));
  return byQuery;
}

/**
 * Of the rows `idx` of a primary-key column, the `limit` with the smallest keys (all of them when limit <= 0), in
 * ascending key order: what a query with a limit returns at every level (segment, delegator, proxy), so that pages
 * fetched with `pk > last` neither skip nor repeat rows. Keys compare as the filter evaluator compares them. A small
 * limit over many rows keeps a bounded max-heap (n log limit) instead of sorting them all.
 */
export function pkOrder(pk: Column, idx: ArrayLike<number>, limit: number): number[] {
  if (pk.kind !== 'int64' && pk.kind !== 'string') throw new Error(`primary keys must be int64 or string, got a ${pk.kind} column`);
  const keys = pk.data as ArrayLike<bigint | string>;
  const cmp = (a: number, b: number): number => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : 0);
  if (limit <= 0 || idx.length <= limit * 4) {
    const all = Array.from(idx).sort(cmp);
    return limit > 0 && all.length > limit ? all.slice(0, limit) : all;
  }
  // Max-heap of the `limit` smallest keys seen so far: its root is the largest of them.
  const heap: number[] = [];
  const down = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && cmp(heap[l]!, heap[m]!) > 0) m = l;
      if (r < heap.length && cmp(heap[r]!, heap[m]!) > 0) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  for (let n = 0; n < idx.length; n++) {
    const row = idx[n]!;
    if (heap.length < limit) {
      heap.push(row);
      for (let i = heap.length - 1; i > 0; ) {
        const p = (i - 1) >> 1;
        if (cmp(heap[i]!, heap[p]!) <= 0) break;
        [heap[i], heap[p]] = [heap[p]!, heap[i]!];
        i = p;
      }
    } else if (cmp(row, heap[0]!) < 0) {
      heap[0] = row;
      down(0);
    }
  }
  return heap.sort(cmp);
}

/**
 * A batch's rows in ascending `$pk` order, at most `limit` of them (all when limit <= 0). A batch already in that
 * order within the limit (what one node's or one channel's answer is) is returned as it is, after one pass over its
 * keys, instead of being sorted and copied again at every level.
 */
export function firstByPk(b: ColumnBatch, limit: number): ColumnBatch {
  const pk = b.columns.get(PK);
  if (!pk || b.numRows === 0) return b;
  if ((limit <= 0 || b.numRows <= limit) && ascending(pk, b.numRows)) return b;
  return takeBatch(b, pkOrder(pk, Array.from({ length: b.numRows }, (_, i) => i), limit));
}

/** Whether the first `n` primary keys are in ascending order (keys compare as pkOrder compares them). */
function ascending(pk: Column, n: number): boolean {
  if (pk.kind !== 'int64' && pk.kind !== 'string') return false;
  const keys = pk.data as ArrayLike<bigint | string>;
  for (let i = 1; i < n; i++) if (keys[i - 1]! > keys[i]!) return false;
  return true;
}
