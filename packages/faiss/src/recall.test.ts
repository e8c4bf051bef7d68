// Recall@10 of every index type and metric against a brute force written in plain JS, on clustered data.
import { VectorIndex, type IndexParams, type IndexType, type MetricType, type SearchOptions } from './index';
import { bruteForce, clustered, recallAtK, sequentialIds } from './synthetic';

jest.setTimeout(60_000);

const DIM = 64;
const N = 10_000;
const NQ = 100;
const K = 10;

const gen = clustered(DIM, 50, 1);
const base = gen.points(N, 2);
const queries = gen.points(NQ, 3);
const ids = sequentialIds(N);

interface Case {
  type: IndexType;
  params: IndexParams;
  search: SearchOptions;
  minRecall: number;
  /** Rows to train on (all by default). */
  trainRows?: number;
}

const CASES: Case[] = [
  { type: 'FLAT', params: {}, search: {}, minRecall: 1 },
  { type: 'HNSW', params: { M: 16, efConstruction: 100 }, search: { ef: 64 }, minRecall: 0.95 },
  { type: 'IVF_FLAT', params: { nlist: 64 }, search: { nprobe: 16 }, minRecall: 0.95 },
  { type: 'IVF_SQ8', params: { nlist: 64 }, search: { nprobe: 16 }, minRecall: 0.95 },
  // Product quantization (here 2 dimensions per 8-bit code) loses accuracy by design; measured 0.86 (L2), 0.73 (IP),
  // 0.72 (COSINE), so this bound catches breakage. Trained on 3000 rows: faiss's PQ k-means is slow at tiny dims.
  { type: 'IVF_PQ', params: { nlist: 64, m: 32, nbits: 8 }, search: { nprobe: 16 }, minRecall: 0.65, trainRows: 3000 },
];
const METRICS: MetricType[] = ['L2', 'IP', 'COSINE'];

const truth = new Map(METRICS.map((m) => [m, bruteForce(base, queries, DIM, K, m)]));

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
}

describe.each(CASES)('$type', ({ type, params, search, minRecall, trainRows }) => {
  test.each(METRICS)(`%s recall@${K} >= ${minRecall}`, async (metric) => {
    const index = VectorIndex.create({ indexType: type, metric, dim: DIM, params });
    try {
      await index.train(trainRows ? base.subarray(0, trainRows * DIM) : base);
      expect(index.isTrained).toBe(true);
      await index.add(base, ids);
      expect(index.ntotal).toBe(N);
      const res = await index.search(queries, K, search);
      expect(res.ids.length).toBe(NQ * K);
      expect(res.distances.length).toBe(NQ * K);
      const t = truth.get(metric)!;
      const recall = recallAtK(t.ids, res.ids, NQ, K);
      expect(recall).toBeGreaterThanOrEqual(minRecall);

      // Scores as Milvus reports them: sorted best first, and the value of the metric for that row.
      const larger = metric !== 'L2';
      for (let i = 0; i < NQ; i++) {
        for (let j = 1; j < K; j++) {
          const prev = res.distances[i * K + j - 1]!;
          const cur = res.distances[i * K + j]!;
          if (larger) expect(cur).toBeLessThanOrEqual(prev + 1e-5);
          else expect(cur).toBeGreaterThanOrEqual(prev - 1e-5);
        }
      }
      if (type === 'FLAT' || type === 'HNSW' || type === 'IVF_FLAT') {
        // Stored vectors are exact: the reported score is the metric itself (within float rounding).
        for (const i of [0, 17, 99]) {
          const row = Number(res.ids[i * K]!);
          const q = queries.subarray(i * DIM, (i + 1) * DIM);
          const v = base.subarray(row * DIM, (row + 1) * DIM);
          let expected = 0;
          if (metric === 'L2') for (let j = 0; j < DIM; j++) expected += (q[j]! - v[j]!) ** 2;
          else if (metric === 'IP') for (let j = 0; j < DIM; j++) expected += q[j]! * v[j]!;
          else expected = cosine(q, v);
          expect(res.distances[i * K]!).toBeCloseTo(expected, metric === 'COSINE' ? 4 : 1);
        }
      }
      if (metric === 'COSINE') {
        for (const d of res.distances) expect(Math.abs(d)).toBeLessThanOrEqual(1 + 1e-4);
      }
    } finally {
      index.free();
    }
  });
});

