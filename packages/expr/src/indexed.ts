/**
 * Predicates answered by a scalar index when the batch offers one for the column (ColumnBatch.scalarIndex): a
 * comparison of a column with a constant, `in`, and `like` with an exact or prefix pattern. Other predicates, and
 * batches without an index, take the scan. See scalar-index.ts for why the answer is always the scan's.
 */
import type { CmpOp } from './ast';
import { EvalContext, withValidity, type Mask, type PredFn } from './compile';
import type { Lit, Pred, Val } from './ir';
import { planLike } from './like';
import type { ScalarIndex } from './scalar-index';
import type { Column } from './types';

type Col = Extract<Val, { k: 'col' }>;

/** Compiles a boundary comparison `col op lit` with the scan's code (given by compile.ts, to avoid a cycle). */
export type BoundCompiler = (op: CmpOp, av: Val, lit: Lit) => PredFn;

/** The column a leaf predicate tests against constants, when an index could answer it. */
export function indexableColumn(p: Pred): Col | undefined {
  if (p.k === 'cmp' && p.a.k === 'col' && p.b.k === 'lit' && !Array.isArray(p.b.v)) return p.a;
  if (p.k === 'in' && p.a.k === 'col' && p.values.every((v) => !Array.isArray(v))) return p.a;
  if (p.k === 'like' && p.a.k === 'col' && p.a.type === 'string') {
    const plan = planLike(p.pattern);
    if (plan.kind === 'equal' || plan.kind === 'startsWith') return p.a;
  }
  return undefined;
}

/** Evaluates a compiled predicate over a one-field batch holding `col` and returns its true bits as bytes per row. */
function evalOn(fn: PredFn, field: string, col: Column): Mask & { n: number } {
  const n = col.data.length;
  const ctx = new EvalContext({ numRows: n, column: (name) => (name === field ? col : undefined) });
  return { ...fn(ctx), n };
}

const bit = (m: Mask, i: number): boolean => (((m.t[i >>> 5] as number) >>> (i & 31)) & 1) === 1;

