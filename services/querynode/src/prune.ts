import type { Lit, Pred } from '@kite/expr';
import type { FieldRange } from '@kite/segment';

/** -1, 0 or 1 comparing a range bound with a literal; undefined when they do not compare (types differ). */
function cmp(bound: string | number, kind: FieldRange['kind'], lit: Lit): number | undefined {
  if (kind === 'string') return typeof lit === 'string' ? (bound < lit ? -1 : bound > lit ? 1 : 0) : undefined;
  if (kind === 'int') {
    if (typeof lit === 'bigint') {
      const b = BigInt(bound as string);
      return b < lit ? -1 : b > lit ? 1 : 0;
    }
    if (typeof lit === 'number' && !Number.isNaN(lit)) {
      const b = Number(bound);
      return b < lit ? -1 : b > lit ? 1 : 0;
    }
    return undefined;
  }
  if (typeof lit !== 'bigint' && typeof lit !== 'number') return undefined;
  const l = Number(lit);
  if (Number.isNaN(l)) return undefined;
  const b = bound as number;
  return b < l ? -1 : b > l ? 1 : 0;
}

/**
 * A float range widened by float32 rounding (a Float column holds float32 values, which a filter may compare with
 * the literal rounded or not): skipping must never drop a row the evaluator would keep.
 */
function widen(r: FieldRange): FieldRange {
  if (r.kind !== 'float') return r;
  const pad = (x: number): number => Math.abs(x) * 1e-6 + 1e-30;
  return { kind: 'float', min: r.min - pad(r.min), max: r.max + pad(r.max) };
}

/** Whether some value in `r` may satisfy `value op lit` (true when unsure). */
function rangeMay(r: FieldRange, op: string, lit: Lit): boolean {
  const w = widen(r);
  const lo = cmp(w.min, w.kind, lit);
  const hi = cmp(w.max, w.kind, lit);
  if (lo === undefined || hi === undefined) return true;
  switch (op) {
    case '==':
      return lo <= 0 && hi >= 0;
    case '!=':
      return !(r.kind !== 'float' && lo === 0 && hi === 0);
    case '<':
      return lo < 0;
    case '<=':
      return lo <= 0;
    case '>':
      return hi > 0;
    case '>=':
      return hi >= 0;
    default:
      return true;
  }
}

/**
 * Whether a segment whose fields span `stats` may hold a row matching `p`: false only when a comparison or `in` of
 * a recorded field with literals cannot hold for any value in its range (through `and` / `or`); anything else may
 * match. Rows stored for nulls only widen a range, and a null never satisfies a comparison, so skipping is safe.
 */
export function mayMatch(p: Pred, stats: Readonly<Record<string, FieldRange>>): boolean {
  switch (p.k) {
    case 'const':
      return p.v;
    case 'and':
      return p.args.every((a) => mayMatch(a, stats));
    case 'or':
      return p.args.some((a) => mayMatch(a, stats));
    case 'cmp': {
      if (p.a.k !== 'col' || p.b.k !== 'lit') return true;
      const r = stats[p.a.field];
      return r ? rangeMay(r, p.op, p.b.v) : true;
    }
    case 'in': {
      if (p.a.k !== 'col') return true;
      const r = stats[p.a.field];
      return r ? p.values.some((v) => rangeMay(r, '==', v)) : true;
    }
    default:
      return true;
  }
}
