import { VectorIndex } from '@kite/faiss';
import { bitClear, bitmapAll, mergeGroupHits, scoreKey, PK, QUERY, SCORE, type Column, type ColumnBatch, type KeyRange } from '@kite/segment';
import { denseAnn, type AnnIndex } from './ann';
import { collectHits } from './range';

const DIM = 4;

/** A seeded generator, so a failure reproduces. */
function rng(seed: number): () => number {
  let x = seed;
  return () => (x = (x * 48271) % 2147483647) / 2147483647;
}

function data(n: number, seed: number): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length: n * DIM }, () => Math.fround(next() * 2 - 1));
}

function exactScores(metric: 'L2' | 'IP', vecs: Float32Array, q: Float32Array): number[] {
  const n = vecs.length / DIM;
  return Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (let d = 0; d < DIM; d++) s += metric === 'L2' ? (vecs[i * DIM + d]! - q[d]!) ** 2 : vecs[i * DIM + d]! * q[d]!;
    return s;
  });
}

async function indexOf(type: 'FLAT' | 'HNSW', metric: 'L2' | 'IP', vecs: Float32Array): Promise<VectorIndex> {
  const idx = VectorIndex.create({ indexType: type, metric, dim: DIM, ...(type === 'HNSW' ? { params: { M: 16, efConstruction: 200 } } : {}) });
  await idx.add(vecs, BigInt64Array.from({ length: vecs.length / DIM }, (_, i) => BigInt(i)));
  return idx;
}

describe('collectHits', () => {
  const n = 3000;
  const vecs = data(n, 3);
  const q = data(1, 99);

  test.each(['L2', 'IP'] as const)('a range on FLAT (%s) is exact, past the first k the index returns, with masked rows', async (metric) => {
    const idx = await indexOf('FLAT', metric, vecs);
    try {
      const s = exactScores(metric, vecs, q);
      const mask = bitmapAll(n);
      for (let i = 0; i < n; i += 7) bitClear(mask, i);
      const visible = Array.from({ length: n }, (_, i) => i).filter((i) => i % 7 !== 0);
      const ranked = [...visible].sort((a, b) => scoreKey(s[a]!, metric) - scoreKey(s[b]!, metric));
      const key = (r: number): number => scoreKey(s[r]!, metric);
      // Keys in [rank 500, rank 2100): the best 500 rows lie before the range.
      const range: KeyRange = { lo: (key(ranked[499]!) + key(ranked[500]!)) / 2, hi: (key(ranked[2099]!) + key(ranked[2100]!)) / 2, hiOpen: true };
      for (const k of [10, 1600, 5000]) {
        const got = await collectHits({ index: denseAnn(idx), queries: { kind: 'dense', data: q }, nq: 1, k, metric, params: {}, mask, numRows: n, count: visible.length, extras: { range } });
        // Rows whose scores differ by a float32 rounding may swap places: compare the sets, and the order by score.
        const want = ranked.slice(500, 2100).slice(0, k);
        expect(got.rows.length).toBe(want.length);
        if (k >= want.length) expect(new Set(got.rows)).toEqual(new Set(want));
        else expect(got.rows.filter((r) => want.includes(r)).length).toBeGreaterThanOrEqual(k - 1);
        const keys = got.scores.map((x) => scoreKey(x, metric));
        expect(keys).toEqual([...keys].sort((a, b) => a - b));
      }
    } finally {
      idx.free();
    }
  });

  test('an index freed between two calls (a growing source compacted) fails retriably instead of reading freed memory', async () => {
    const idx = await indexOf('FLAT', 'L2', vecs);
    try {
      let calls = 0;
      const inner = denseAnn(idx);
      const shrinking: AnnIndex = {
        metric: inner.metric,
        exact: false,
        get isFreed() {
          return calls > 0;
        },
        search: (...args: Parameters<AnnIndex['search']>) => {
          calls++;
          return inner.search(...args);
        },
        free: () => undefined,
      };
      const s = exactScores('L2', vecs, q).sort((a, b) => a - b);
      const err = await collectHits({ index: shrinking, queries: { kind: 'dense', data: q }, nq: 1, k: 10, metric: 'L2', params: {}, mask: bitmapAll(n), numRows: n, count: n, extras: { range: { lo: s[1000] } } }).catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: 'ServiceUnavailable', retriable: true });
      expect(calls).toBe(1);
    } finally {
      idx.free();
    }
  });

  test('grouping on HNSW finds every group and fills it, strict or not', async () => {
    const idx = await indexOf('HNSW', 'L2', vecs);
    try {
      const groups: Column = { kind: 'int64', data: BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 50)) };
      const mask = bitmapAll(n);
      for (const strict of [true, false]) {
        const got = await collectHits({ index: denseAnn(idx), queries: { kind: 'dense', data: q }, nq: 1, k: 8, metric: 'L2', params: { ef: 16 }, mask, numRows: n, count: n, extras: { group: { field: 'g', size: 4, strict } }, groupColumn: groups });
        const by = new Map<bigint, number>();
        for (const r of got.rows) by.set(BigInt(r % 50), (by.get(BigInt(r % 50)) ?? 0) + 1);
        expect(by.size).toBe(8);
        if (strict) for (const c of by.values()) expect(c).toBe(4);
        const keys = got.scores;
        expect(keys).toEqual([...keys].sort((a, b) => a - b));
      }
    } finally {
      idx.free();
    }
  });
});

describe('mergeGroupHits', () => {
  test('keeps the best groups of all parts, each group together and its best hits first', () => {
    const part = (pks: number[], scores: number[], groups: string[]): ColumnBatch => ({
      numRows: pks.length,
      columns: new Map<string, Column>([
        [QUERY, { kind: 'int', data: new Int32Array(pks.length) }],
        [SCORE, { kind: 'float', data: Float32Array.from(scores) }],
        [PK, { kind: 'int64', data: BigInt64Array.from(pks.map(BigInt)) }],
        ['g', { kind: 'string', data: groups }],
      ]),
    });
    // Group "a" has hits in both parts; "c" is third best by its best hit.
    const parts = [part([1, 2, 3], [0.1, 0.5, 0.9], ['a', 'b', 'a']), part([4, 5, 6], [0.2, 0.3, 0.8], ['a', 'c', 'b'])];
    const pks = (groups: number): number[] => Array.from((mergeGroupHits(parts, 1, groups, { field: 'g', size: 2, strict: false }, 'L2').columns.get(PK) as Extract<Column, { kind: 'int64' }>).data, Number);
    expect(pks(2)).toEqual([1, 4, 5]);
    expect(pks(3)).toEqual([1, 4, 5, 2, 6]);
  });
});
