// Filtered (pre-filter bitmap) search: only allowed rows come back, as many as k where that many exist, with recall
// measured against a filtered brute force.
import { VectorIndex, type IndexParams, type IndexType, type SearchOptions } from './index';
import { bitSet, bruteForce, clustered, randomBitmap, recallAtK, sequentialIds } from './synthetic';

jest.setTimeout(60_000);

const DIM = 32;
const N = 10_000;
const NQ = 50;
const K = 10;

const gen = clustered(DIM, 40, 21);
const base = gen.points(N, 22);
const queries = gen.points(NQ, 23);
const ids = sequentialIds(N);

interface Case {
  type: IndexType;
  params: IndexParams;
  search: SearchOptions;
  minRecall: number;
}
const CASES: Case[] = [
  { type: 'FLAT', params: {}, search: {}, minRecall: 1 },
  { type: 'HNSW', params: { M: 16, efConstruction: 100 }, search: { ef: 64 }, minRecall: 0.9 },
  { type: 'IVF_FLAT', params: { nlist: 64 }, search: { nprobe: 16 }, minRecall: 0.9 },
  { type: 'IVF_SQ8', params: { nlist: 64 }, search: { nprobe: 16 }, minRecall: 0.85 },
  { type: 'IVF_PQ', params: { nlist: 64, m: 16, nbits: 8 }, search: { nprobe: 16 }, minRecall: 0.6 },
];
// On 10k rows, HNSW walks the graph for 50% and scans the allowed rows below (its cost estimate); IVF probes its
// lists and redoes a query over every list when the probed ones held fewer than k allowed rows; 0.05% is 5 rows.
const FRACTIONS = [0.5, 0.1, 0.01, 0.0005];

const indexes = new Map<IndexType, VectorIndex>();

beforeAll(async () => {
  for (const c of CASES) {
    const index = VectorIndex.create({ indexType: c.type, metric: 'L2', dim: DIM, params: c.params });
    await index.train(base.subarray(0, 3000 * DIM)); // enough for nlist=64 and 2^8 PQ centroids
    await index.add(base, ids);
    indexes.set(c.type, index);
  }
});

afterAll(() => {
  for (const index of indexes.values()) index.free();
});

describe.each(CASES)('$type', ({ type, search, minRecall }) => {
  test.each(FRACTIONS)('allowed fraction %p', async (fraction) => {
    const bits = randomBitmap(N, fraction, Math.round(fraction * 1e6) + 5);
    const allowedCount = Array.from({ length: N }, (_, i) => bitSet(bits, i)).filter(Boolean).length;
    const res = await indexes.get(type)!.search(queries, K, { ...search, filter: bits });
    const want = Math.min(K, allowedCount);
    for (let i = 0; i < NQ; i++) {
      const row = Array.from(res.ids.subarray(i * K, (i + 1) * K));
      const hits = row.filter((id) => id >= 0n);
      for (const id of hits) expect(bitSet(bits, id)).toBe(true);
      expect(new Set(hits).size).toBe(hits.length);
      expect(hits.length).toBe(want);
      expect(row.slice(hits.length).every((id) => id === -1n)).toBe(true);
    }
    const truth = bruteForce(base, queries, DIM, K, 'L2', (r) => bitSet(bits, r));
    expect(recallAtK(truth.ids, res.ids, NQ, K)).toBeGreaterThanOrEqual(minRecall);
  });

  test('a filter allowing nothing gives no rows; one allowing everything changes nothing', async () => {
    const index = indexes.get(type)!;
    const none = await index.search(queries.subarray(0, 2 * DIM), K, { ...search, filter: new Uint8Array(N / 8) });
    expect(none.ids.every((id) => id === -1n)).toBe(true);
    const empty = await index.search(queries.subarray(0, DIM), K, { ...search, filter: new Uint8Array(0) });
    expect(empty.ids.every((id) => id === -1n)).toBe(true);
    const all = await index.search(queries, K, { ...search, filter: new Uint8Array(N / 8).fill(0xff) });
    const plain = await index.search(queries, K, search);
    expect(Array.from(all.ids)).toEqual(Array.from(plain.ids));
  });
});

