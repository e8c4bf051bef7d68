/**
 * Compiles the IR into closures that evaluate a whole batch at once: each value becomes a column-sized vector,
 * each condition a pair of bitmaps, so the per-row work sits in tight loops (kernels.ts) rather than in a tree walk.
 *
 * Conditions are three-valued only where SQL NULLs (Column.valid = 0) occur: a Mask holds the rows that are true
 * (`t`) and the rows that are false (`f`); `f` is null when no row is unknown, meaning f = ~t. `not` swaps them,
 * and/or follow Kleene logic, and only true rows are selected. A missing JSON key is not NULL: it compares unequal
 * to everything (false, except `!=`), so `not` turns such rows true, as in Milvus.
 */
import type { CmpOp } from './ast';
import type { ColType, Lit, Pred, Val } from './ir';
import {
  andNotWords,
  andWords,
  bitsFromBytes,
  bitsFromPredicate,
  bitsFromTest,
  cmpI64Const,
  cmpI64Vec,
  cmpVecConst,
  cmpVecVec,
  fillWords,
  inTable,
  matchStrings,
  notWords,
  orWords,
  wordCount,
  type Words,
} from './kernels';
import { DYNAMIC_FIELD, type ArrayColumn, type BatchColumn, type ColumnBatch } from './types';
import { planLike } from './like';
import { compileIndexed, compileIndexedGroup, indexTarget } from './indexed';
import { compileText } from './text';
import { jsonComparer, jsonEquals, jsonMember, pathGetter } from './values';

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
/** Lists up to this size are tested with one comparison kernel per value instead of a hash set. */
const SMALL_LIST = 4;

type NumArr = Int32Array | Float32Array | Float64Array | Uint8Array | Int8Array | Int16Array | Uint16Array | Uint32Array;

export type Vec =
  | { k: 'num'; d: NumArr; valid?: Uint8Array | undefined }
  | { k: 'i64'; d: BigInt64Array; valid?: Uint8Array | undefined }
  | { k: 'str'; d: string[]; valid?: Uint8Array | undefined }
  | { k: 'bool'; d: Uint8Array; valid?: Uint8Array | undefined }
  | { k: 'dyn'; d: unknown[]; valid?: Uint8Array | undefined };

export interface Mask {
  t: Words;
  f: Words | null;
}

export class EvalContext {
  readonly n: number;
  readonly nw: number;
  /** Vectors read in this evaluation, by field/path, so `1 < x < 5` reads and walks x once. */
  readonly cache = new Map<string, Vec>();

  constructor(readonly batch: ColumnBatch) {
    this.n = batch.numRows;
    this.nw = wordCount(this.n);
  }

  words(): Words {
    return new Uint32Array(this.nw);
  }

  constant(v: boolean): Mask {
    const t = this.words();
    fillWords(t, this.n, v);
    return { t, f: null };
  }
}

export type PredFn = (ctx: EvalContext) => Mask;
type ValFn = (ctx: EvalContext) => Vec;

// ---- values ---------------------------------------------------------------------------------------------------

const isF32 = (v: Val): boolean =>
  (v.k === 'col' && v.type === 'float') ||
  ((v.k === 'arith' || v.k === 'neg') && v.mode === 'f32') ||
  (v.k === 'dyn' && v.elem === 'float');

function andValid(a: Uint8Array | undefined, b: Uint8Array | undefined, n: number): Uint8Array | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (a[i] as number) & (b[i] as number);
  return out;
}

function vecFromColumn(c: BatchColumn, field: string, expected: ColType | 'json'): Vec {
  const kindOk: Record<ColType | 'json', BatchColumn['kind'][]> = {
    bool: ['bool'],
    int: ['int', 'int64', 'float'],
    int64: ['int64', 'int', 'float'],
    float: ['float', 'int', 'int64'],
    double: ['float', 'int', 'int64'],
    string: ['string'],
    json: ['json', 'array'],
  };
  if (!kindOk[expected].includes(c.kind)) {
    throw new Error(`column "${field}" has kind ${c.kind}, which does not fit its schema type (${expected})`);
  }
  switch (c.kind) {
    case 'bool':
      return { k: 'bool', d: c.data, valid: c.valid };
    case 'int':
    case 'float':
      return { k: 'num', d: c.data, valid: c.valid };
    case 'int64':
      return { k: 'i64', d: c.data, valid: c.valid };
    case 'string':
      return { k: 'str', d: c.data, valid: c.valid };
    case 'json':
      return { k: 'dyn', d: c.data, valid: c.valid };
    case 'array':
      return { k: 'dyn', d: arrayRows(c), valid: c.valid };
  }
}