test('FLAT agrees with the JS brute force row by row', async () => {
  const index = VectorIndex.create({ indexType: 'FLAT', metric: 'L2', dim: DIM });
  await index.add(base, ids);
  const res = await index.search(queries, K);
  const t = truth.get('L2')!;
  expect(Array.from(res.ids)).toEqual(Array.from(t.ids));
  for (let i = 0; i < res.distances.length; i++) {
    expect(res.distances[i]!).toBeCloseTo(t.distances[i]!, 1);
  }
  index.free();
});

test('k larger than the index pads with id -1 and the worst score', async () => {
  for (const metric of ['L2', 'IP'] as const) {
    const index = VectorIndex.create({ indexType: 'HNSW', metric, dim: DIM, params: { M: 8, efConstruction: 40 } });
    await index.add(base.subarray(0, 5 * DIM), sequentialIds(5));
    const res = await index.search(queries.subarray(0, DIM), 8, { ef: 16 });
    expect(Array.from(res.ids.subarray(5))).toEqual([-1n, -1n, -1n]);
    expect(Array.from(res.ids.subarray(0, 5)).sort()).toEqual([0n, 1n, 2n, 3n, 4n]);
    const worst = metric === 'L2' ? Infinity : -Infinity;
    expect(Array.from(res.distances.subarray(5))).toEqual([worst, worst, worst]);
    index.free();
  }
});

test('an empty index answers with no rows', async () => {
  for (const type of ['FLAT', 'HNSW'] as const) {
    const index = VectorIndex.create({ indexType: type, metric: 'L2', dim: DIM });
    const res = await index.search(queries.subarray(0, 2 * DIM), 3);
    expect(Array.from(res.ids)).toEqual([-1n, -1n, -1n, -1n, -1n, -1n]);
    index.free();
  }
});

test('HNSW search with per-call ef gives the same answers as faiss IndexHNSW::search with that efSearch', async () => {
  const index = VectorIndex.create({ indexType: 'HNSW', metric: 'IP', dim: DIM, params: { M: 16, efConstruction: 80 } });
  await index.add(base, ids);
  for (const ef of [10, 40, 200]) {
    const ours = await index.search(queries, K, { ef });
    const ref = await index.referenceSearch(queries, K, { ef });
    expect(Array.from(ours.ids)).toEqual(Array.from(ref.ids));
    expect(Array.from(ours.distances)).toEqual(Array.from(ref.distances));
  }
  // and ef matters: a wider beam finds at least as many true neighbours
  const narrow = recallAtK(truth.get('IP')!.ids, (await index.search(queries, K, { ef: 10 })).ids, NQ, K);
  const wide = recallAtK(truth.get('IP')!.ids, (await index.search(queries, K, { ef: 200 })).ids, NQ, K);
  expect(wide).toBeGreaterThanOrEqual(narrow);
  index.free();
});

test('caller-given ids come back (not row numbers)', async () => {
  for (const type of ['FLAT', 'HNSW', 'IVF_FLAT'] as const) {
    const index = VectorIndex.create({ indexType: type, metric: 'L2', dim: DIM, params: { nlist: 16 } });
    const n = 2000;
    const custom = new BigInt64Array(n);
    for (let i = 0; i < n; i++) custom[i] = BigInt(1_000_000_007 + 3 * i);
    await index.train(base.subarray(0, n * DIM));
    await index.add(base.subarray(0, n * DIM), custom);
    const res = await index.search(base.subarray(5 * DIM, 6 * DIM), 1, { nprobe: 16, ef: 32 });
    expect(res.ids[0]).toBe(custom[5]);
    index.free();
  }
});
