import { concatBatches, groupValueAt, takeBatch, QUERY, type Column, type ColumnBatch, type GroupSpec } from '@kite/segment';

/** The page of a merged search: per query, hits `offset` .. `offset + limit`; and how many each query kept. */
export function pageHits(merged: ColumnBatch, nq: number, limit: number, offset: number): { page: ColumnBatch; topks: number[] } {
  const q = merged.columns.get(QUERY) as Extract<Column, { kind: 'int' }> | undefined;
  const pick: number[] = [];
  const topks: number[] = [];
  for (let qi = 0, i = 0; qi < nq; qi++) {
    let seen = 0;
    let kept = 0;
    while (q && i < merged.numRows && q.data[i] === qi) {
      if (seen >= offset && kept < limit) {
        pick.push(i);
        kept++;
      }
      seen++;
      i++;
    }
    topks.push(kept);
  }
  // Every hit on the page (no offset, nothing past the limit): the merged batch is the page.
  return { page: pick.length === merged.numRows ? merged : takeBatch(merged, pick), topks };
}

/**
 * The page of a merged grouping search (mergeGroupHits: per query, groups in the order of their best hit, each
 * group's hits together): `offset` counts groups, and up to `limit` groups are kept. topks counts hits.
 */
export function pageGroups(merged: ColumnBatch, nq: number, limit: number, offset: number, group: GroupSpec): { page: ColumnBatch; topks: number[] } {
  const q = merged.columns.get(QUERY) as Extract<Column, { kind: 'int' }> | undefined;
  const values = merged.columns.get(group.field);
  const pick: number[] = [];
  const topks: number[] = [];
  for (let qi = 0, i = 0; qi < nq; qi++) {
    let groups = 0;
    let kept = 0;
    let current: unknown = undefined;
    while (q && i < merged.numRows && q.data[i] === qi) {
      const v = groupValueAt(values, i);
      if (groups === 0 || v !== current) {
        groups++;
        current = v;
      }
      if (groups > offset && groups <= offset + limit) {
        pick.push(i);
        kept++;
      }
      i++;
    }
    topks.push(kept);
  }
  // Every hit on the page (no offset, nothing past the limit): the merged batch is the page.
  return { page: pick.length === merged.numRows ? merged : takeBatch(merged, pick), topks };
}

/** A filter expression keeping the rows whose group field holds one of `values` (as groupValueAt returns them). */
export function groupFilter(field: string, values: unknown[]): string {
  if (values.length === 0) return 'false';
  if (typeof values[0] === 'boolean') return [...new Set(values)].map((v) => `${field} == ${String(v)}`).join(' or ');
  const lit = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(v));
  return `${field} in [${values.map(lit).join(', ')}]`;
}

/**
 * Runs a grouping search over every shard: per query, `k` groups of up to `group.size` hits, merged by group; with
 * `query`, for that query vector alone (its hits then carry query number 0).
 */
export type GroupSearch = (k: number, group: GroupSpec, filter?: string, query?: number) => Promise<ColumnBatch>;

/** Query vectors whose second pass runs at once. */
const PARALLEL_QUERIES = 8;

/**
 * A grouping search that is exact across segments and shards. A group's hits may lie in several segments, and a
 * segment only returns its own best groups, so one pass can miss a group's hits held where the group is not among
 * the best. So the search runs twice: first with one hit per group, which finds every query's best `k` groups
 * exactly (a group's best hit is among its segment's best groups); then, per query vector, only over the rows of
 * its groups, so that every segment returns each of those groups' best hits.
 */
export async function exactGroupSearch(search: GroupSearch, nq: number, k: number, group: GroupSpec): Promise<ColumnBatch> {
  const first = await search(k, { ...group, size: 1 });
  if (group.size === 1 || first.numRows === 0) return first;
  const q = first.columns.get(QUERY) as Extract<Column, { kind: 'int' }>;
  const values = first.columns.get(group.field);
  const groupsOf: unknown[][] = Array.from({ length: nq }, () => []);
  for (let i = 0; i < first.numRows; i++) groupsOf[q.data[i]!]!.push(groupValueAt(values, i));
  const parts: ColumnBatch[] = [];
  for (let from = 0; from < nq; from += PARALLEL_QUERIES) {
    const batch = await Promise.all(groupsOf.slice(from, from + PARALLEL_QUERIES).map(async (groups, j) => {
      const qi = from + j;
      if (groups.length === 0) return undefined;
      const hits = await search(groups.length, group, groupFilter(group.field, groups), nq === 1 ? undefined : qi);
      if (nq > 1 && hits.numRows > 0) hits.columns.set(QUERY, { kind: 'int', data: new Int32Array(hits.numRows).fill(qi) });
      return hits;
    }));
    for (const b of batch) if (b && b.numRows > 0) parts.push(b);
  }
  return parts.length === 0 ? first : concatBatches(parts);
}