/** Element j of an 'array' column's flat values as the JSON path reads it (Bool as boolean, Int64 as bigint). */
const elementOf = (c: ArrayColumn): ((j: number) => unknown) => {
  const vs = c.values;
  return c.bool ? (j) => vs[j] !== 0 : (j) => vs[j];
};

/** Row i of an 'array' column as a JS array. */
function arrayRow(c: ArrayColumn, at: (j: number) => unknown, i: number): unknown[] {
  const start = c.offsets[i] as number;
  const out = new Array<unknown>((c.offsets[i + 1] as number) - start);
  for (let j = 0; j < out.length; j++) out[j] = at(start + j);
  return out;
}

/** Every row of an 'array' column as JS arrays (for the predicates that have no typed path: `a == [..]`). */
function arrayRows(c: ArrayColumn): unknown[][] {
  const n = c.offsets.length - 1;
  const at = elementOf(c);
  const out = new Array<unknown[]>(n);
  for (let i = 0; i < n; i++) out[i] = arrayRow(c, at, i);
  return out;
}

/** A column the batch does not have: all NULL (a field added after the segment was written); $meta: empty. */
function absentColumn(ctx: EvalContext, field: string, type: ColType | 'json'): Vec {
  const n = ctx.n;
  if (field === DYNAMIC_FIELD) return { k: 'dyn', d: new Array<unknown>(n) };
  const valid = new Uint8Array(n);
  switch (type) {
    case 'bool':
      return { k: 'bool', d: new Uint8Array(n), valid };
    case 'string':
      return { k: 'str', d: new Array<string>(n).fill(''), valid };
    case 'json':
      return { k: 'dyn', d: new Array<unknown>(n), valid };
    case 'int64':
      return { k: 'i64', d: new BigInt64Array(n), valid };
    default:
      return { k: 'num', d: new Float64Array(n), valid };
  }
}

function readColumn(ctx: EvalContext, field: string, type: ColType | 'json'): Vec {
  const key = `c:${field}`;
  let v = ctx.cache.get(key);
  if (v === undefined) {
    const c = ctx.batch.column(field);
    v = c === undefined ? absentColumn(ctx, field, type) : vecFromColumn(c, field, type);
    ctx.cache.set(key, v);
  }
  return v;
}

/** Turns an int64 or int vector into BigInt operands. */
const bigAt = (v: Vec, i: number): bigint => (v.k === 'i64' ? (v.d[i] as bigint) : BigInt(v.d[i] as number));

/** Reads a number/int64 vector as doubles (f64 arithmetic on int64 columns rounds, as float arithmetic does). */
function asDoubles(v: Vec, n: number): NumArr {
  if (v.k === 'num') return v.d;
  if (v.k === 'i64') {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = Number(v.d[i] as bigint);
    return out;
  }
  throw new Error(`internal: arithmetic on a ${v.k} vector`);
}

type ArithKernel = (a: NumArr | number, b: NumArr | number, n: number, out: Float64Array) => void;
const arithKernels = new Map<string, ArithKernel>();

/**
 * Double-precision arithmetic kernels, generated per (op, mode, shape) like the comparison kernels. Only
 * fixed operator text enters the generated code.
 */
function arithKernel(op: string, mode: 'i53' | 'f64' | 'f32', shape: 'vc' | 'cv' | 'vv'): ArithKernel {
  const key = `${op}${mode}${shape}`;
  let k = arithKernels.get(key);
  if (k === undefined) {
    const a = shape === 'cv' ? 'a' : 'a[i]';
    const b = shape === 'vc' ? 'b' : 'b[i]';
    let e = op === '**' ? `Math.pow(${a}, ${b})` : `(${a} ${op} ${b})`;
    if (mode === 'i53' && op === '/') e = `Math.trunc(${e})`;
    if (mode === 'f32') e = `Math.fround(${e})`;
    k = new Function('a', 'b', 'n', 'out', `"use strict"; for (let i = 0; i < n; i++) out[i] = ${e};`) as ArithKernel;
    arithKernels.set(key, k);
  }
  return k;
}

function bigArith(op: string, x: bigint, y: bigint): bigint {
  switch (op) {
    case '+':
      return x + y;
    case '-':
      return x - y;
    case '*':
      return x * y;
    case '/':
      return x / y;
    default:
      return x % y;
  }
}

