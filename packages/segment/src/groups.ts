import { concatBatches, takeBatch, type Column, type ColumnBatch } from './columns';
import { emptyHits, higherIsBetter, hitsByQuery } from './hits';

/**
 * Search semantics beyond plain top-k that travel from the proxy to the query nodes in SearchRequest.search_params
 * (as JSON under the keys below), and the merge every level (segment, delegator, proxy) applies for them.
 *
 * Scores are compared as keys where smaller is better whatever the metric: the score itself for L2 (a distance),
 * its negation for IP, COSINE and BM25 (similarities). A range is then one interval of keys for every metric.
 */
export const RANGE_PARAM = '$range';
export const GROUP_PARAM = '$group';

/** An interval of keys (see scoreKey). Absent bounds are open-ended. */
export interface KeyRange {
  lo?: number;
  /** true: keys equal to lo are outside (the iterator's "after the last bound"). */
  loOpen?: boolean;
  hi?: number;
  /** true: keys equal to hi are outside (Milvus's radius). */
  hiOpen?: boolean;
}

/** Grouping search: up to `limit` groups (by the value of `field`), each with up to `size` hits. */
export interface GroupSpec {
  field: string;
  size: number;
  strict: boolean;
}

/** A score as a key where smaller is better. */
export function scoreKey(score: number, metric: string): number {
  return higherIsBetter(metric) ? -score : score;
}

export function inRange(key: number, r: KeyRange): boolean {
  if (r.lo !== undefined && (key < r.lo || (r.loOpen && key === r.lo))) return false;
  if (r.hi !== undefined && (key > r.hi || (r.hiOpen && key === r.hi))) return false;
  return true;
}

/** Whether a key lies beyond the range's upper end (every worse key does too). */
export function pastRange(key: number, r: KeyRange): boolean {
  return r.hi !== undefined && (key > r.hi || (r.hiOpen === true && key === r.hi));
}

/** The value of row `i` of a group column as a Map key (null for a missing column). */
export function groupValueAt(c: Column | undefined, i: number): unknown {
  if (!c) return null;
  switch (c.kind) {
    case 'bool':
      return c.data[i] !== 0;
    case 'int':
    case 'int64':
    case 'string':
      return c.data[i];
    case 'array':
      return null;
    default:
      return (c.data as ArrayLike<unknown>)[i] ?? null;
  }
}

/**
 * Of an ordered list of hit rows, the first `groups` groups (in the order of their best hit) with each group's best
 * `size` hits; returned group by group (a group's hits together, best first), as Milvus lists a grouping search.
 */
export function pickGroups(rows: readonly number[], values: Column | undefined, groups: number, size: number): number[][] {
  const byGroup = new Map<unknown, number[]>();
  for (const row of rows) {
    const v = groupValueAt(values, row);
    let g = byGroup.get(v);
    if (!g) {
      if (byGroup.size >= groups) continue;
      g = [];
      byGroup.set(v, g);
    }
    if (g.length < size) g.push(row);
  }
  return [...byGroup.values()];
}

/** mergeHits for a grouping search: per query, `groups` groups of up to `size` hits, group by group. */
export function mergeGroupHits(parts: ColumnBatch[], nq: number, groups: number, group: GroupSpec, metric: string): ColumnBatch {
  const nonEmpty = parts.filter((p) => p.numRows > 0);
  if (nonEmpty.length === 0) return emptyHits();
  const all = concatBatches(nonEmpty);
  const values = all.columns.get(group.field);
  const pick: number[] = [];
  for (const rows of hitsByQuery(all, nq, metric)) for (const g of pickGroups(rows, values, groups, group.size)) pick.push(...g);
  return takeBatch(all, pick);
}