test('ids outside the bitmap are not allowed, and bits are LSB first', async () => {
  const index = indexes.get('FLAT')!;
  // Only id 9 (byte 1, bit 1) and id 7 (byte 0, bit 7) are allowed; the bitmap covers ids 0..15 only.
  const bits = new Uint8Array([0b1000_0000, 0b0000_0010]);
  const res = await index.search(queries.subarray(0, DIM), K, { filter: bits });
  expect(Array.from(res.ids.subarray(0, 2)).sort()).toEqual([7n, 9n]);
  expect(res.ids.subarray(2).every((id) => id === -1n)).toBe(true);
});

test('filters apply to caller ids, not to row numbers, for HNSW and FLAT', async () => {
  for (const type of ['FLAT', 'HNSW'] as const) {
    const index = VectorIndex.create({ indexType: type, metric: 'L2', dim: DIM, params: { M: 16, efConstruction: 64 } });
    const n = 2000;
    const shifted = sequentialIds(n, 3000); // ids 3000..4999
    await index.add(base.subarray(0, n * DIM), shifted);
    // Allow every id but multiples of 4 (3/4 of the rows: HNSW walks the graph) and the ids 0..2999 not in the index.
    const bits = new Uint8Array(5000 / 8).fill(0xff);
    for (let id = 0; id < 5000; id += 4) bits[id >> 3]! &= ~(1 << (id & 7));
    const res = await index.search(queries, K, { filter: bits, ef: 64 });
    const truth = bruteForce(base.subarray(0, n * DIM), queries, DIM, K, 'L2', (r) => (3000 + r) % 4 !== 0, shifted);
    for (const id of res.ids) expect(id >= 3000n && id % 4n !== 0n).toBe(true);
    expect(recallAtK(truth.ids, res.ids, NQ, K)).toBeGreaterThanOrEqual(0.9);
    index.free();
  }
});

test('HNSW over a selective filter scans the allowed rows: the same rows and distances as FLAT, every metric and dimension', async () => {
  // 1,003 rows (the bitmap's last 64-bit word is partial) with the rows of runs and single rows allowed; bitmaps
  // shorter than the index (rows past it are not allowed) and longer (bits past the last row are ignored); a few
  // dimensions, some not a multiple of 8.
  const n = 1003;
  for (const dim of [32, 44, 13]) {
    const g = clustered(dim, 40, 31);
    const data = g.points(n, 32);
    const qs = g.points(20, 33);
    for (const metric of ['L2', 'IP', 'COSINE'] as const) {
      const hnsw = VectorIndex.create({ indexType: 'HNSW', metric, dim, params: { M: 16, efConstruction: 64 } });
      const flat = VectorIndex.create({ indexType: 'FLAT', metric, dim, params: {} });
      for (const index of [hnsw, flat]) await index.add(data, sequentialIds(n));
      const runs = new Uint8Array(Math.ceil(n / 8));
      for (let r = 0; r < n; r++) if (r % 100 < 5 || r % 97 === 0 || r === n - 1) runs[r >> 3]! |= 1 << (r & 7);
      const longer = new Uint8Array(runs.length + 16).fill(0xff);
      longer.set(runs);
      const shorter = runs.slice(0, 64); // rows 0..511 only
      for (const filter of [runs, longer, shorter]) {
        const got = await hnsw.search(qs, K, { filter, ef: 16 });
        const want = await flat.search(qs, K, { filter });
        expect(Array.from(got.ids)).toEqual(Array.from(want.ids));
        expect(Array.from(got.distances)).toEqual(Array.from(want.distances));
        for (const id of got.ids) expect(id >= 0n && id < BigInt(Math.min(n, filter.length * 8)) && bitSet(runs, id)).toBe(true);
      }
      hnsw.free();
      flat.free();
    }
  }
});