const isNum = (x: unknown): x is number | bigint => typeof x === 'number' || typeof x === 'bigint';
const intLike = (x: number | bigint): boolean => typeof x === 'bigint' || Number.isSafeInteger(x);

/**
 * Per-row arithmetic between a JSON value and a constant. When both are integers (a bigint or a safe-integer
 * number; JSON cannot tell 7 from 7.0 once parsed) and the constant is not a float literal, it follows int64
 * semantics (truncating division, 64-bit wrap); otherwise doubles. Non-numbers give undefined (missing).
 */
function dynArith(op: string, x: unknown, y: unknown, floatLiteral: boolean): number | bigint | undefined {
  if (!isNum(x) || !isNum(y)) return undefined;
  if (op === '**') return Math.pow(Number(x), Number(y));
  if (!floatLiteral && intLike(x) && intLike(y)) return BigInt.asIntN(64, bigArith(op, BigInt(x), BigInt(y)));
  const a = Number(x);
  const b = Number(y);
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return a / b;
    default:
      return a % b;
  }
}

function compileVal(v: Val): ValFn {
  switch (v.k) {
    case 'lit':
      throw new Error('internal: literal compiled as a vector');
    case 'col':
      return (ctx) => readColumn(ctx, v.field, v.type);
    case 'array':
      return (ctx) => readColumn(ctx, v.field, 'json');
    case 'dyn': {
      const key = `d:${v.field}:${JSON.stringify(v.path)}`;
      const path = v.path;
      const get = pathGetter(path);
      return (ctx) => {
        let out = ctx.cache.get(key);
        if (out !== undefined) return out;
        const col = readColumn(ctx, v.field, 'json');
        if (path.length === 0) out = col;
        else {
          const src = col.d as unknown[];
          const d = new Array<unknown>(ctx.n);
          for (let i = 0; i < ctx.n; i++) d[i] = get(src[i]);
          out = { k: 'dyn', d, valid: col.valid };
        }
        ctx.cache.set(key, out);
        return out;
      };
    }
    case 'len': {
      const inner = compileVal(v.a);
      const whole = v.a.k === 'array' ? v.a.field : undefined;
      return (ctx) => {
        const raw = whole === undefined ? undefined : ctx.batch.column(whole);
        if (raw?.kind === 'array') {
          const d = new Float64Array(ctx.n);
          for (let i = 0; i < ctx.n; i++) d[i] = (raw.offsets[i + 1] as number) - (raw.offsets[i] as number);
          return { k: 'num', d, valid: raw.valid };
        }
        const src = inner(ctx);
        const d = new Float64Array(ctx.n);
        const xs = src.d as unknown[];
        for (let i = 0; i < ctx.n; i++) {
          const x = xs[i];
          d[i] = Array.isArray(x) ? x.length : NaN;
        }
        return { k: 'num', d, valid: src.valid };
      };
    }
    case 'neg': {
      const inner = compileVal(v.a);
      const mode = v.mode;
      return (ctx) => {
        const a = inner(ctx);
        const n = ctx.n;
        if (mode === 'dyn') {
          const xs = a.d as unknown[];
          const d = new Array<unknown>(n);
          for (let i = 0; i < n; i++) d[i] = dynArith('-', 0n, xs[i], false);
          return { k: 'dyn', d, valid: a.valid };
        }
        if (mode === 'i64') {
          const d = new BigInt64Array(n);
          for (let i = 0; i < n; i++) d[i] = -bigAt(a, i);
          return { k: 'i64', d, valid: a.valid };
        }
        const src = asDoubles(a, n);
        const d = new Float64Array(n);
        for (let i = 0; i < n; i++) d[i] = -(src[i] as number);
        return { k: 'num', d, valid: a.valid };
      };
    }
    case 'arith':
      return compileArith(v);
  }
}

