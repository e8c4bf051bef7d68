/** Per-row value semantics shared by the compiled evaluator: JSON paths and JSON equality (LIKE: like.ts). */
import type { CmpOp } from './ast';
import type { Lit, PathKey } from './ir';

const hasOwn = Object.prototype.hasOwnProperty;
const CANONICAL_INDEX = /^(0|[1-9][0-9]{0,9})$/;

/**
 * Follows a JSON path the way Milvus's JSON pointers do: on an array a key must be a position (a number, or a
 * string such as "0"); on an object a key is a property name (a number key n means property "n"). Returns
 * undefined when any step is missing; a present JSON null is returned as null.
 */
export function walkPath(root: unknown, path: readonly PathKey[]): unknown {
  let cur = root;
  for (const key of path) {
    if (Array.isArray(cur)) {
      const idx = typeof key === 'number' ? key : CANONICAL_INDEX.test(key) ? Number(key) : -1;
      if (idx < 0 || idx >= cur.length) return undefined;
      cur = cur[idx];
    } else if (cur !== null && typeof cur === 'object') {
      const name = typeof key === 'number' ? String(key) : key;
      const next = (cur as Record<string, unknown>)[name];
      // Plain property access is ~4x faster than hasOwnProperty; only names Object.prototype has need the check.
      if (next === undefined || (name in Object.prototype && !hasOwn.call(cur, name))) return undefined;
      cur = next;
    } else {
      return undefined;
    }
  }
  return cur;
}

const isNum = (x: unknown): x is number | bigint => typeof x === 'number' || typeof x === 'bigint';

/**
 * Equality between a JSON (or Array element) value and a constant: numbers compare by mathematical value across
 * number/bigint (so 1 == 1.0 and int64 values beyond 2^53 stay exact), arrays element-wise; other types never equal.
 */
export function jsonEquals(x: unknown, lit: Lit): boolean {
  if (isNum(lit)) return isNum(x) && x == lit; // eslint-disable-line eqeqeq -- exact across bigint/number
  if (Array.isArray(lit)) {
    if (!Array.isArray(x) || x.length !== lit.length) return false;
    for (let i = 0; i < lit.length; i++) if (!jsonEquals(x[i], lit[i] as Lit)) return false;
    return true;
  }
  return x === lit;
}

/** The same numeric test against JS numbers and bigints; mixed number/bigint operations are slow in V8. */
function numericTest(lit: number | bigint, onNumber: (x: number, c: number) => boolean, onExact: (x: number | bigint) => boolean): (x: unknown) => boolean | undefined {
  const asNumber = Number(lit);
  const exact = typeof lit === 'number' || BigInt(asNumber) === lit;
  return (x) => {
    if (typeof x === 'number') return exact ? onNumber(x, asNumber) : onExact(x);
    if (typeof x === 'bigint') return onExact(x);
    return undefined;
  };
}

/**
 * `x op lit` for a JSON value x. A missing key or a value of another type is unequal to everything: false for
 * every operator except `!=` (as Milvus does).
 */
export function jsonComparer(op: CmpOp, lit: Lit): (x: unknown) => boolean {
  const mismatch = op === '!=';
  if (isNum(lit)) {
    let t: (x: unknown) => boolean | undefined;
    switch (op) {
      case '==':
      case '!=':
        t = numericTest(lit, (x, c) => x === c, (x) => x == lit); // eslint-disable-line eqeqeq
        break;
      case '<':
        t = numericTest(lit, (x, c) => x < c, (x) => x < lit);
        break;
      case '<=':
        t = numericTest(lit, (x, c) => x <= c, (x) => x <= lit);
        break;
      case '>':
        t = numericTest(lit, (x, c) => x > c, (x) => x > lit);
        break;
      case '>=':
        t = numericTest(lit, (x, c) => x >= c, (x) => x >= lit);
        break;
    }
    if (op === '!=') return (x) => t(x) !== true;
    return (x) => t(x) === true;
  }
  if (op === '==') return (x) => jsonEquals(x, lit);
  if (op === '!=') return (x) => !jsonEquals(x, lit);
  if (typeof lit === 'string') {
    switch (op) {
      case '<':
        return (x) => (typeof x === 'string' ? x < lit : mismatch);
      case '<=':
        return (x) => (typeof x === 'string' ? x <= lit : mismatch);
      case '>':
        return (x) => (typeof x === 'string' ? x > lit : mismatch);
      case '>=':
        return (x) => (typeof x === 'string' ? x >= lit : mismatch);
    }
  }
  return () => mismatch;
}

/** A getter for a JSON path, with the common single-key case inlined (see walkPath for the rules). */
export function pathGetter(path: readonly PathKey[]): (root: unknown) => unknown {
  const first = path[0];
  if (path.length === 1 && typeof first === 'string' && !(first in Object.prototype)) {
    // Object roots need no own-property check for names Object.prototype does not have.
    return (r) => (r !== null && typeof r === 'object' ? (Array.isArray(r) ? walkPath(r, path) : (r as Record<string, unknown>)[first]) : undefined);
  }
  if (path.length === 0) return (r) => r;
  return (r) => walkPath(r, path);
}

/**
 * Membership of a JSON value in a constant list, with jsonEquals semantics, using sets for scalars.
 */
export function jsonMember(values: readonly Lit[]): (x: unknown) => boolean {
  const nums = new Set<number>();
  const bigs = new Set<bigint>();
  const strs = new Set<string>();
  const bools = new Set<boolean>();
  const lists: Lit[][] = [];
  for (const v of values) {
    if (typeof v === 'number') {
      nums.add(v);
      if (Number.isInteger(v)) bigs.add(BigInt(v));
    } else if (typeof v === 'bigint') {
      bigs.add(v);
      if (BigInt(Number(v)) === v) nums.add(Number(v));
    } else if (typeof v === 'string') strs.add(v);
    else if (typeof v === 'boolean') bools.add(v);
    else lists.push(v);
  }
  return (x) => {
    switch (typeof x) {
      case 'number':
        return nums.has(x);
      case 'bigint':
        return bigs.has(x);
      case 'string':
        return strs.has(x);
      case 'boolean':
        return bools.has(x);
      default:
        return Array.isArray(x) && lists.some((l) => jsonEquals(x, l));
    }
  };
}

/** The JSON document holding `value` at `path` (what a filter on that path reads as `value`; see walkPath). */
export function wrapAtPath(path: readonly PathKey[], value: unknown): unknown {
  let out = value;
  for (let i = path.length - 1; i >= 0; i--) out = { [String(path[i])]: out };
  return out;
}
