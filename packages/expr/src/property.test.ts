/**
 * Property test: random expressions over random data, each checked row by row against a plain JS oracle that
 * is written from the semantics (not from the compiler): integers as BigInt, int64 arithmetic wrapping at 64 bits,
 * Float data compared with float32-rounded constants, missing JSON keys unequal to everything, NULLs unknown
 * (Kleene logic). The generator builds the expression text and its oracle together, so the parser and the checker
 * are under test too.
 */
import { evaluate, parseExpr, type Column, type ColumnBatch, type SchemaInfo } from './index';

type Tri = boolean | null;
type Row = Record<string, unknown> & { valid: Record<string, boolean> };
interface Gen {
  text: string;
  ev(row: Row): Tri;
}
type Op = '==' | '!=' | '<' | '<=' | '>' | '>=';
type Num = number | bigint;

const OPS: Op[] = ['==', '!=', '<', '<=', '>', '>='];
const FLIP: Record<Op, Op> = { '==': '==', '!=': '!=', '<': '>', '<=': '>=', '>': '<', '>=': '<=' };
const BIG = 2n ** 53n + 1n;
const I64_MAX = 2n ** 63n - 1n;
const I64_MIN = -(2n ** 63n);

const schema: SchemaInfo = {
  enableDynamicField: true,
  fields: [
    { name: 'id', type: 'Int64', isPrimaryKey: true },
    { name: 'i32', type: 'Int32' },
    { name: 'i8', type: 'Int8' },
    { name: 'f32', type: 'Float' },
    { name: 'f64', type: 'Double' },
    { name: 's', type: 'VarChar' },
    { name: 'b', type: 'Bool' },
    { name: 'j', type: 'JSON', nullable: true },
    { name: 'arr', type: 'Array', elementType: 'Int64' },
    { name: 'tags', type: 'Array', elementType: 'VarChar' },
    { name: 'n32', type: 'Int32', nullable: true },
  ],
};

// ---- the oracle's semantics ------------------------------------------------------------------------------------

const isNum = (x: unknown): x is Num => typeof x === 'number' || typeof x === 'bigint';