function compileArith(v: Extract<Val, { k: 'arith' }>): ValFn {
  const { op, mode } = v;
  const litA = v.a.k === 'lit' ? v.a.v : undefined;
  const litB = v.b.k === 'lit' ? v.b.v : undefined;
  const fa = litA === undefined ? compileVal(v.a) : undefined;
  const fb = litB === undefined ? compileVal(v.b) : undefined;

  if (mode === 'dyn') {
    const floatLiteral = typeof litA === 'number' || typeof litB === 'number';
    return (ctx) => {
      const a = fa?.(ctx);
      const b = fb?.(ctx);
      const d = new Array<unknown>(ctx.n);
      for (let i = 0; i < ctx.n; i++) {
        const x = a === undefined ? litA : a.k === 'i64' ? a.d[i] : (a.d as ArrayLike<unknown>)[i];
        const y = b === undefined ? litB : b.k === 'i64' ? b.d[i] : (b.d as ArrayLike<unknown>)[i];
        d[i] = dynArith(op, x, y, floatLiteral);
      }
      return { k: 'dyn', d, valid: andValid(a?.valid, b?.valid, ctx.n) };
    };
  }
  if (mode === 'i64') {
    const ca = litA === undefined ? undefined : (litA as bigint);
    const cb = litB === undefined ? undefined : (litB as bigint);
    return (ctx) => {
      const a = fa?.(ctx);
      const b = fb?.(ctx);
      const n = ctx.n;
      const d = new BigInt64Array(n); // storing wraps to 64 bits, like int64 arithmetic
      for (let i = 0; i < n; i++) {
        const x = a === undefined ? (ca as bigint) : bigAt(a, i);
        const y = b === undefined ? (cb as bigint) : bigAt(b, i);
        d[i] = bigArith(op, x, y);
      }
      return { k: 'i64', d, valid: andValid(a?.valid, b?.valid, n) };
    };
  }
  const round = mode === 'f32' ? Math.fround : (x: number): number => x;
  const ca = litA === undefined ? 0 : round(Number(litA));
  const cb = litB === undefined ? 0 : round(Number(litB));
  return (ctx) => {
    const n = ctx.n;
    const a = fa?.(ctx);
    const b = fb?.(ctx);
    const out = new Float64Array(n);
    if (a !== undefined && b !== undefined) arithKernel(op, mode, 'vv')(asDoubles(a, n), asDoubles(b, n), n, out);
    else if (a !== undefined) arithKernel(op, mode, 'vc')(asDoubles(a, n), cb, n, out);
    else if (b !== undefined) arithKernel(op, mode, 'cv')(ca, asDoubles(b, n), n, out);
    return { k: 'num', d: out, valid: andValid(a?.valid, b?.valid, n) };
  };
}

// ---- conditions -----------------------------------------------------------------------------------------------

/**
 * A per-row test on a JSON path or Array field, walking the path inside the loop so no column-sized array of
 * values is built. Undefined for other values (arithmetic on JSON goes through vectors).
 */
function compileDynTest(v: Val, test: (x: unknown) => boolean): PredFn | undefined {
  if (v.k !== 'dyn' && v.k !== 'array') return undefined;
  const field = v.field;
  const direct = v.k === 'array' || v.path.length === 0;
  const get = pathGetter(v.k === 'dyn' ? v.path : []);
  const rowTest = direct ? test : (r: unknown): boolean => test(get(r));
  const elemIndex = v.k === 'dyn' && v.elem !== undefined ? (v.path[0] as number) : undefined;
  return (ctx) => {
    const raw = ctx.batch.column(field);
    if (raw?.kind === 'array') {
      // An Array field kept as offsets + flat values: elements are read in place; whole-array tests see one
      // short-lived JS array per row.
      const t = ctx.words();
      const at = elementOf(raw);
      const offs = raw.offsets;
      if (elemIndex !== undefined) {
        bitsFromPredicate(ctx.n, t, (i) => {
          const j = (offs[i] as number) + elemIndex;
          return test(j < (offs[i + 1] as number) ? at(j) : undefined);
        });
      } else bitsFromPredicate(ctx.n, t, (i) => test(arrayRow(raw, at, i)));
      return withValidity(ctx, t, raw.valid);
    }
    const col = readColumn(ctx, field, 'json');
    const t = ctx.words();
    bitsFromTest(col.d as unknown[], rowTest, ctx.n, t);
    return withValidity(ctx, t, col.valid);
  };
}

/** Applies SQL NULLs: rows with a zero valid byte become unknown (neither true nor false). */
export function withValidity(ctx: EvalContext, t: Words, valid: Uint8Array | undefined): Mask {
  if (valid === undefined) return { t, f: null };
  const vb = ctx.words();
  bitsFromBytes(valid, ctx.n, vb);
  const f = ctx.words();
  andNotWords(vb, t, f);
  andWords(t, vb, t);
  return { t, f };
}

