import { groupValueAt, takeBatch, QUERY, type Column, type ColumnBatch, type GroupSpec } from '@kite/segment';

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
  return { page: takeBatch(merged, pick), topks };
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
  return { page: takeBatch(merged, pick), topks };
}

/** A filter expression keeping the rows whose group field holds one of `values` (as groupValueAt returns them). */
export function groupFilter(field: string, values: unknown[]): string {
  if (values.length === 0) return 'false';
  if (typeof values[0] === 'boolean') return [...new Set(values)].map((v) => `${field} == ${String(v)}`).join(' or ');
  const lit = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(v));
  return `${field} in [${values.map(lit).join(', ')}]`;
}

/** Runs a grouping search over every shard: per query, `k` groups of up to `group.size` hits, merged by group. */
export type GroupSearch = (k: number, group: GroupSpec, filter?: string) => Promise<ColumnBatch>;

/**
 * A grouping search that is exact across segments and shards. A group's hits may lie in several segments, and a
 * segment only returns its own best groups, so one pass can miss a group's hits held where the group is not among
 * the best. So the search runs twice: first with one hit per group, which finds every query's best `k` groups
 * exactly (a group's best hit is among its segment's best groups); then only over the rows of those groups, asking
 * for all of them, so that every segment returns each of those groups' best hits.
 */
export async function exactGroupSearch(search: GroupSearch, nq: number, k: number, group: GroupSpec): Promise<ColumnBatch> {
  const first = await search(k, { ...group, size: 1 });
  if (group.size === 1 || first.numRows === 0) return first;
  const values = first.columns.get(group.field);
  const distinct = new Set<unknown>();
  for (let i = 0; i < first.numRows; i++) distinct.add(groupValueAt(values, i));
  const wide = await search(distinct.size, group, groupFilter(group.field, [...distinct]));
  if (nq === 1 && distinct.size === k) return wide;
  // Keep each query's own best k groups of the union searched for.
  return regroup(wide, nq, k, group);
}

function regroup(merged: ColumnBatch, nq: number, k: number, group: GroupSpec): ColumnBatch {
  const q = merged.columns.get(QUERY) as Extract<Column, { kind: 'int' }> | undefined;
  const values = merged.columns.get(group.field);
  const pick: number[] = [];
  for (let qi = 0, i = 0; qi < nq; qi++) {
    let groups = 0;
    let current: unknown = undefined;
    while (q && i < merged.numRows && q.data[i] === qi) {
      const v = groupValueAt(values, i);
      if (groups === 0 || v !== current) {
        groups++;
        current = v;
      }
      if (groups <= k) pick.push(i);
      i++;
    }
  }
  return takeBatch(merged, pick);
}
