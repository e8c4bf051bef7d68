import { concatBatches, takeBatch, PK, type Column, type ColumnBatch } from './columns';

/**
 * Search hits as a ColumnBatch: `$query` (which query vector), `$score`, `$pk`, then any output fields.
 * Every level (segment, delegator, proxy) merges hits with the same function.
 */
export const QUERY = '$query';
export const SCORE = '$score';

/** Whether larger scores are better for a metric (IP, COSINE) or smaller (L2). */
export function higherIsBetter(metric: string): boolean {
  return metric.toUpperCase() !== 'L2';
}

export function emptyHits(): ColumnBatch {
  return { numRows: 0, columns: new Map() };
}

/** Keeps the best `k` hits per query from several hit batches, ordered best first within each query. */
export function mergeHits(parts: ColumnBatch[], nq: number, k: number, metric: string): ColumnBatch {
  const nonEmpty = parts.filter((p) => p.numRows > 0);
  if (nonEmpty.length === 0) return emptyHits();
  const all = concatBatches(nonEmpty);
  const q = all.columns.get(QUERY) as Extract<Column, { kind: 'int' }>;
  const s = all.columns.get(SCORE) as Extract<Column, { kind: 'float' }>;
  const byQuery: number[][] = Array.from({ length: nq }, () => []);
  for (let i = 0; i < all.numRows; i++) byQuery[q.data[i]!]?.push(i);
  const better = higherIsBetter(metric);
  const pick: number[] = [];
  for (const rows of byQuery) {
    rows.sort((a, b) => (better ? s.data[b]! - s.data[a]! : s.data[a]! - s.data[b]!));
    for (let j = 0; j < Math.min(k, rows.length); j++) pick.push(rows[j]!);
  }
  return takeBatch(all, pick);
}

/**
 * Of the rows `idx` of a primary-key column, the `limit` with the smallest keys (all of them when limit <= 0), in
 * ascending key order: what an iterator query returns at every level (segment, delegator, proxy), so that pages
 * fetched with `pk > last` neither skip nor repeat rows. Keys compare as the filter evaluator compares them.
 */
export function pkOrder(pk: Column, idx: ArrayLike<number>, limit: number): number[] {
  const out = Array.from(idx);
  if (pk.kind === 'int64') out.sort((a, b) => (pk.data[a]! < pk.data[b]! ? -1 : pk.data[a]! > pk.data[b]! ? 1 : 0));
  else if (pk.kind === 'string') out.sort((a, b) => (pk.data[a]! < pk.data[b]! ? -1 : pk.data[a]! > pk.data[b]! ? 1 : 0));
  else throw new Error(`primary keys must be int64 or string, got a ${pk.kind} column`);
  return limit > 0 && out.length > limit ? out.slice(0, limit) : out;
}

/** A batch's rows in ascending `$pk` order, at most `limit` of them (all when limit <= 0). */
export function firstByPk(b: ColumnBatch, limit: number): ColumnBatch {
  const pk = b.columns.get(PK);
  if (!pk || b.numRows === 0) return b;
  return takeBatch(b, pkOrder(pk, Array.from({ length: b.numRows }, (_, i) => i), limit));
}