function notMask(ctx: EvalContext, m: Mask): Mask {
  if (m.f !== null) return { t: m.f, f: m.t };
  const t = ctx.words();
  notWords(m.t, ctx.n, t);
  return { t, f: null };
}

const falseWords = (ctx: EvalContext, m: Mask): Words => {
  if (m.f !== null) return m.f;
  const f = ctx.words();
  notWords(m.t, ctx.n, f);
  return f;
};

const allZero = (w: Words): boolean => {
  for (let i = 0; i < w.length; i++) if (w[i] !== 0) return false;
  return true;
};

function combine(ctx: EvalContext, kind: 'and' | 'or', parts: PredFn[]): Mask {
  let acc = (parts[0] as PredFn)(ctx);
  for (let p = 1; p < parts.length; p++) {
    // and: once no row can be true or unknown, the rest cannot change the result (or: the mirror case).
    if (acc.f === null) {
      if (kind === 'and' && allZero(acc.t)) return acc;
      if (kind === 'or' && allZero(falseWords(ctx, acc))) return acc;
    }
    const m = (parts[p] as PredFn)(ctx);
    const t = ctx.words();
    if (kind === 'and') andWords(acc.t, m.t, t);
    else orWords(acc.t, m.t, t);
    let f: Words | null = null;
    if (acc.f !== null || m.f !== null) {
      f = ctx.words();
      if (kind === 'and') orWords(falseWords(ctx, acc), falseWords(ctx, m), f);
      else andWords(falseWords(ctx, acc), falseWords(ctx, m), f);
    }
    acc = { t, f };
  }
  return acc;
}

/**
 * Brings an int64 comparison against any numeric constant to an exact int64 bound, or to a constant answer when
 * the constant is out of range or not an integer (x < 2.5 is x <= 2; x == 2.5 is false).
 */
export function int64Bound(op: CmpOp, c: number | bigint): { op: CmpOp; bound: bigint } | { always: boolean } {
  let bound: bigint;
  if (typeof c === 'number') {
    if (Number.isNaN(c)) return { always: op === '!=' };
    if (c === Infinity || c === -Infinity) bound = c > 0 ? INT64_MAX + 1n : INT64_MIN - 1n;
    else if (Number.isInteger(c)) bound = BigInt(c);
    else {
      const floor = BigInt(Math.floor(c));
      switch (op) {
        case '==':
          return { always: false };
        case '!=':
          return { always: true };
        case '<':
        case '<=':
          return int64Bound('<=', floor);
        case '>':
        case '>=':
          return int64Bound('>', floor);
      }
    }
  } else bound = c;
  if (bound > INT64_MAX) return { always: op === '<' || op === '<=' || op === '!=' };
  if (bound < INT64_MIN) return { always: op === '>' || op === '>=' || op === '!=' };
  return { op, bound };
}

function exactOp(op: CmpOp, x: number | bigint | string | boolean, y: number | bigint | string | boolean): boolean {
  switch (op) {
    case '==':
      return x == y; // eslint-disable-line eqeqeq -- exact across bigint/number
    case '!=':
      return x != y; // eslint-disable-line eqeqeq
    case '<':
      return x < y;
    case '<=':
      return x <= y;
    case '>':
      return x > y;
    case '>=':
      return x >= y;
  }
}

/** Rounds the numbers in a constant to float32, as Milvus does when comparing with Float data. */
function roundFloats(v: Lit): Lit {
  if (typeof v === 'number' || typeof v === 'bigint') return Math.fround(Number(v));
  return Array.isArray(v) ? v.map(roundFloats) : v;
}

/** Whether a value is an element of an Array field (`tags[0]`), alone or in arithmetic with constants. */
function readsArrayElement(v: Val): boolean {
  if (v.k === 'dyn') return v.elem !== undefined;
  if (v.k === 'arith') return readsArrayElement(v.a) || readsArrayElement(v.b);
  if (v.k === 'neg') return readsArrayElement(v.a);
  return false;
}

