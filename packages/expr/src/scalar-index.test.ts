import { evaluate, evaluateAsync, parseExpr, ScalarIndex, type Column, type ColumnBatch, type SchemaInfo } from './index';

const schema: SchemaInfo = {
  enableDynamicField: false,
  fields: [
    { name: 'id', type: 'Int64', isPrimaryKey: true },
    { name: 'i8', type: 'Int8' },
    { name: 'i32', type: 'Int32', nullable: true },
    { name: 'i64', type: 'Int64' },
    { name: 'f', type: 'Float' },
    { name: 'd', type: 'Double', nullable: true },
    { name: 'b', type: 'Bool' },
    { name: 's', type: 'VarChar' },
  ],
};

function rng(seed: number): (m: number) => number {
  let x = seed;
  return (m) => {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
    return x % m;
  };
}

const WORDS = ['', 'a', 'ab', 'abc', 'abd', 'b', 'ba', 'zz', 'é', 'a%', 'a_b', 'Ab'];

function columns(n: number, r: (m: number) => number): Record<string, Column> {
  const valid = (): Uint8Array => Uint8Array.from({ length: n }, () => (r(8) === 0 ? 0 : 1));
  return {
    id: { kind: 'int64', data: BigInt64Array.from({ length: n }, (_, k) => BigInt(k)) },
    i8: { kind: 'int', data: Int32Array.from({ length: n }, () => r(256) - 128) },
    i32: { kind: 'int', data: Int32Array.from({ length: n }, () => r(50) - 25), valid: valid() },
    i64: { kind: 'int64', data: BigInt64Array.from({ length: n }, () => BigInt(r(40) - 20) * (r(5) === 0 ? 1n << 55n : 1n)) },
    f: { kind: 'float', data: Float32Array.from({ length: n }, () => (r(30) === 0 ? NaN : (r(200) - 100) / 8 + (r(3) === 0 ? 0.1 : 0))) },
    d: { kind: 'float', data: Float64Array.from({ length: n }, () => (r(100) - 50) / 4), valid: valid() },
    b: { kind: 'bool', data: Uint8Array.from({ length: n }, () => r(2)) },
    s: { kind: 'string', data: Array.from({ length: n }, () => WORDS[r(WORDS.length)] as string) },
  };
}

function literal(field: string, r: (m: number) => number): string {
  switch (field) {
    case 's':
      return JSON.stringify(WORDS[r(WORDS.length)] ?? 'q');
    case 'b':
      return r(2) === 0 ? 'true' : 'false';
    case 'i64':
      return r(4) === 0 ? String((BigInt(r(40) - 20) * (1n << 55n))) : String(r(44) - 22);
    default: {
      const x = r(5);
      if (x === 0) return String((r(300) - 150) / 8); // fractions (and out-of-range for Int8)
      if (x === 1) return String(r(600) - 300);
      if (x === 2) return '1e300';
      return String(r(60) - 30);
    }
  }
}

function leaf(r: (m: number) => number): string {
  const fields = ['i8', 'i32', 'i64', 'f', 'd', 'b', 's'];
  const f = fields[r(fields.length)] as string;
  const k = r(f === 's' ? 6 : 4);
  if (k === 0) return `${f} in [${Array.from({ length: r(4) }, () => literal(f, r)).join(', ')}]`;
  if (k === 1) return `${f} not in [${Array.from({ length: 1 + r(3) }, () => literal(f, r)).join(', ')}]`;
  if (k >= 4) return `s like ${JSON.stringify(`${WORDS[r(WORDS.length)] ?? ''}${k === 4 ? '%' : ''}`)}`;
  if (f === 'b') return `${f} ${['==', '!='][r(2)]} ${literal(f, r)}`;
  if (k === 3 && f !== 's') return `${literal(f, r)} ${['<', '<='][r(2)]} ${f} ${['<', '<='][r(2)]} ${literal(f, r)}`;
  return `${f} ${['==', '!=', '<', '<=', '>', '>='][r(6)]} ${literal(f, r)}`;
}

