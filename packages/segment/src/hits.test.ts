import { firstByPk, inMergedOrder, mergeHits, pkOrder, QUERY, SCORE } from './hits';
import { PK, type Column, type ColumnBatch } from './columns';

/** A seeded linear congruential generator (Park-Miller), so a failure reproduces. */
function rng(seed: number): () => number {
  let x = seed;
  return () => (x = (x * 48271) % 2147483647) / 2147483647;
}

function expected(keys: (bigint | string)[], idx: number[], limit: number): number[] {
  const sorted = [...idx].sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : 0));
  return limit > 0 ? sorted.slice(0, limit) : sorted;
}

describe('pkOrder', () => {
  test.each([1, 2, 3, 4, 5])('Int64 and VarChar keys, every limit, sorting and heap paths agree with a plain sort (seed %i)', (seed) => {
    const next = rng(seed);
    for (let round = 0; round < 40; round++) {
      const n = 1 + Math.floor(next() * 300);
      const ints = Array.from({ length: n }, () => BigInt(Math.floor((next() - 0.5) * 2 ** 40)));
      const strs = Array.from({ length: n }, () => Math.floor(next() * 1e6).toString(36) + (next() < 0.2 ? 'é' : ''));
      const idx = Array.from({ length: n }, (_, i) => i).filter(() => next() < 0.7);
      for (const limit of [0, 1, 2, 7, Math.floor(n / 5), n, n + 3]) {
        const int64: Column = { kind: 'int64', data: BigInt64Array.from(ints) };
        const string: Column = { kind: 'string', data: strs };
        // Keys are distinct with overwhelming probability; compare keys, not row numbers, so ties cannot matter.
        expect(pkOrder(int64, idx, limit).map((i) => ints[i])).toEqual(expected(ints, idx, limit).map((i) => ints[i]));
        expect(pkOrder(string, idx, limit).map((i) => strs[i])).toEqual(expected(strs, idx, limit).map((i) => strs[i]));
      }
    }
  });

  test('firstByPk orders a batch by $pk and keeps every column aligned', () => {
    const b = firstByPk({ numRows: 4, columns: new Map<string, Column>([[PK, { kind: 'string', data: ['d', 'b', 'a', 'c'] }], ['n', { kind: 'int', data: Int32Array.from([4, 2, 1, 3]) }]]) }, 3);
    expect(b.numRows).toBe(3);
    expect(b.columns.get(PK)!.data).toEqual(['a', 'b', 'c']);
    expect(Array.from(b.columns.get('n')!.data as Int32Array)).toEqual([1, 2, 3]);
  });

  test('firstByPk returns a batch already in $pk order within the limit as it is, and still cuts one over it', () => {
    const sorted: ColumnBatch = { numRows: 4, columns: new Map<string, Column>([[PK, { kind: 'int64', data: BigInt64Array.from([1n, 3n, 3n, 9n]) }], ['n', { kind: 'int', data: Int32Array.from([1, 2, 3, 4]) }]]) };
    expect(firstByPk(sorted, 0)).toBe(sorted);
    expect(firstByPk(sorted, 4)).toBe(sorted);
    const cut = firstByPk(sorted, 2);
    expect(Array.from(cut.columns.get(PK)!.data as BigInt64Array)).toEqual([1n, 3n]);
    expect(Array.from(cut.columns.get('n')!.data as Int32Array)).toEqual([1, 2]);
    const unsorted: ColumnBatch = { numRows: 3, columns: new Map<string, Column>([[PK, { kind: 'int64', data: BigInt64Array.from([5n, 2n, 7n]) }]]) };
    expect(Array.from(firstByPk(unsorted, 0).columns.get(PK)!.data as BigInt64Array)).toEqual([2n, 5n, 7n]);
  });
});