function compileCompareLit(op: CmpOp, av: Val, lit: Lit): PredFn {
  const fa = compileVal(av);
  if (av.k === 'dyn' || av.k === 'array' || ((av.k === 'arith' || av.k === 'neg') && av.mode === 'dyn')) {
    const floatElems = (av.k === 'dyn' || av.k === 'array') && av.elem === 'float';
    const adjusted = floatElems ? roundFloats(lit) : lit;
    const cmp = jsonComparer(op, adjusted);
    // As in Milvus, an Array element past the end of its row compares false under every operator, `!=` included
    // (a missing JSON key keeps the JSON rule).
    const test = op === '!=' && readsArrayElement(av) ? (x: unknown) => x !== undefined && cmp(x) : cmp;
    const fused = compileDynTest(av, test);
    if (fused !== undefined) return fused;
    return (ctx) => {
      const a = fa(ctx);
      const t = ctx.words();
      bitsFromTest(a.d as ArrayLike<unknown>, test, ctx.n, t);
      return withValidity(ctx, t, a.valid);
    };
  }
  const f32 = isF32(av);
  let num = 0;
  let numExact = true;
  if (typeof lit === 'number' || typeof lit === 'bigint') {
    num = f32 ? Math.fround(Number(lit)) : Number(lit);
    numExact = f32 || typeof lit === 'number' || BigInt(num) === lit;
  }
  const i64 = typeof lit === 'number' || typeof lit === 'bigint' ? int64Bound(op, lit) : undefined;
  return (ctx) => {
    const a = fa(ctx);
    const t = ctx.words();
    switch (a.k) {
      case 'num':
        if (numExact) cmpVecConst(op, a.d, num, ctx.n, t);
        else bitsFromPredicate(ctx.n, t, (i) => exactOp(op, a.d[i] as number, lit as bigint));
        break;
      case 'i64':
        if (i64 === undefined) throw new Error('internal: int64 compared with a non-number');
        if ('always' in i64) fillWords(t, ctx.n, i64.always);
        else cmpI64Const(i64.op, a.d, i64.bound, ctx.n, t);
        break;
      case 'str':
        cmpVecConst(op, a.d, lit as string, ctx.n, t);
        break;
      case 'bool':
        cmpVecConst(op, a.d, lit === true ? 1 : 0, ctx.n, t);
        break;
      case 'dyn':
        throw new Error('internal: dynamic value on the typed comparison path');
    }
    return withValidity(ctx, t, a.valid);
  };
}

function compileCompareVec(op: CmpOp, av: Val, bv: Val): PredFn {
  const fa = compileVal(av);
  const fb = compileVal(bv);
  return (ctx) => {
    const a = fa(ctx);
    const b = fb(ctx);
    const t = ctx.words();
    const n = ctx.n;
    if (a.k === 'i64' && b.k === 'i64') cmpI64Vec(op, a.d, b.d, n, t);
    else if ((a.k === 'num' && b.k === 'num') || (a.k === 'str' && b.k === 'str') || (a.k === 'bool' && b.k === 'bool')) {
      cmpVecVec(op, a.d, b.d, n, t);
    } else if ((a.k === 'num' || a.k === 'i64') && (b.k === 'num' || b.k === 'i64')) {
      const x = a.d as ArrayLike<number | bigint>;
      const y = b.d as ArrayLike<number | bigint>;
      bitsFromPredicate(n, t, (i) => exactOp(op, x[i] as number | bigint, y[i] as number | bigint));
    } else {
      throw new Error(`internal: cannot compare ${a.k} with ${b.k} vectors`);
    }
    return withValidity(ctx, t, andValid(a.valid, b.valid, n));
  };
}

