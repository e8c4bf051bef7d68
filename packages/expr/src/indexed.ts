/**
 * Predicates answered by a scalar index when the batch offers one for the column (ColumnBatch.scalarIndex): a
 * comparison of a column with a constant, `in`, and `like` with an exact or prefix pattern. Other predicates, and
 * batches without an index, take the scan. See scalar-index.ts for why the answer is always the scan's.
 */
import type { CmpOp } from './ast';
import { EvalContext, withValidity, type Mask, type PredFn } from './compile';
import type { Lit, Pred, Val } from './ir';
import { jsonIndexKey, type JsonCastType } from './json-index';
import { planLike } from './like';
import type { ScalarIndex } from './scalar-index';
import { DYNAMIC_FIELD, type Column, type ColumnBatch } from './types';

/** Compiles a boundary comparison `col op lit` with the scan's code (given by compile.ts, to avoid a cycle). */
export type BoundCompiler = (op: CmpOp, av: Val, lit: Lit) => PredFn;

/**
 * What a leaf predicate reads that an index could answer: a scalar column (its index is offered under the field's
 * name), or a JSON path compared with literals of one cast type (offered under jsonIndexKey).
 */
export interface IndexTarget {
  /** The column the batch holds (for validity, and to evaluate candidates with the scan's code). */
  field: string;
  /** What the batch's scalarIndex() is asked for. */
  key: string;
  val: Val;
}

/** The cast type of a JSON path index that holds literal `v`'s type, if any. */
function castOf(v: Lit): JsonCastType | undefined {
  if (typeof v === 'number' || typeof v === 'bigint') return 'DOUBLE';
  if (typeof v === 'string') return 'VARCHAR';
  if (typeof v === 'boolean') return 'BOOL';
  return undefined;
}

/**
 * A JSON path target: `==`, `<`, `<=`, `>`, `>=` with a literal, `in` with literals all of one type, or an exact or
 * prefix like (VARCHAR). For each of these, a row whose value at the path is missing or of another type is false in
 * the scan, so leaving such rows out of the index changes nothing. BOOL takes `==` and `in` only; `!=` scans (it is
 * true for a value of another type).
 */
function jsonTarget(p: Pred): IndexTarget | undefined {
  const a = (p.k === 'cmp' || p.k === 'in' || p.k === 'like') ? p.a : undefined;
  if (a === undefined || a.k !== 'dyn' || a.elem !== undefined || a.field === DYNAMIC_FIELD) return undefined;
  let cast: JsonCastType | undefined;
  if (p.k === 'cmp') {
    if (p.b.k !== 'lit' || p.op === '!=') return undefined;
    cast = castOf(p.b.v);
    if (cast === 'BOOL' && p.op !== '==') return undefined;
  } else if (p.k === 'in') {
    const casts = new Set(p.values.map(castOf));
    if (p.values.length === 0 || casts.size !== 1) return undefined;
    cast = [...casts][0];
  } else if (p.k === 'like') {
    const plan = planLike(p.pattern);
    if (plan.kind === 'equal' || plan.kind === 'startsWith') cast = 'VARCHAR';
  }
  return cast === undefined ? undefined : { field: a.field, key: jsonIndexKey(a.field, a.path, cast), val: a };
}

/** The column or JSON path a leaf predicate tests against constants, when an index could answer it. */
export function indexTarget(p: Pred): IndexTarget | undefined {
  const col = (a: Val): IndexTarget => ({ field: (a as Extract<Val, { k: 'col' }>).field, key: (a as Extract<Val, { k: 'col' }>).field, val: a });
  if (p.k === 'cmp' && p.a.k === 'col' && p.b.k === 'lit' && !Array.isArray(p.b.v)) return col(p.a);
  if (p.k === 'in' && p.a.k === 'col' && p.values.every((v) => !Array.isArray(v))) return col(p.a);
  if (p.k === 'like' && p.a.k === 'col' && p.a.type === 'string') {
    const plan = planLike(p.pattern);
    if (plan.kind === 'equal' || plan.kind === 'startsWith') return col(p.a);
  }
  return jsonTarget(p);
}

/**
 * Whether every leaf of `p` is answered by a scalar index the batch offers over all its rows: evaluating it then
 * costs a few word operations per 32 rows whatever the column, so it needs no slicing (see evaluateAsync).
 */
export function answeredByIndexes(p: Pred, batch: ColumnBatch): boolean {
  switch (p.k) {
    case 'const':
      return true;
    case 'and':
    case 'or':
      return p.args.every((a) => answeredByIndexes(a, batch));
    case 'not':
      return answeredByIndexes(p.arg, batch);
    default: {
      const target = indexTarget(p);
      if (target === undefined || batch.scalarIndex === undefined) return false;
      const offered = batch.scalarIndex(target.key);
      return offered !== undefined && offered.firstRow + batch.numRows <= offered.index.numRows;
    }
  }
}

/** Evaluates a compiled predicate over a one-field batch holding `col` and returns its true bits as bytes per row. */
function evalOn(fn: PredFn, field: string, col: Column): Mask & { n: number } {
  const n = col.data.length;
  const ctx = new EvalContext({ numRows: n, column: (name) => (name === field ? col : undefined) });
  return { ...fn(ctx), n };
}

/** Values a step of the search over distinct values tests at once. */
const FANOUT = 64;

const bit = (m: Mask, i: number): boolean => (((m.t[i >>> 5] as number) >>> (i & 31)) & 1) === 1;

