// searchRows (exact top-k over a candidate list, on the calling thread) against search() with a filter holding
// exactly those rows: the same ids and the same distances, bit for bit, for every metric, several k and candidate
// counts, with ties (repeated vectors); and undefined where it does not apply.
import { VectorIndex, type MetricType } from './index';
import { clustered, sequentialIds } from './synthetic';

const DIM = 16;
const N = 5_000;
const NQ = 3;

const gen = clustered(DIM, 20, 31);
const base = gen.points(N, 32);
// Ties: every fifth row repeats the row before it.
for (let i = 5; i < N; i += 5) base.copyWithin(i * DIM, (i - 1) * DIM, i * DIM);
const queries = gen.points(NQ, 33);

/** A random ascending subset of [0, N) of about `count` rows (seeded), with its bitmap. */
function candidates(count: number, seed: number): { rows: Int32Array; bitmap: Uint8Array } {
  let s = seed;
  const next = (): number => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
  const picked: number[] = [];
  for (let i = 0; i < N; i++) if (next() < count / N) picked.push(i);
  const bitmap = new Uint8Array(Math.ceil(N / 8));
  for (const r of picked) bitmap[r >> 3]! |= 1 << (r & 7);
  return { rows: Int32Array.from(picked), bitmap };
}

describe.each(['L2', 'IP', 'COSINE'] as MetricType[])('FLAT %s', (metric) => {
  let index: VectorIndex;
  beforeAll(async () => {
    index = VectorIndex.create({ indexType: 'FLAT', metric, dim: DIM });
    await index.add(base, sequentialIds(N));
  });
  afterAll(() => index.free());

  it.each([
    [1, 50],
    [10, 3],
    [10, 200],
    [10, 1000],
    [64, 40],
    [99, 800],
  ])('k=%i over about %i candidate rows equals the filtered search', async (k, count) => {
    const { rows, bitmap } = candidates(count, k * 7 + count);
    const got = index.searchRows(queries, k, rows);
    const want = await index.search(queries, k, { filter: bitmap });
    expect(got).toBeDefined();
    expect(Array.from(got!.ids)).toEqual(Array.from(want.ids));
    expect(Buffer.from(got!.distances.buffer).equals(Buffer.from(want.distances.buffer))).toBe(true);
  });

  it('no candidates: every hit missing, as a filter allowing nothing', async () => {
    const got = index.searchRows(queries, 5, new Int32Array(0));
    const want = await index.search(queries, 5, { filter: new Uint8Array(Math.ceil(N / 8)) });
    expect(Array.from(got!.ids)).toEqual(Array.from(want.ids));
    expect(Array.from(got!.distances)).toEqual(Array.from(want.distances));
  });
});

it('is undefined for other index types and for k >= 100, which search() serves', async () => {
  const hnsw = VectorIndex.create({ indexType: 'HNSW', metric: 'L2', dim: DIM, params: { M: 8, efConstruction: 40 } });
  const flat = VectorIndex.create({ indexType: 'FLAT', metric: 'L2', dim: DIM });
  try {
    await hnsw.add(base.subarray(0, 500 * DIM), sequentialIds(500));
    await flat.add(base.subarray(0, 500 * DIM), sequentialIds(500));
    expect(hnsw.searchRows(queries, 5, Int32Array.from([1, 2, 3]))).toBeUndefined();
    expect(flat.searchRows(queries, 100, Int32Array.from([1, 2, 3]))).toBeUndefined();
    expect(() => flat.searchRows(queries, 5, [1, 2] as unknown as Int32Array)).toThrow(/rows must be an Int32Array/);
  } finally {
    hnsw.free();
    flat.free();
  }
});
