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

/**
 * The rows of the whole indexed column that satisfy the leaf (as a byte bitmap), NULL slots included by their stored
 * value (the caller applies validity).
 */
function rowsFromIndex(index: ScalarIndex, p: Pred, col: Col, scan: PredFn, bound: BoundCompiler): Uint8Array {
  const d = index.distinct;
  const one = (fn: PredFn, i: number): boolean => bit(evalOn(fn, col.field, index.dictColumn(i, i + 1)), 0);
  /** First distinct value for which `fn` (monotone: false then true over ascending values) holds. */
  const first = (fn: PredFn, from = 0): number => {
    let lo = from;
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
  const out = new Uint8Array((index.numRows + 7) >>> 3);
  ranges.sort((a, b) => a[0] - b[0]);
  let done = 0;
  for (const [from, to] of ranges) {
    const lo = Math.max(from, done);
    if (lo >= to) continue;
    // The scan's own predicate over the candidate values decides which of them match.
    const m = evalOn(scan, col.field, index.dictColumn(lo, to));
    for (let i = 0; i < to - lo; i++) if (bit(m, i)) index.setRowsOf(lo + i, out);
    done = to;
  }
  if (index.nanRows.length > 0 && bit(evalOn(scan, col.field, index.nanColumn()), 0)) index.setNanRows(out);
  return out;
}

/**
 * The leaf `p` (scanned by `scan`) answered from the batch's scalar index on its column when the batch offers one.
 * The index's answer for the whole column is computed once per index and reused by every slice of the batch.
 */
export function compileIndexed(p: Pred, scan: PredFn, bound: BoundCompiler): PredFn {
  const col = indexableColumn(p);
  if (col === undefined) return scan;
  const answers = new WeakMap<ScalarIndex, Uint8Array>();
  return (ctx) => {
    const offered = ctx.batch.scalarIndex?.(col.field);
    if (offered === undefined) return scan(ctx);
    const column = ctx.batch.column(col.field);
    const n = ctx.n;
    const { index, firstRow } = offered;
    if (column === undefined || firstRow + n > index.numRows) return scan(ctx);
    let bits = answers.get(index);
    if (bits === undefined) {
      bits = rowsFromIndex(index, p, col, scan, bound);
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
