// HNSW's exact scan of a filter's allowed rows (taken when few rows are allowed) ranks them by 8-bit codes of the
// vectors and then the best few again by faiss's exact distances: the recall against an exact scan of the allowed
// rows stays at least 0.99, and every distance returned is faiss's exact one for its row, bit for bit, for each
// metric, with an uneven bitmap, a dimension that is not a multiple of the kernels' 32, and a query outside the
// range of the stored vectors (answered by the float scan).
import { VectorIndex, type MetricType } from './index';
import { bitSet, bruteForce, clustered, recallAtK, rng, sequentialIds } from './synthetic';

jest.setTimeout(120_000);

const DIM = 100;
const N = 20_000;
const NQ = 40;

const gen = clustered(DIM, 64, 51, 0.3);
const base = gen.points(N, 52);
const queries = gen.points(NQ, 53);
// About 10% of the rows, unevenly: runs of 1 to 40 rows at random gaps, a dense block, and isolated rows.
const bits = new Uint8Array(N / 8);
{
  const next = rng(54);
  let r = 0;
  while (r < N) {
    const run = 1 + Math.floor(next() * 40);
    for (let i = r; i < Math.min(N, r + run); i++) bits[i >> 3]! |= 1 << (i & 7);
    r += run + Math.floor(next() * 400);
  }
  for (let i = 7000; i < 7600; i++) bits[i >> 3]! |= 1 << (i & 7);
  for (let i = 3; i < N; i += 997) bits[i >> 3]! |= 1 << (i & 7);
}
const allowed = (row: number): boolean => bitSet(bits, row);

describe.each(['L2', 'IP', 'COSINE'] as MetricType[])('%s', (metric) => {
  let hnsw: VectorIndex;
  let flat: VectorIndex;
  beforeAll(async () => {
    hnsw = VectorIndex.create({ indexType: 'HNSW', metric, dim: DIM, params: { M: 16, efConstruction: 40 } });
    flat = VectorIndex.create({ indexType: 'FLAT', metric, dim: DIM });
    await hnsw.add(base, sequentialIds(N));
    await flat.add(base, sequentialIds(N));
  });
  afterAll(() => {
    hnsw.free();
    flat.free();
  });

  /** Each returned row's distance equals faiss's exact distance for it (FLAT's searchRows over those rows). */
  function expectExactDistances(
    q: Float32Array, k: number, res: { distances: Float32Array; ids: BigInt64Array },
  ): void {
    const nq = q.length / DIM;
    for (let i = 0; i < nq; i++) {
      const ids = Array.from(res.ids.subarray(i * k, (i + 1) * k)).filter((id) => id >= 0n);
      for (const id of ids) expect(allowed(Number(id))).toBe(true);
      const rows = Int32Array.from(ids.map(Number).sort((a, b) => a - b));
      const exact = flat.searchRows(q.subarray(i * DIM, (i + 1) * DIM), rows.length, rows)!;
      const want = new Map<bigint, number>();
      exact.ids.forEach((id, j) => want.set(id, exact.distances[j]!));
      ids.forEach((id, j) => expect(Object.is(res.distances[i * k + j], want.get(id))).toBe(true));
    }
  }

  it.each([10, 50])('k=%i: recall >= 0.99 against exact over the allowed rows, faiss distances', async (k) => {
    const res = await hnsw.search(queries, k, { ef: 64, filter: bits });
    const truth = bruteForce(base, queries, DIM, k, metric, allowed);
    expect(recallAtK(truth.ids, res.ids, NQ, k)).toBeGreaterThanOrEqual(0.99);
    expectExactDistances(queries, k, res);
  });

  it('a query outside the stored range is answered exactly', async () => {
    const far = new Float32Array(DIM).fill(1000);
    far[0] = -1000;
    const res = await hnsw.search(far, 10, { ef: 64, filter: bits });
    const truth = bruteForce(base, far, DIM, 10, metric, allowed);
    expect(recallAtK(truth.ids, res.ids, 1, 10)).toBeGreaterThanOrEqual(0.99);
    expectExactDistances(far, 10, res);
  });
});
