import { concatBatches, takeBatch, type Column, type ColumnBatch } from './columns';

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