/** Candidate distinct values for a leaf, as ascending, disjoint [lo, hi) ranges (a superset of its matches). */
function candidates(index: ScalarIndex, p: Pred, target: IndexTarget, bound: BoundCompiler): [number, number][] {
  const d = index.distinct;
  // A JSON BOOL index holds at most false and true, which a boundary comparison with a boolean cannot order: both
  // are candidates, and the leaf's own code picks.
  if (index.json?.cast === 'BOOL') return d > 0 ? [[0, d]] : [];
  const col = target.val;
  /**
   * First distinct value for which `fn` (monotone: false then true over ascending values) holds. A 64-way search:
   * each step evaluates `fn` on 63 evenly spaced values at once (one evaluation costs about what one value costs),
   * so a segment of 100,000 distinct values takes 3 evaluations instead of 17.
   */
  const first = (fn: PredFn): number => {
    let lo = 0; // the answer lies in [lo, hi]; hi is d or a value for which fn holds
    let hi = d;
    while (lo < hi) {
      if (hi - lo <= FANOUT) {
        const m = evalOn(fn, target.field, index.dictColumn(lo, hi));
        for (let i = 0; i < hi - lo; i++) if (bit(m, i)) return lo + i;
        return hi;
      }
      const points: number[] = [];
      for (let k = 1; k < FANOUT; k++) points.push(lo + Math.floor(((hi - lo) * k) / FANOUT));
      const m = evalOn(fn, target.field, index.dictGather(points));
      let k = 0;
      while (k < points.length && !bit(m, k)) k++;
      if (k === points.length) lo = (points[k - 1] as number) + 1;
      else {
        hi = points[k] as number;
        if (k > 0) lo = (points[k - 1] as number) + 1;
      }
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
 * The rows of the whole indexed column that satisfy every leaf of `leaves` (all on one target), as 32-bit words
 * (bit r & 31 of word r >> 5 for row r); NULL rows are in no posting (the caller applies validity). The candidates
 * are the intersection of each leaf's ranges, and the leaves' own scan code decides which candidate values match.
 */
function rowsFromIndex(index: ScalarIndex, leaves: Pred[], scans: PredFn[], target: IndexTarget, bound: BoundCompiler): Uint32Array {
  let ranges: [number, number][] = [[0, index.distinct]];
  for (const p of leaves) ranges = intersect(ranges, candidates(index, p, target, bound));
  const out = new Uint32Array((index.numRows + 31) >>> 5);
  const set = (list: ArrayLike<number>, from: number, to: number): void => {
    for (let k = from; k < to; k++) {
      const r = list[k] as number;
      out[r >>> 5] = (out[r >>> 5] as number) | (1 << (r & 31));
    }
  };
  const { offsets, rows } = index;
  for (const [lo, hi] of ranges) {
    const dict = index.dictColumn(lo, hi);
    const masks = scans.map((scan) => evalOn(scan, target.field, dict));
    for (let i = 0; i < hi - lo; i++) if (masks.every((m) => bit(m, i))) set(rows, offsets[lo + i] as number, offsets[lo + i + 1] as number);
  }
  if (index.nanRows.length > 0 && scans.every((scan) => bit(evalOn(scan, target.field, index.nanColumn()), 0))) set(index.nanRows, 0, index.nanRows.length);
  const loose = index.json?.looseRows;
  if (loose !== undefined && loose.length > 0) {
    const col = index.looseColumn();
    const masks = scans.map((scan) => evalOn(scan, target.field, col));
    for (let i = 0; i < loose.length; i++) if (masks.every((m) => bit(m, i))) set(loose, i, i + 1);
  }
  return out;
}

/**
 * The leaf `p` (scanned by `scan`) answered from the batch's scalar index on its column when the batch offers one.
 * The index's answer for the whole column is computed once per index and reused by every slice of the batch.
 */
export function compileIndexed(p: Pred, scan: PredFn, bound: BoundCompiler): PredFn {
  const target = indexTarget(p);
  if (target === undefined) return scan;
  return compileIndexedGroup([p], [scan], target, scan, bound);
}

/**
 * An `and` of leaves on one column (e.g. `a >= 10 and a < 20`, or a chained comparison) answered from one index
 * lookup: the intersection of the leaves' candidate ranges, so a narrow range costs its matches only, not the two
 * half-column sides. `scanAll` is the conjunction's scan, used when no index is offered.
 */
export function compileIndexedGroup(leaves: Pred[], scans: PredFn[], target: IndexTarget, scanAll: PredFn, bound: BoundCompiler): PredFn {
  const answers = new WeakMap<ScalarIndex, Uint32Array>();
  return (ctx) => {
    const offered = ctx.batch.scalarIndex?.(target.key);
    if (offered === undefined) return scanAll(ctx);
    const column = ctx.batch.column(target.field);
    const n = ctx.n;
    const { index, firstRow } = offered;
    if (column === undefined || firstRow + n > index.numRows) return scanAll(ctx);
    let bits = answers.get(index);
    if (bits === undefined) {
      bits = rowsFromIndex(index, leaves, scans, target, bound);
      answers.set(index, bits);
    }
    const t = ctx.words();
    if ((firstRow & 31) === 0) {
      // A copy of the answer's words (the whole batch, or a slice starting on a word).
      const base = firstRow >>> 5;
      t.set(bits.subarray(base, base + t.length));
      const tail = n & 31;
      if (tail !== 0 && t.length > 0) t[t.length - 1] = (t[t.length - 1] as number) & ((1 << tail) - 1);
    } else {
      for (let i = 0; i < n; i++) {
        const r = firstRow + i;
        if (((bits[r >>> 5] as number) >>> (r & 31)) & 1) t[i >>> 5] = (t[i >>> 5] as number) | (1 << (i & 31));
      }
    }
    return withValidity(ctx, t, column.valid);
  };
}
