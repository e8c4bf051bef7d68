import { inRange, scoreKey, takeBatch, PK, QUERY, SCORE, type Column, type ColumnBatch, type KeyRange } from '@kite/segment';
import { iteratorPage } from './iterator';

/** A search over fixed rows: the best `k` inside `range`, ties by key, as the shards' merge returns them. */
function fakeSearch(scores: number[], metric: string) {
  const all: ColumnBatch = {
    numRows: scores.length,
    columns: new Map<string, Column>([
      [QUERY, { kind: 'int', data: new Int32Array(scores.length) }],
      [SCORE, { kind: 'float', data: Float32Array.from(scores) }],
      [PK, { kind: 'int64', data: BigInt64Array.from(scores.map((_, i) => BigInt(i))) }],
    ]),
  };
  const s = all.columns.get(SCORE)!.data as Float32Array;
  return async (k: number, range: KeyRange): Promise<ColumnBatch> => {
    const rows = Array.from({ length: scores.length }, (_, i) => i)
      .filter((i) => inRange(scoreKey(s[i]!, metric), range))
      .sort((a, b) => scoreKey(s[a]!, metric) - scoreKey(s[b]!, metric) || a - b);
    return takeBatch(all, rows.slice(0, k));
  };
}

async function drain(scores: number[], metric: string, batch: number): Promise<number[][]> {
  const search = fakeSearch(scores, metric);
  const pages: number[][] = [];
  let lastBound: number | undefined;
  for (let i = 0; i < 1000; i++) {
    const res = await iteratorPage(search, metric, undefined, { batch, token: 't', ...(lastBound === undefined ? {} : { lastBound }) });
    const pks = Array.from((res.page.columns.get(PK)?.data ?? []) as BigInt64Array, Number);
    if (pks.length === 0) return pages;
    pages.push(pks);
    lastBound = res.lastBound;
  }
  throw new Error('the iterator did not end');
}

describe('iteratorPage', () => {
  test.each(['L2', 'IP'])('returns every row once, in score order, with runs of equal scores across page ends (%s)', async (metric) => {
    // Runs of 1, 2, 3, 7 and 12 equal scores.
    const scores: number[] = [];
    let v = 0.5;
    for (const run of [1, 2, 3, 7, 1, 12, 2, 1, 3]) {
      for (let i = 0; i < run; i++) scores.push(v);
      v += metric === 'L2' ? 0.25 : -0.25;
    }
    for (const batch of [1, 2, 3, 4, 5, 10, 50]) {
      const pages = await drain(scores, metric, batch);
      const flat = pages.flat();
      expect(flat.length).toBe(scores.length);
      expect(new Set(flat).size).toBe(scores.length);
      const keys = flat.map((pk) => scoreKey(Math.fround(scores[pk]!), metric));
      expect(keys).toEqual([...keys].sort((a, b) => a - b));
      // A page exceeds the batch only when it is one run of equal scores.
      for (const p of pages) if (p.length > batch) expect(new Set(p.map((pk) => scores[pk])).size).toBe(1);
    }
  });
});