function expression(r: (m: number) => number, depth: number): string {
  if (depth === 0 || r(3) === 0) return leaf(r);
  const x = r(3);
  if (x === 0) return `not (${expression(r, depth - 1)})`;
  return `(${expression(r, depth - 1)}) ${x === 1 ? 'and' : 'or'} (${expression(r, depth - 1)})`;
}

function batches(cols: Record<string, Column>, n: number): { plain: ColumnBatch; indexed: ColumnBatch; indexes: Map<string, ScalarIndex> } {
  const indexes = new Map<string, ScalarIndex>();
  for (const f of ['i8', 'i32', 'i64', 'f', 'd', 'b', 's']) {
    // Through bytes, as a query node loads it.
    indexes.set(f, ScalarIndex.deserialize(ScalarIndex.build(cols[f] as Column).serialize()));
  }
  const plain: ColumnBatch = { numRows: n, column: (name) => cols[name] };
  const indexed: ColumnBatch = {
    numRows: n,
    column: (name) => cols[name],
    scalarIndex: (field) => {
      const index = indexes.get(field);
      return index === undefined ? undefined : { index, firstRow: 0 };
    },
  };
  return { plain, indexed, indexes };
}

describe('scalar index', () => {
  it('serializes and reads back every kind', () => {
    const r = rng(7);
    const cols = columns(500, r);
    for (const [name, col] of Object.entries(cols)) {
      const a = ScalarIndex.build(col);
      const b = ScalarIndex.deserialize(a.serialize());
      expect({ name, kind: b.kind, n: b.numRows, d: b.distinct }).toEqual({ name, kind: a.kind, n: a.numRows, d: a.distinct });
      expect(Array.from(b.rows)).toEqual(Array.from(a.rows));
      expect(Array.from(b.offsets)).toEqual(Array.from(a.offsets));
      expect(Array.from(b.values as ArrayLike<unknown>)).toEqual(Array.from(a.values as ArrayLike<unknown>));
    }
  });

  it('refuses a file that is not an index', () => {
    expect(() => ScalarIndex.deserialize(Buffer.from('not an index at all'))).toThrow(/not a scalar index file/);
  });

  it('answers random filters exactly as the scan does (property)', async () => {
    for (let seed = 1; seed <= 25; seed++) {
      const r = rng(seed);
      const n = 1 + r(3000);
      const cols = columns(n, r);
      const { plain, indexed } = batches(cols, n);
      for (let q = 0; q < 30; q++) {
        const text = expression(r, 3);
        const expr = parseExpr(text, schema);
        const want = evaluate(expr, plain);
        expect({ text, seed, got: Buffer.from(evaluate(expr, indexed)).toString('hex') }).toEqual({ text, seed, got: Buffer.from(want).toString('hex') });
        // In slices (rows from firstRow on), as a query node evaluates large segments.
        const sliced = await evaluateAsync(expr, indexed, { sliceMs: 0.05 });
        expect({ text, seed, sliced: Buffer.from(sliced).toString('hex') }).toEqual({ text, seed, sliced: Buffer.from(want).toString('hex') });
      }
    }
  }, 120_000);

  it('reads only the matching rows for a selective filter', () => {
    const n = 200_000;
    const data = Int32Array.from({ length: n }, (_, k) => (k * 7919) % n);
    const cols: Record<string, Column> = { i32: { kind: 'int', data } };
    const index = ScalarIndex.build(cols.i32 as Column);
    let reads = 0;
    const plain: ColumnBatch = { numRows: n, column: (name) => cols[name] };
    const indexed: ColumnBatch = {
      numRows: n,
      column: (name) => {
        reads++;
        return cols[name];
      },
      scalarIndex: () => ({ index, firstRow: 0 }),
    };
    const expr = parseExpr('i32 >= 1000 and i32 < 1200', schema);
    const want = evaluate(expr, plain);
    const t0 = performance.now();
    const got = evaluate(expr, indexed);
    const ms = performance.now() - t0;
    expect(Buffer.from(got).equals(Buffer.from(want))).toBe(true);
    // The column is asked for its validity only; no value is compared row by row (the answer comes from postings).
    expect(reads).toBeLessThanOrEqual(2);
    expect(ms).toBeLessThan(1000);
  });
});