function compileIn(av: Val, values: Lit[]): PredFn {
  const fa = compileVal(av);
  if (values.length === 0) {
    return (ctx) => withValidity(ctx, ctx.words(), fa(ctx).valid);
  }
  const f32 = isF32(av);
  const dynamic = av.k === 'dyn' || ((av.k === 'arith' || av.k === 'neg') && av.mode === 'dyn');
  if (dynamic) {
    const member = jsonMember(f32 ? values.map(roundFloats) : values);
    const fused = compileDynTest(av, member);
    if (fused !== undefined) return fused;
    return (ctx) => {
      const a = fa(ctx);
      const t = ctx.words();
      bitsFromTest(a.d as ArrayLike<unknown>, member, ctx.n, t);
      return withValidity(ctx, t, a.valid);
    };
  }
  // Numbers a double/int column can equal; bigints only when a double holds them exactly.
  const nums: number[] = [];
  const bigs: bigint[] = [];
  const strs: string[] = [];
  const bools = new Set<number>();
  for (const v of values) {
    if (typeof v === 'number' || typeof v === 'bigint') {
      const d = f32 ? Math.fround(Number(v)) : Number(v);
      if (f32 || typeof v === 'number' || BigInt(d) === v) nums.push(d);
      if (typeof v === 'bigint') bigs.push(v);
      else if (Number.isInteger(v) && v >= -(2 ** 63) && v < 2 ** 63) bigs.push(BigInt(v));
    } else if (typeof v === 'string') strs.push(v);
    else if (typeof v === 'boolean') bools.add(v ? 1 : 0);
  }
  const numSet = new Set(nums);
  const bigSet = new Set(bigs);
  const strSet = new Set(strs);
  const uniqueNums = [...numSet];
  const uniqueBigs = [...bigSet].filter((b) => b >= INT64_MIN && b <= INT64_MAX);
  const uniqueStrs = [...strSet];
  // Integer values spanning a small range are looked up in a byte table instead of a hash set.
  const ints = uniqueNums.filter((x) => Number.isInteger(x));
  // A loop, not Math.min(...ints): a list of 100,000 values spread into a call overflows the stack.
  const tableLo = ints.length > 0 ? ints.reduce((lo, x) => (x < lo ? x : lo), Infinity) : 0;
  const span = ints.length > 0 ? ints.reduce((hi, x) => (x > hi ? x : hi), -Infinity) - tableLo + 1 : 0;
  let table: Uint8Array | undefined;
  if (ints.length > 1 && ints.length === uniqueNums.length && span <= 1 << 16) {
    table = new Uint8Array(span);
    for (const x of ints) table[x - tableLo] = 1;
  }
  return (ctx) => {
    const a = fa(ctx);
    const n = ctx.n;
    const t = ctx.words();
    const tmp = (): Words => ctx.words();
    const orEach = <T>(items: T[], one: (item: T, out: Words) => void): void => {
      const scratch = tmp();
      items.forEach((item, idx) => {
        one(item, idx === 0 ? t : scratch);
        if (idx > 0) orWords(t, scratch, t);
      });
    };
    switch (a.k) {
      case 'num':
        if (table !== undefined && !(a.d instanceof Float32Array || a.d instanceof Float64Array)) inTable(a.d, tableLo, table, n, t);
        else if (uniqueNums.length <= SMALL_LIST) orEach(uniqueNums, (c, out) => cmpVecConst('==', a.d, c, n, out));
        else bitsFromTest(a.d, (x: number) => numSet.has(x), n, t);
        break;
      case 'i64':
        if (uniqueBigs.length <= SMALL_LIST) orEach(uniqueBigs, (c, out) => cmpI64Const('==', a.d, c, n, out));
        else bitsFromTest(a.d, (x: bigint) => bigSet.has(x), n, t);
        break;
      case 'str':
        if (uniqueStrs.length <= SMALL_LIST) orEach(uniqueStrs, (c, out) => cmpVecConst('==', a.d, c, n, out));
        else bitsFromTest(a.d, (x: string) => strSet.has(x), n, t);
        break;
      case 'bool':
        bitsFromTest(a.d, (x: number) => bools.has(x), n, t);
        break;
      case 'dyn':
        throw new Error('internal: dynamic value on the typed membership path');
    }
    return withValidity(ctx, t, a.valid);
  };
}

function compileContains(mode: 'one' | 'all' | 'any', av: Val, values: Lit[]): PredFn {
  const fa = compileVal(av);
  const floatElems = av.k === 'array' && av.elem === 'float';
  const adjusted = floatElems ? values.map(roundFloats) : values;
  let test: (x: unknown[]) => boolean;
  if (mode === 'all') {
    test = (x) => adjusted.every((v) => x.some((e) => jsonEquals(e, v)));
  } else {
    const member = jsonMember(adjusted);
    test = (x) => x.some(member);
  }
  const fused = compileDynTest(av, (x) => Array.isArray(x) && test(x));
  if (fused !== undefined) return fused;
  return (ctx) => {
    const a = fa(ctx);
    const t = ctx.words();
    bitsFromTest(a.d as ArrayLike<unknown>, (x) => Array.isArray(x) && test(x), ctx.n, t);
    return withValidity(ctx, t, a.valid);
  };
}

/** The scan of a leaf that an index could answer (cmp with a constant, in, like), without the index lookup. */
function scanLeaf(p: Pred): PredFn {
  if (p.k === 'cmp' && p.b.k === 'lit') return compileCompareLit(p.op, p.a, p.b.v);
  if (p.k === 'in') return compileIn(p.a, p.values);
  if (p.k === 'like') return compileLike(p);
  throw new Error(`internal: ${p.k} is not an indexable leaf`);
}