describe('mergeHits', () => {
  const hits = (q: number[], s: number[], pk: bigint[]): ColumnBatch => ({
    numRows: q.length,
    columns: new Map<string, Column>([[QUERY, { kind: 'int', data: Int32Array.from(q) }], [SCORE, { kind: 'float', data: Float32Array.from(s) }], [PK, { kind: 'int64', data: BigInt64Array.from(pk) }]]),
  });

  test('equal scores rank the smaller primary key first, whichever part they come from', () => {
    const a = hits([0, 0, 1], [2, 1, 5], [9n, 7n, 4n]);
    const b = hits([0, 0, 1], [2, 1, 5], [3n, 8n, 2n]);
    const m = mergeHits([a, b], 2, 3, 'BM25');
    expect(Array.from(m.columns.get(PK)!.data as BigInt64Array)).toEqual([3n, 9n, 7n, 2n, 4n]);
    const l2 = mergeHits([a, b], 2, 2, 'L2');
    expect(Array.from(l2.columns.get(PK)!.data as BigInt64Array)).toEqual([7n, 8n, 2n, 4n]);
  });

  test('a single part already in merged order is returned as it is; any other is merged (randomised against the full merge)', () => {
    const next = rng(11);
    for (let round = 0; round < 300; round++) {
      const nq = 1 + Math.floor(next() * 4);
      const k = 1 + Math.floor(next() * 5);
      const metric = next() < 0.5 ? 'L2' : 'IP';
      const n = Math.floor(next() * 12);
      const q = Array.from({ length: n }, () => Math.floor(next() * nq)).sort((x, y) => x - y);
      const s = Array.from({ length: n }, () => Math.floor(next() * 4)); // few values: ties are common
      const pk = Array.from({ length: n }, () => BigInt(Math.floor(next() * 6)));
      const part = hits(q, s, pk);
      const merged = mergeHits([part], nq, k, metric);
      // What the merge must give: per query, best score first (L2 smaller, IP larger), ties by key, at most k.
      const want: string[] = [];
      for (let qi = 0; qi < nq; qi++) {
        const rows = q.map((x, i) => i).filter((i) => q[i] === qi);
        rows.sort((a, b) => (metric === 'L2' ? s[a]! - s[b]! : s[b]! - s[a]!) || (pk[a]! < pk[b]! ? -1 : pk[a]! > pk[b]! ? 1 : 0));
        for (const i of rows.slice(0, k)) want.push(`${qi}/${s[i]}/${pk[i]}`);
      }
      const col = (name: string): ArrayLike<unknown> => (merged.columns.get(name)?.data ?? []) as ArrayLike<unknown>;
      expect(Array.from({ length: merged.numRows }, (_, i) => `${col(QUERY)[i]}/${col(SCORE)[i]}/${col(PK)[i]}`)).toEqual(want);
      if (n > 0) expect(merged === part).toBe(inMergedOrder(part, nq, k, metric));
      // Merging the merge changes nothing and returns it as it is.
      if (merged.numRows > 0) expect(mergeHits([merged], nq, k, metric)).toBe(merged);
    }
    expect(inMergedOrder(hits([0, 0], [1, 2], [1n, 2n]), 1, 5, 'IP')).toBe(false); // IP: larger first
    expect(inMergedOrder(hits([0, 0], [2, 1], [1n, 2n]), 1, 5, 'IP')).toBe(true);
    expect(inMergedOrder(hits([0, 0], [2, 2], [2n, 1n]), 1, 5, 'IP')).toBe(false); // a tie: smaller key first
    expect(inMergedOrder(hits([0, 0, 0], [1, 2, 3], [1n, 2n, 3n]), 1, 2, 'L2')).toBe(false); // more than k
    expect(inMergedOrder(hits([1, 0], [1, 2], [1n, 2n]), 2, 5, 'L2')).toBe(false); // queries out of order
    expect(inMergedOrder(hits([0, 3], [1, 2], [1n, 2n]), 2, 5, 'L2')).toBe(false); // a query past nq
    expect(inMergedOrder(hits([0, 0], [1, NaN], [1n, 2n]), 1, 5, 'L2')).toBe(false);
  });
});
