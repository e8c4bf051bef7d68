import { TS, type Column, type ColumnBatch } from './columns';
import type { CollectionMeta, FieldMeta, FieldRange } from './meta';

const NUMERIC = new Set(['Int8', 'Int16', 'Int32', 'Int64', 'Float', 'Double']);

/** The fields whose value range a segment records: every numeric scalar field, and the clustering key. */
export function statsFields(c: Pick<CollectionMeta, 'fields'>): FieldMeta[] {
  return c.fields.filter((f) => NUMERIC.has(f.dataType) || (f.isClusteringKey === true && f.dataType === 'VarChar'));
}

/** The least and greatest of `n` values read at `at(0..n-1)` (n >= 1; no NaN among them). */
function extent<T extends number | bigint | string>(data: ArrayLike<T>, n: number, at: (i: number) => number): [T, T] {
  let lo = data[at(0)]!;
  let hi = lo;
  for (let i = 1; i < n; i++) {
    const v = data[at(i)]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/**
 * The range of one column's values over the rows in `rows` (all rows when absent). A value stored for a null row
 * may widen the range, never narrow it, so a range is always safe for skipping. Undefined when no value counts.
 */
export function columnRange(col: Column, rows?: ArrayLike<number>): FieldRange | undefined {
  const n = rows ? rows.length : col.kind === 'int' || col.kind === 'int64' || col.kind === 'float' || col.kind === 'string' ? col.data.length : 0;
  if (n === 0) return undefined;
  const at = (i: number): number => (rows ? rows[i]! : i);
  if (col.kind === 'int' || col.kind === 'int64') {
    const [lo, hi] = extent<number | bigint>(col.data, n, at);
    return { kind: 'int', min: lo.toString(), max: hi.toString() };
  }
  if (col.kind === 'float') {
    let lo = Infinity;
    let hi = -Infinity;
    let nan = false;
    for (let i = 0; i < n; i++) {
      const v = col.data[at(i)]!;
      if (Number.isNaN(v)) nan = true;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    // NaN compares unequal to everything; a segment holding one is never skipped by its range.
    if (nan || lo > hi) return undefined;
    return { kind: 'float', min: lo, max: hi };
  }
  if (col.kind === 'string') {
    const [lo, hi] = extent(col.data, n, at);
    return { kind: 'string', min: lo, max: hi };
  }
  return undefined;
}

/** The value ranges a segment of `batch` records (see SegmentMeta.fieldStats); `rows` picks the segment's rows. */
export function fieldStatsOf(c: Pick<CollectionMeta, 'fields'>, batch: ColumnBatch, rows?: ArrayLike<number>): Record<string, FieldRange> {
  const out: Record<string, FieldRange> = {};
  for (const f of statsFields(c)) {
    const col = batch.columns.get(f.name);
    const r = col ? columnRange(col, rows) : undefined;
    if (r) out[f.name] = r;
  }
  return out;
}

/** The smallest and largest row timestamp of a batch with rows (0 and 0 without rows). */
export function tsRange(data: ColumnBatch): { minTs: bigint; maxTs: bigint } {
  const ts = (data.columns.get(TS) as Extract<Column, { kind: 'int64' }>).data;
  let minTs = ts[0] ?? 0n;
  let maxTs = minTs;
  for (const t of ts) {
    if (t > maxTs) maxTs = t;
    if (t < minTs) minTs = t;
  }
  return { minTs, maxTs };
}
