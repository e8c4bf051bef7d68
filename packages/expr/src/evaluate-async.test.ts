import { KiteError } from '@kite/common';
import { evaluate, evaluateAsync, parseExpr, ScalarIndex, type Column, type ColumnBatch, type SchemaInfo } from './index';

const schema: SchemaInfo = {
  enableDynamicField: true,
  fields: [
    { name: 'id', type: 'Int64', isPrimaryKey: true },
    { name: 'i', type: 'Int32', nullable: true },
    { name: 'f', type: 'Float' },
    { name: 'b', type: 'Bool' },
    { name: 's', type: 'VarChar' },
    { name: 'j', type: 'JSON' },
  ],
};

function batchOf(n: number): ColumnBatch {
  let x = 12345;
  const r = (m: number): number => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x % m;
  };
  const cols: Record<string, Column> = {
    id: { kind: 'int64', data: BigInt64Array.from({ length: n }, (_, k) => BigInt(k) * 3n) },
    i: { kind: 'int', data: Int32Array.from({ length: n }, () => r(100)), valid: Uint8Array.from({ length: n }, () => (r(10) === 0 ? 0 : 1)) },
    f: { kind: 'float', data: Float32Array.from({ length: n }, () => r(1000) / 10) },
    b: { kind: 'bool', data: Uint8Array.from({ length: n }, () => r(2)) },
    s: { kind: 'string', data: Array.from({ length: n }, () => ['abc', 'abd', 'xbz', 'a_c', ''][r(5)] as string) },
    j: { kind: 'json', data: Array.from({ length: n }, () => (r(4) === 0 ? null : { k: r(10), t: ['x', 'y'][r(2)] })) },
    $meta: { kind: 'json', data: Array.from({ length: n }, () => ({ d: r(3) })) },
  };
  return { numRows: n, column: (name) => cols[name] };
}

const filters = [
  'i > 50',
  'not (i > 50)',
  'id % 7 == 1 and f < 50.5',
  'b or s like "a_%"',
  's like "%b%" and j["k"] >= 5',
  'j["t"] == "x" or d == 2',
  'i is null or id in [3, 300, 3000]',
];

describe('evaluateAsync', () => {
  it.each([1, 7, 8, 9, 100, 1000, 5003])('matches evaluate() on %i rows, whatever the slices', async (n) => {
    const batch = batchOf(n);
    for (const text of filters) {
      const e = parseExpr(text, schema);
      const want = Array.from(evaluate(e, batch));
      // sliceMs 0: the smallest slices (and a yield after each); a large sliceMs: the whole batch in one piece.
      expect([text, Array.from(await evaluateAsync(e, batch, { sliceMs: 0 }))]).toEqual([text, want]);
      expect([text, Array.from(await evaluateAsync(e, batch, { sliceMs: 1e9 }))]).toEqual([text, want]);
      expect([text, Array.from(await evaluateAsync(e, batch))]).toEqual([text, want]);
    }
  });

  it('returns to the event loop between slices', async () => {
    const batch = batchOf(5000);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    try {
      await evaluateAsync(parseExpr('i > 50', schema), batch, { sliceMs: 0 });
    } finally {
      clearInterval(timer);
    }
    expect(ticks).toBeGreaterThan(0);
  });

  it('stops with DeadlineExceeded once the deadline has passed', async () => {
    const e = parseExpr('s like "%b%"', schema);
    const err = await evaluateAsync(e, batchOf(5000), { sliceMs: 0, deadline: Date.now() - 1 }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(KiteError);
    expect((err as KiteError).kind).toBe('DeadlineExceeded');
    expect((err as KiteError).message).toContain('did not finish within the request');
  });

  it('evaluates a filter its scalar indexes answer in one piece, without slices, as evaluate() does', async () => {
    const plain = batchOf(20_000);
    const indexes = new Map(['i', 's', 'id'].map((f) => [f, ScalarIndex.build(plain.column(f)!)]));
    for (const text of ['i > 50 and i < 60', 's like "ab%"', 'i in [1, 2] or not (s == "abc")', 'id < 300', 'i > 50 and f < 3.5']) {
      let reads = 0;
      const indexed: ColumnBatch = {
        numRows: plain.numRows,
        column: (name) => {
          reads++;
          return plain.column(name);
        },
        scalarIndex: (f) => (indexes.has(f) ? { index: indexes.get(f)!, firstRow: 0 } : undefined),
      };
      const e = parseExpr(text, schema);
      const want = Array.from(evaluate(e, plain));
      expect([text, Array.from(await evaluateAsync(e, indexed, { sliceMs: 0 }))]).toEqual([text, want]);
      // Answered by indexes: each column read once or twice over the whole batch. The scan of f (no index) slices.
      if (text.includes('f <')) expect(reads).toBeGreaterThan(10);
      else expect([text, reads <= 4]).toEqual([text, true]);
    }
  });
});