/** Exact comparison: JS compares bigint with number by mathematical value. */
function cmp(op: Op, x: Num | string | boolean, y: Num | string | boolean): boolean {
  switch (op) {
    case '==':
      return x == y; // eslint-disable-line eqeqeq
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

function jsonEq(x: unknown, lit: unknown): boolean {
  if (isNum(lit)) return isNum(x) && x == lit; // eslint-disable-line eqeqeq
  if (Array.isArray(lit)) return Array.isArray(x) && x.length === lit.length && lit.every((l, i) => jsonEq(x[i], l));
  return x === lit;
}

/** A JSON value against a constant: a missing key or another type is unequal to everything. */
/** An Array element compared with a constant: an element past the end of the row is false under every operator (Milvus). */
function elemCmp(op: Op, x: unknown, lit: unknown): boolean {
  return x !== undefined && jsonCmp(op, x, lit);
}

function jsonCmp(op: Op, x: unknown, lit: unknown): boolean {
  if (op === '==') return jsonEq(x, lit);
  if (op === '!=') return !jsonEq(x, lit);
  if (isNum(lit) && isNum(x)) return cmp(op, x, lit);
  if (typeof lit === 'string' && typeof x === 'string') return cmp(op, x, lit);
  return false;
}

function like(s: string, pattern: string): boolean {
  const toks: { wild?: string; lit?: string }[] = [];
  const cs = Array.from(pattern);
  for (let i = 0; i < cs.length; i++) {
    if (cs[i] === '\\' && i + 1 < cs.length) toks.push({ lit: cs[++i] });
    else if (cs[i] === '%' || cs[i] === '_') toks.push({ wild: cs[i] });
    else toks.push({ lit: cs[i] });
  }
  const str = Array.from(s);
  const memo = new Map<string, boolean>();
  const m = (t: number, k: number): boolean => {
    const key = `${t},${k}`;
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    let r: boolean;
    const tok = toks[t];
    if (tok === undefined) r = k === str.length;
    else if (tok.wild === '%') r = m(t + 1, k) || (k < str.length && m(t, k + 1));
    else if (tok.wild === '_') r = k < str.length && m(t + 1, k + 1);
    else r = k < str.length && str[k] === tok.lit && m(t + 1, k + 1);
    memo.set(key, r);
    return r;
  };
  return m(0, 0);
}

function walk(root: unknown, path: (string | number)[]): unknown {
  let cur = root;
  for (const k of path) {
    if (Array.isArray(cur)) {
      if (typeof k !== 'number' || k >= cur.length) return undefined;
      cur = cur[k];
    } else if (cur !== null && typeof cur === 'object' && typeof k === 'string' && Object.prototype.hasOwnProperty.call(cur, k)) {
      cur = (cur as Record<string, unknown>)[k];
    } else return undefined;
  }
  return cur;
}

const and3 = (xs: Tri[]): Tri => (xs.includes(false) ? false : xs.includes(null) ? null : true);
const or3 = (xs: Tri[]): Tri => (xs.includes(true) ? true : xs.includes(null) ? null : false);
const not3 = (x: Tri): Tri => (x === null ? null : !x);

// ---- random generation -----------------------------------------------------------------------------------------

class Rng {
  constructor(private s: number) {}
  next(): number {
    // mulberry32
    this.s = (this.s + 0x6d2b79f5) | 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)] as T;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  i64(): bigint {
    return BigInt.asIntN(64, (BigInt(this.int(0, 0xffffffff)) << 32n) | BigInt(this.int(0, 0xffffffff)));
  }
}

const ID_POOL = [0n, 1n, -1n, 5n, 2n ** 53n, BIG, 2n ** 53n - 1n, -(2n ** 53n) - 1n, I64_MAX, I64_MIN, 2n ** 62n + 3n, 123456789012345678n];
const F32_POOL = [0, 0.1, -0.1, 0.5, 1.5, 3, -2.25, 1e10, 16777217].map(Math.fround);
const F64_POOL = [0, 0.1, 0.3, -0.5, 2.5, 3, 9007199254740992, 1e300, -1e-300, -7];
const CHARS = ['a', 'b', '_', '%', 'é', '😀'];
const TAGS = ['a', 'b', 'c', 'ab'];

function randString(r: Rng): string {
  let s = '';
  for (let i = r.int(0, 3); i > 0; i--) s += r.pick(CHARS);
  return s;
}

function randJsonScalar(r: Rng): unknown {
  return r.pick<() => unknown>([
    () => r.int(-3, 3),
    () => r.pick([2.5, -0.5, 1.0]),
    () => BIG,
    () => r.pick(['a', 'b', '_a', '']),
    () => r.chance(0.5),
    () => null,
    () => [r.int(0, 2), r.int(0, 2)],
    () => ({ z: r.int(0, 2) }),
  ])();
}

function randRow(r: Rng): Row {
  const valid = { j: r.chance(0.9), n32: r.chance(0.7) };
  const j: Record<string, unknown> = {};
  if (r.chance(0.8)) j.x = randJsonScalar(r);
  if (r.chance(0.7)) {
    j.y = r.chance(0.85)
      ? Array.from({ length: r.int(0, 3) }, () => (r.chance(0.7) ? r.int(0, 3) : r.pick(['a', 'b'])))
      : r.pick([5, 'a']);
  }
  if (r.chance(0.6)) j.o = { z: r.chance(0.8) ? r.int(0, 2) : 'z' };
  const meta: Record<string, unknown> = {};
  if (r.chance(0.7)) meta.dk = r.chance(0.8) ? r.int(-2, 2) : 'k';
  if (r.chance(0.5)) meta.dx = r.pick([0.25, 0.5, 0.75]);
  return {
    valid,
    id: r.chance(0.7) ? r.pick(ID_POOL) : r.i64(),
    i32: BigInt(r.chance(0.9) ? r.int(-10, 10) : r.pick([2147483647, -2147483648])),
    i8: BigInt(r.chance(0.8) ? r.int(-5, 5) : r.int(-128, 127)),
    f32: r.chance(0.8) ? r.pick(F32_POOL) : Math.fround((r.next() - 0.5) * 100),
    f64: r.chance(0.8) ? r.pick(F64_POOL) : (r.next() - 0.5) * 100,
    s: randString(r),
    b: r.chance(0.5),
    j: valid.j ? (r.chance(0.9) ? j : r.pick([5, 'str', [1]])) : null,
    arr: Array.from({ length: r.int(0, 3) }, () => (r.chance(0.1) ? BIG : r.chance(0.5) ? BigInt(r.int(-2, 3)) : r.int(-2, 3))),
    tags: Array.from({ length: r.int(0, 3) }, () => r.pick(TAGS)),
    n32: BigInt(r.int(-5, 5)),
    $meta: meta,
  };
}

function batchOf(rows: Row[]): ColumnBatch {
  const n = rows.length;
  const col = (f: string): unknown[] => rows.map((row) => row[f]);
  const columns: Record<string, Column> = {
    id: { kind: 'int64', data: BigInt64Array.from(col('id') as bigint[]) },
    i32: { kind: 'int', data: Int32Array.from(col('i32') as bigint[], Number) },
    i8: { kind: 'int', data: Int32Array.from(col('i8') as bigint[], Number) },
    f32: { kind: 'float', data: Float32Array.from(col('f32') as number[]) },
    f64: { kind: 'float', data: Float64Array.from(col('f64') as number[]) },
    s: { kind: 'string', data: col('s') as string[] },
    b: { kind: 'bool', data: Uint8Array.from(col('b') as boolean[], (x) => (x ? 1 : 0)) },
    j: { kind: 'json', data: col('j'), valid: Uint8Array.from(rows, (row) => (row.valid.j ? 1 : 0)) },
    arr: { kind: 'json', data: col('arr') },
    tags: { kind: 'json', data: col('tags') },
    n32: { kind: 'int', data: Int32Array.from(col('n32') as bigint[], Number), valid: Uint8Array.from(rows, (row) => (row.valid.n32 ? 1 : 0)) },
    $meta: { kind: 'json', data: col('$meta') },
  };
  return { numRows: n, column: (name) => columns[name] };
}

function lit(v: unknown): string {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) < 1e21 ? `${v}.0` : String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(lit).join(', ')}]`;
  return String(v);
}

const NUM_FIELDS = ['id', 'i32', 'i8', 'n32', 'f32', 'f64'] as const;
type NumField = (typeof NUM_FIELDS)[number];

class ExprGen {
  constructor(private readonly r: Rng) {}

  numLit(field: NumField): Num {
    const r = this.r;
    switch (field) {
      case 'id':
        return r.pick<() => Num>([() => r.pick(ID_POOL), () => r.i64(), () => r.pick([2.5, -0.5, 1e19, -1e19, 9007199254740992.0]), () => BigInt(r.int(-3, 6))])();
      case 'f32':
        return r.chance(0.7) ? r.pick([0, 0.1, -0.1, 0.5, 1.5, 3, -2.25, 1e10, 16777216, 16777218]) : BigInt(r.int(-3, 3));
      case 'f64':
        return r.chance(0.7) ? r.pick(F64_POOL) : r.pick([BIG, 3n, -7n, 9007199254740992n]);
      default:
        return r.chance(0.8) ? BigInt(r.int(-10, 10)) : r.pick([2.5, -0.5, 2147483647n, -2147483648n, 2147483648n, 3.0]);
    }
  }

  value(row: Row, field: NumField): Num | null {
    if (field === 'n32' && !row.valid.n32) return null;
    return row[field] as Num;
  }

  /** field op literal, either way round. */
  compare(): Gen {
    const f = this.r.pick(NUM_FIELDS);
    const op = this.r.pick(OPS);
    const c = this.numLit(f);
    const rhs = f === 'f32' ? Math.fround(Number(c)) : c;
    const text = this.r.chance(0.5) ? `${f} ${op} ${lit(c)}` : `${lit(c)} ${FLIP[op]} ${f}`;
    return { text, ev: (row) => { const v = this.value(row, f); return v === null ? null : cmp(op, v, rhs); } };
  }

  range(): Gen {
    const f = this.r.pick(NUM_FIELDS);
    const up = this.r.chance(0.5);
    const o1 = this.r.pick<Op>(up ? ['<', '<='] : ['>', '>=']);
    const o2 = this.r.pick<Op>(up ? ['<', '<='] : ['>', '>=']);
    const lo = this.numLit(f);
    const hi = this.numLit(f);
    const round = (c: Num): Num => (f === 'f32' ? Math.fround(Number(c)) : c);
    return {
      text: `${lit(lo)} ${o1} ${f} ${o2} ${lit(hi)}`,
      ev: (row) => {
        const v = this.value(row, f);
        return v === null ? null : cmp(o1, round(lo), v) && cmp(o2, v, round(hi));
      },
    };
  }

  fieldField(): Gen {
    const a = this.r.pick(NUM_FIELDS);
    const b = this.r.pick(NUM_FIELDS);
    const op = this.r.pick(OPS);
    return {
      text: `${a} ${op} ${b}`,
      ev: (row) => {
        const x = this.value(row, a);
        const y = this.value(row, b);
        return x === null || y === null ? null : cmp(op, x, y);
      },
    };
  }

  inList(): Gen {
    const negated = this.r.chance(0.4);
    const kw = negated ? this.r.pick(['not in', 'NOT IN']) : this.r.pick(['in', 'IN']);
    if (this.r.chance(0.25)) {
      const list = Array.from({ length: this.r.int(0, 6) }, () => (this.r.chance(0.7) ? randString(this.r) : this.r.pick(['a', 'b', ''])));
      return { text: `s ${kw} ${lit(list)}`, ev: (row) => list.includes(row.s as string) !== negated };
    }
    const f = this.r.pick(NUM_FIELDS);
    const list = Array.from({ length: this.r.int(0, 7) }, () => this.numLit(f));
    const values = f === 'f32' ? list.map((c) => Math.fround(Number(c))) : list;
    return {
      text: `${f} ${kw} ${lit(list)}`,
      ev: (row) => {
        const v = this.value(row, f);
        return v === null ? null : values.some((c) => c == v) !== negated; // eslint-disable-line eqeqeq
      },
    };
  }

  /** Arithmetic on one numeric field with constants, compared with a constant. */
  arith(): Gen {
    const r = this.r;
    const f = r.pick(NUM_FIELDS);
    type Step = { op: string; c: Num; left: boolean } | { op: 'neg' };
    const steps: Step[] = [];
    let floaty = f === 'f32' || f === 'f64';
    for (let i = r.int(1, 3); i > 0; i--) {
      if (r.chance(0.15)) {
        steps.push({ op: 'neg' });
        continue;
      }
      const op = r.pick(['+', '-', '*', '/', '%', '**']);
      if (op === '%' && floaty) continue;
      let c: Num =
        op === '**' ? BigInt(r.int(0, 3)) : r.chance(floaty ? 0.5 : 0.8) ? BigInt(r.int(-4, 4)) : r.pick([1.5, -0.25, 3.0, 2147483647n, I64_MAX]);
      if (op === '%' && typeof c === 'number') c = 3n;
      if ((op === '/' || op === '%') && (c === 0n || c === 0)) c = 2n;
      if (typeof c === 'number' || op === '**') floaty = true;
      steps.push({ op, c, left: op === '/' || op === '%' ? true : r.chance(0.7) });
    }
    const f32 = f === 'f32' && floaty;
    let text: string = f;
    for (const s of steps) {
      if (s.op === 'neg') text = `(-(${text}))`;
      else if ('c' in s) text = s.left ? `(${text} ${s.op} ${lit(s.c)})` : `(${lit(s.c)} ${s.op} ${text})`;
    }
    const op = r.pick(OPS);
    const target: Num = floaty ? r.pick([0.5, 3.0, -1.5, 0n, 10n, BIG]) : r.chance(0.7) ? BigInt(r.int(-12, 12)) : r.pick([2.5, BIG, -(2n ** 62n)]);
    // Types flow bottom-up, as in Milvus: integer steps stay int64 (wrapping) until a float constant or ** makes
    // the running value a float; Float fields round every float32 result.
    const compute = (v: Num): Num => {
      const round = f === 'f32' ? Math.fround : (x: number): number => x;
      let x: Num = f === 'f32' || f === 'f64' ? Number(v) : BigInt(v);
      for (const s of steps) {
        if (s.op === 'neg') {
          x = typeof x === 'bigint' ? BigInt.asIntN(64, -x) : -x;
        } else if ('c' in s) {
          if (typeof x === 'bigint' && typeof s.c === 'bigint' && s.op !== '**') {
            const [a, b] = s.left ? [x, s.c] : [s.c, x];
            x = BigInt.asIntN(64, s.op === '+' ? a + b : s.op === '-' ? a - b : s.op === '*' ? a * b : s.op === '/' ? a / b : a % b);
          } else {
            const c = round(Number(s.c));
            const [a, b] = s.left ? [Number(x), c] : [c, Number(x)];
            x = round(s.op === '+' ? a + b : s.op === '-' ? a - b : s.op === '*' ? a * b : s.op === '/' ? a / b : s.op === '%' ? a % b : Math.pow(a, b));
          }
        }
      }
      return x;
    };
    const rhs = f32 ? Math.fround(Number(target)) : target;
    return {
      text: `${text} ${op} ${lit(target)}`,
      ev: (row) => {
        const v = this.value(row, f);
        return v === null ? null : cmp(op, compute(v), rhs);
      },
    };
  }

  likePattern(): string {
    let p = '';
    for (let i = this.r.int(0, 4); i > 0; i--) p += this.r.pick([...CHARS, '%', '%', '_', '\\%', '\\_']);
    return p;
  }

  like(): Gen {
    const p = this.likePattern();
    const which = this.r.int(0, 2);
    if (which === 0) return { text: `s ${this.r.pick(['like', 'LIKE'])} ${lit(p)}`, ev: (row) => like(row.s as string, p) };
    const path: [string, (string | number)[], string] = which === 1 ? ['j', ['x'], 'j["x"]'] : ['tags', [0], 'tags[0]'];
    return {
      text: `${path[2]} like ${lit(p)}`,
      ev: (row) => {
        if (path[0] === 'j' && !row.valid.j) return null;
        const x = walk(row[path[0]], path[1]);
        return typeof x === 'string' && like(x, p);
      },
    };
  }

  bool(): Gen {
    return this.r.pick<Gen>([
      { text: 'b', ev: (row) => row.b as boolean },
      { text: 'b == true', ev: (row) => row.b as boolean },
      { text: 'b != True', ev: (row) => !(row.b as boolean) },
      { text: 'b == FALSE', ev: (row) => !(row.b as boolean) },
    ]);
  }

  jsonLit(): unknown {
    return this.r.pick<unknown>([1n, 2n, 0n, -1n, 2.5, 1.0, BIG, 'a', 'b', '', true, false, [0n, 1n], [1, 2]]);
  }

  json(): Gen {
    const r = this.r;
    const paths: [string, (string | number)[]][] = [
      ['j["x"]', ['x']],
      ['j["o"]["z"]', ['o', 'z']],
      ['j["y"][0]', ['y', 0]],
      ['j["y"]', ['y']],
      ['j["x"][1]', ['x', 1]],
    ];
    const [ptext, path] = r.pick(paths);
    const get = (row: Row): unknown => walk(row.j, path);
    const guard = (f: (row: Row) => Tri) => (row: Row): Tri => (row.valid.j ? f(row) : null);
    switch (r.int(0, 7)) {
      case 0: {
        const l = this.jsonLit();
        const ordered = typeof l === 'boolean' || Array.isArray(l) ? r.pick<Op>(['==', '!=']) : r.pick(OPS);
        return { text: `${ptext} ${ordered} ${lit(l)}`, ev: guard((row) => jsonCmp(ordered, get(row), l)) };
      }
      case 1: {
        const list = Array.from({ length: r.int(0, 4) }, () => this.jsonLit());
        const neg = r.chance(0.4);
        return { text: `${ptext} ${neg ? 'not in' : 'in'} ${lit(list)}`, ev: guard((row) => list.some((l) => jsonEq(get(row), l)) !== neg) };
      }
      case 2:
        return { text: `exists ${ptext}`, ev: guard((row) => get(row) !== undefined) };
      case 3: {
        const neg = r.chance(0.5);
        return {
          text: `${ptext} is ${neg ? 'not ' : ''}null`,
          ev: (row) => (!row.valid.j || get(row) === undefined || get(row) === null) !== neg,
        };
      }
      case 4: {
        const fn = r.pick(['json_contains', 'json_contains_all', 'json_contains_any', 'JSON_CONTAINS', 'array_contains']);
        const all = fn.toLowerCase().endsWith('all');
        const any = fn.toLowerCase().endsWith('any');
        const values = all || any ? Array.from({ length: r.int(0, 3) }, () => this.jsonLit()) : [this.jsonLit()];
        const arg = all || any ? lit(values) : lit(values[0]);
        return {
          text: `${fn}(j["y"], ${arg})`,
          ev: guard((row) => {
            const y = walk(row.j, ['y']);
            if (!Array.isArray(y)) return false;
            const has = (v: unknown): boolean => y.some((e) => jsonEq(e, v));
            return all ? values.every(has) : values.some(has);
          }),
        };
      }
      case 5: {
        const op = r.pick(OPS);
        const k = BigInt(r.int(0, 3));
        return {
          text: `array_length(j["y"]) ${op} ${k}`,
          ev: guard((row) => {
            const y = walk(row.j, ['y']);
            return Array.isArray(y) ? cmp(op, BigInt(y.length), k) : op === '!=';
          }),
        };
      }
      case 6: {
        const c = r.pick<Num>([1n, -2n, 0.5, 3n]);
        const op = r.pick(OPS);
        const target = r.pick<Num>([0n, 2n, 3.0, 1.5, BIG + 1n]);
        const aop = r.pick(['+', '-', '*']);
        return {
          text: `j["x"] ${aop} ${lit(c)} ${op} ${lit(target)}`,
          ev: guard((row) => {
            const x = walk(row.j, ['x']);
            if (!isNum(x)) return op === '!=';
            const intLike = (v: Num): boolean => typeof v === 'bigint' || Number.isSafeInteger(v);
            let res: Num;
            if (typeof c === 'bigint' && intLike(x)) {
              const a = BigInt(x);
              res = BigInt.asIntN(64, aop === '+' ? a + c : aop === '-' ? a - c : a * c);
            } else {
              const a = Number(x);
              const b = Number(c);
              res = aop === '+' ? a + b : aop === '-' ? a - b : a * b;
            }
            return jsonCmp(op, res, target);
          }),
        };
      }
      default: {
        const key = r.pick(['dk', 'dx']);
        const l = r.pick<unknown>([0n, 1n, -1n, 0.5, 'k', 0.25]);
        const op = typeof l === 'string' ? r.pick<Op>(['==', '!=', '<']) : r.pick(OPS);
        const text = r.chance(0.5) ? `${key} ${op} ${lit(l)}` : `$meta[${JSON.stringify(key)}] ${op} ${lit(l)}`;
        return { text, ev: (row) => jsonCmp(op, walk(row.$meta, [key]), l) };
      }
    }
  }

  array(): Gen {
    const r = this.r;
    const intVal = (): Num => r.pick<Num>([0n, 1n, 2n, 3n, -2n, BIG, 1.0]);
    switch (r.int(0, 5)) {
      case 0: {
        const fn = r.pick(['array_contains', 'ARRAY_CONTAINS', 'array_contains_all', 'array_contains_any', 'json_contains_any']);
        const all = fn.toLowerCase().endsWith('all');
        const any = fn.toLowerCase().endsWith('any');
        const values = all || any ? Array.from({ length: r.int(0, 3) }, intVal) : [intVal()];
        return {
          text: `${fn}(arr, ${all || any ? lit(values) : lit(values[0])})`,
          ev: (row) => {
            const a = row.arr as unknown[];
            const has = (v: unknown): boolean => a.some((e) => jsonEq(e, v));
            return all ? values.every(has) : values.some(has);
          },
        };
      }
      case 1: {
        const idx = r.int(0, 2);
        const op = r.pick(OPS);
        const v = intVal();
        return { text: `arr[${idx}] ${op} ${lit(v)}`, ev: (row) => elemCmp(op, (row.arr as unknown[])[idx], v) };
      }
      case 2: {
        const op = r.pick(OPS);
        const k = BigInt(r.int(0, 3));
        return this.lengthGen(op, k);
      }
      case 3: {
        const v = Array.from({ length: r.int(0, 2) }, intVal);
        const op = r.pick<Op>(['==', '!=']);
        return { text: `arr ${op} ${lit(v)}`, ev: (row) => jsonCmp(op, row.arr, v) };
      }
      case 4: {
        const values = Array.from({ length: r.int(1, 3) }, () => r.pick(TAGS));
        return { text: `array_contains_any(tags, ${lit(values)})`, ev: (row) => (row.tags as string[]).some((t) => values.includes(t)) };
      }
      default: {
        const t = r.pick(TAGS);
        const op = r.pick(OPS);
        return { text: `tags[1] ${op} ${lit(t)}`, ev: (row) => elemCmp(op, (row.tags as unknown[])[1], t) };
      }
    }
  }

  private lengthGen(op: Op, k: bigint): Gen {
    const field = this.r.pick(['arr', 'tags']);
    return { text: `array_length(${field}) ${op} ${k}`, ev: (row) => cmp(op, BigInt((row[field] as unknown[]).length), k) };
  }

  nulls(): Gen {
    const neg = this.r.chance(0.5);
    return { text: `n32 ${neg ? 'IS NOT NULL' : 'is null'}`, ev: (row) => row.valid.n32 === neg };
  }

  atom(): Gen {
    const r = this.r;
    return r.pick<() => Gen>([
      () => this.compare(),
      () => this.compare(),
      () => this.range(),
      () => this.fieldField(),
      () => this.inList(),
      () => this.arith(),
      () => this.arith(),
      () => this.like(),
      () => this.bool(),
      () => this.json(),
      () => this.json(),
      () => this.array(),
      () => this.nulls(),
    ])();
  }

  expr(depth: number): Gen {
    const r = this.r;
    if (depth === 0 || r.chance(0.3)) return this.atom();
    const kind = r.int(0, 4);
    if (kind === 0) {
      const a = this.expr(depth - 1);
      return { text: `${r.pick(['not ', 'NOT ', '!'])}(${a.text})`, ev: (row) => not3(a.ev(row)) };
    }
    const parts = Array.from({ length: r.int(2, 3) }, () => this.expr(depth - 1));
    const isAnd = kind <= 2;
    const sep = isAnd ? r.pick([' and ', ' && ', ' AND ']) : r.pick([' or ', ' || ', ' OR ']);
    return {
      text: parts.map((p) => `(${p.text})`).join(sep),
      ev: (row) => (isAnd ? and3 : or3)(parts.map((p) => p.ev(row))),
    };
  }
}

function check(seed: number, numRows: number, numExprs: number, depth: number): void {
  const r = new Rng(seed);
  const rows = Array.from({ length: numRows }, () => randRow(r));
  const batch = batchOf(rows);
  const g = new ExprGen(r);
  let matched = 0;
  for (let e = 0; e < numExprs; e++) {
    const gen = g.expr(depth);
    let bitmap: Uint8Array;
    try {
      bitmap = evaluate(parseExpr(gen.text, schema), batch);
    } catch (err) {
      throw new Error(`seed ${seed}, expression ${gen.text}: ${(err as Error).message}`);
    }
    expect(bitmap.length).toBe((numRows + 7) >> 3);
    for (let i = 0; i < bitmap.length * 8; i++) {
      const got = (((bitmap[i >> 3] as number) >> (i & 7)) & 1) === 1;
      const want = i < numRows && (gen.ev(rows[i] as Row) === true);
      if (got !== want) {
        const row = rows[i];
        const shown = JSON.stringify(row, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
        throw new Error(`seed ${seed}, expression ${gen.text}\nrow ${i}: got ${got}, oracle ${String(i < numRows ? gen.ev(row as Row) : false)}\n${shown}`);
      }
      if (got) matched++;
    }
  }
  // The generator must produce selective expressions, or the comparison proves little.
  expect(matched).toBeGreaterThan(numRows * numExprs * 0.1);
  expect(matched).toBeLessThan(numRows * numExprs * 0.9);
}

describe('evaluate agrees with a row-by-row oracle on random expressions', () => {
  it('atoms: 3000 expressions over 301 rows', () => check(1, 301, 3000, 0));
  it('nested and/or/not: 1500 expressions over 203 rows', () => check(2, 203, 1500, 3));
  it('larger batch: 200 expressions over 4099 rows', () => check(3, 4099, 200, 2));
  it.each([4, 5, 6, 7])('seed %i', (seed) => check(seed, 97, 1000, 2));
});