/** Candidate distinct values for a leaf, as ascending, disjoint [lo, hi) ranges (a superset of its matches). */
function candidates(index: ScalarIndex, p: Pred, col: Col, bound: BoundCompiler): [number, number][] {
  const d = index.distinct;
  const one = (fn: PredFn, i: number): boolean => bit(evalOn(fn, col.field, index.dictColumn(i, i + 1)), 0);
  /** First distinct value for which `fn` (monotone: false then true over ascending values) holds. */
  const first = (fn: PredFn): number => {
    let lo = 0;
    let hi = d;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (one(fn, mid)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
  const lower = (v: Lit): number => first(bound('>=', col, v));
  const upper = (v: Lit): number => first(bound('>', col, v));
  const ranges: [number, number][] = [];
  if (p.k === 'cmp' && p.b.k === 'lit') {
    const v = p.b.v;
    switch (p.op) {
      case '<':
      case '<=':
        ranges.push([0, upper(v)]);
        break;
      case '>':
      case '>=':
        ranges.push([lower(v), d]);
        break;
      case '==':
        ranges.push([lower(v), upper(v)]);
        break;
      case '!=':
        ranges.push([0, d]);
        break;
    }
  } else if (p.k === 'in') {
    for (const v of new Set(p.values)) ranges.push([lower(v), upper(v)]);
  } else if (p.k === 'like') {
    const plan = planLike(p.pattern);
    if (plan.kind === 'equal') ranges.push([lower(plan.text), upper(plan.text)]);
    else if (plan.kind === 'startsWith') {
      const lo = lower(plan.text);
      const values = index.values as string[];
      let hi = lo;
      let top = d;
      while (hi < top) {
        const mid = (hi + top) >>> 1;
        if ((values[mid] as string).startsWith(plan.text)) hi = mid + 1;
        else top = mid;
      }
      ranges.push([lo, hi]);
    }
  }
  // Sorted and merged.
  ranges.sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [lo, hi] of ranges) {
    if (lo >= hi) continue;
    const last = out[out.length - 1];
    if (last !== undefined && lo <= last[1]) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

/** Intersection of two lists of ascending, disjoint ranges. */
function intersect(a: [number, number][], b: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const lo = Math.max(a[i]![0], b[j]![0]);
    const hi = Math.min(a[i]![1], b[j]![1]);
    if (lo < hi) out.push([lo, hi]);
    if (a[i]![1] < b[j]![1]) i++;
    else j++;
  }
  return out;
}

/**
 * The rows of the whole indexed column that satisfy every leaf of `leaves` (all on column `col`), as a byte bitmap;
 * NULL rows are in no posting (the caller applies validity). The candidates are the intersection
 * of each leaf's ranges, and the leaves' own scan code decides which candidate values match.
 */
function rowsFromIndex(index: ScalarIndex, leaves: Pred[], scans: PredFn[], col: Col, bound: BoundCompiler): Uint8Array {
  let ranges: [number, number][] = [[0, index.distinct]];
  for (const p of leaves) ranges = intersect(ranges, candidates(index, p, col, bound));
  const out = new Uint8Array((index.numRows + 7) >>> 3);
  for (const [lo, hi] of ranges) {
    const dict = index.dictColumn(lo, hi);
    const masks = scans.map((scan) => evalOn(scan, col.field, dict));
    for (let i = 0; i < hi - lo; i++) if (masks.every((m) => bit(m, i))) index.setRowsOf(lo + i, out);
  }
  if (index.nanRows.length > 0 && scans.every((scan) => bit(evalOn(scan, col.field, index.nanColumn()), 0))) index.setNanRows(out);
  return out;
}

/**
 * The leaf `p` (scanned by `scan`) answered from the batch's scalar index on its column when the batch offers one.
 * The index's answer for the whole column is computed once per index and reused by every slice of the batch.
 */
export function compileIndexed(p: Pred, scan: PredFn, bound: BoundCompiler): PredFn {
  const col = indexableColumn(p);
  if (col === undefined) return scan;
  return compileIndexedGroup([p], [scan], col, scan, bound);
}

/**
 * An `and` of leaves on one column (e.g. `a >= 10 and a < 20`, or a chained comparison) answered from one index
 * lookup: the intersection of the leaves' candidate ranges, so a narrow range costs its matches only, not the two
 * half-column sides. `scanAll` is the conjunction's scan, used when no index is offered.
 */
export function compileIndexedGroup(leaves: Pred[], scans: PredFn[], col: Col, scanAll: PredFn, bound: BoundCompiler): PredFn {
  const answers = new WeakMap<ScalarIndex, Uint8Array>();
  return (ctx) => {
    const offered = ctx.batch.scalarIndex?.(col.field);
    if (offered === undefined) return scanAll(ctx);
    const column = ctx.batch.column(col.field);
    const n = ctx.n;
    const { index, firstRow } = offered;
    if (column === undefined || firstRow + n > index.numRows) return scanAll(ctx);
    let bits = answers.get(index);
    if (bits === undefined) {
      bits = rowsFromIndex(index, leaves, scans, col, bound);
      answers.set(index, bits);
    }
    const t = ctx.words();
    if ((firstRow & 7) === 0) {
      const base = firstRow >>> 3;
      for (let w = 0; w < t.length; w++) {
        const b = base + w * 4;
        t[w] = ((bits[b] ?? 0) | ((bits[b + 1] ?? 0) << 8) | ((bits[b + 2] ?? 0) << 16) | ((bits[b + 3] ?? 0) << 24)) >>> 0;
      }
      const tail = n & 31;
      if (tail !== 0 && t.length > 0) t[t.length - 1] = (t[t.length - 1] as number) & ((1 << tail) - 1);
    } else {
      for (let i = 0; i < n; i++) {
        const r = firstRow + i;
        if (((bits[r >>> 3] ?? 0) >>> (r & 7)) & 1) t[i >>> 5] = (t[i >>> 5] as number) | (1 << (i & 31));
      }
    }
    return withValidity(ctx, t, column.valid);
  };
}