function compileLike(p: Extract<Pred, { k: 'like' }>): PredFn {
  const fa = compileVal(p.a);
  const plan = planLike(p.pattern);
  const match: (s: string) => boolean =
    plan.kind === 'equal' ? (x) => x === plan.text : plan.kind === 'scan' ? plan.test : (x) => x[plan.kind](plan.text);
  const fused = compileDynTest(p.a, (x) => typeof x === 'string' && match(x));
  if (fused !== undefined) return fused;
  return (ctx) => {
    const a = fa(ctx);
    const t = ctx.words();
    if (a.k === 'str') {
      if (plan.kind === 'equal') cmpVecConst('==', a.d, plan.text, ctx.n, t);
      else if (plan.kind === 'scan') bitsFromTest(a.d, plan.test, ctx.n, t);
      else matchStrings(plan.kind, a.d, plan.text, ctx.n, t);
    } else {
      bitsFromTest(a.d as ArrayLike<unknown>, (x) => typeof x === 'string' && match(x), ctx.n, t);
    }
    return withValidity(ctx, t, a.valid);
  };
}

export function compilePred(p: Pred): PredFn {
  switch (p.k) {
    case 'const':
      return (ctx) => ctx.constant(p.v);
    case 'and': {
      // Leaves on one column that an index could answer are looked up together (their ranges intersected).
      const byKey = new Map<string, Pred[]>();
      for (const a of p.args) {
        const target = indexTarget(a);
        if (target !== undefined) byKey.set(target.key, [...(byKey.get(target.key) ?? []), a]);
      }
      const grouped = new Set<Pred>();
      const parts: PredFn[] = [];
      for (const leaves of byKey.values()) {
        if (leaves.length < 2) continue;
        const target = indexTarget(leaves[0] as Pred)!;
        const scans = leaves.map(scanLeaf);
        leaves.forEach((x) => grouped.add(x));
        parts.push(compileIndexedGroup(leaves, scans, target, (ctx) => combine(ctx, 'and', scans), compileCompareLit));
      }
      for (const a of p.args) if (!grouped.has(a)) parts.push(compilePred(a));
      return (ctx) => combine(ctx, 'and', parts);
    }
    case 'or': {
      const parts = p.args.map(compilePred);
      return (ctx) => combine(ctx, p.k, parts);
    }
    case 'not': {
      const inner = compilePred(p.arg);
      return (ctx) => notMask(ctx, inner(ctx));
    }
    case 'cmp':
      return p.b.k === 'lit' ? compileIndexed(p, compileCompareLit(p.op, p.a, p.b.v), compileCompareLit) : compileCompareVec(p.op, p.a, p.b);
    case 'in':
      return compileIndexed(p, compileIn(p.a, p.values), compileCompareLit);
    case 'contains':
      return compileContains(p.mode, p.a, p.values);
    case 'text':
      return compileText(p);
    case 'like':
      return compileIndexed(p, compileLike(p), compileCompareLit);
    case 'isnull': {
      const fa = compileVal(p.a);
      const jsonLike = p.a.k !== 'col';
      return (ctx) => {
        const a = fa(ctx);
        const t = ctx.words();
        const valid = a.valid;
        if (jsonLike) {
          const xs = a.d as ArrayLike<unknown>;
          bitsFromPredicate(ctx.n, t, (i) => (valid !== undefined && valid[i] === 0) || xs[i] === undefined || xs[i] === null);
        } else if (valid !== undefined) {
          cmpVecConst('==', valid, 0, ctx.n, t);
        }
        return { t, f: null };
      };
    }
    case 'exists': {
      const fused = compileDynTest(p.a, (x) => x !== undefined);
      if (fused !== undefined) return fused;
      const fa = compileVal(p.a);
      return (ctx) => {
        const a = fa(ctx);
        const t = ctx.words();
        bitsFromTest(a.d as ArrayLike<unknown>, (x) => x !== undefined, ctx.n, t);
        return withValidity(ctx, t, a.valid);
      };
    }
    case 'truthy': {
      const fused = compileDynTest(p.a, (x) => x === true);
      if (fused !== undefined) return fused;
      const fa = compileVal(p.a);
      return (ctx) => {
        const a = fa(ctx);
        const t = ctx.words();
        if (a.k === 'bool') bitsFromBytes(a.d, ctx.n, t);
        else {
          bitsFromTest(a.d as ArrayLike<unknown>, (x) => x === true, ctx.n, t);
        }
        return withValidity(ctx, t, a.valid);
      };
    }
  }
}
