// Kite's HNSW insertion loop (native/hnsw-build.cc) against faiss's own IndexHNSW::add on the same data: the graph
// it builds must be as good, stay a valid faiss IndexHNSWFlat (faiss's own search and serialisation work on it),
// and every distance kernel must build the same quality of graph.
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import {
  FaissError, VectorIndex, getHnswBuildSettings, getThreadSettings, setHnswBuildSettings, setThreadSettings,
  type HnswBuildSettings, type MetricType,
} from './index';
import { bruteForce, clustered, recallAtK, sequentialIds } from './synthetic';

jest.setTimeout(120_000);

const DIM = 48; // not a multiple of 16: the kernels' tails are used
const N = 8000;
const NQ = 200;
const K = 10;
const PARAMS = { M: 16, efConstruction: 100 };
const EF = 32;

const gen = clustered(DIM, 40, 71);
const base = gen.points(N, 72);
const queries = gen.points(NQ, 73);
const ids = sequentialIds(N);

async function withSettings<T>(settings: Partial<HnswBuildSettings>, fn: () => Promise<T>): Promise<T> {
  const saved = getHnswBuildSettings();
  setHnswBuildSettings(settings);
  try {
    return await fn();
  } finally {
    setHnswBuildSettings({ builder: saved.builder, simd: saved.simd });
  }
}

/** Builds an HNSW index over `base`, added in `batches` calls, with the given loop and kernel. */
async function build(
  metric: MetricType,
  builder: 'kite' | 'faiss',
  opts: { simd?: HnswBuildSettings['simd']; batches?: number } = {},
): Promise<VectorIndex> {
  const index = VectorIndex.create({ indexType: 'HNSW', metric, dim: DIM, params: PARAMS });
  const batches = opts.batches ?? 1;
  const per = Math.ceil(N / batches);
  await withSettings({ builder, simd: opts.simd ?? 'auto' }, async () => {
    for (let b = 0; b < N; b += per) {
      const e = Math.min(N, b + per);
      await index.add(base.subarray(b * DIM, e * DIM), ids.subarray(b, e));
    }
  });
  expect(index.ntotal).toBe(N);
  return index;
}

const truth = new Map<MetricType, BigInt64Array>();
function truthFor(metric: MetricType): BigInt64Array {
  let t = truth.get(metric);
  if (!t) {
    t = bruteForce(base, queries, DIM, K, metric).ids;
    truth.set(metric, t);
  }
  return t;
}

async function recall(index: VectorIndex, metric: MetricType): Promise<number> {
  return recallAtK(truthFor(metric), (await index.search(queries, K, { ef: EF })).ids, NQ, K);
}

test('the Kite loop is the default; it reports its kernel, capped by the simd setting', async () => {
  const cur = getHnswBuildSettings();
  expect(cur).toMatchObject({ builder: 'kite', simd: 'auto' });
  expect(cur.error).toBeUndefined();
  const widest = cur.kernel;
  expect(['avx512', 'avx2', 'generic']).toContain(widest);
  await withSettings({ simd: 'generic' }, async () => {
    expect(getHnswBuildSettings().kernel).toBe('generic');
  });
  await withSettings({ simd: 'avx2' }, async () => {
    expect(getHnswBuildSettings().kernel).toBe(widest === 'generic' ? 'generic' : 'avx2');
  });
  expect(() => setHnswBuildSettings({ simd: 'sse9' as 'auto' })).toThrow(/simd must be one of auto, avx512, avx2, generic/);
  expect(() => setHnswBuildSettings({ builder: 'hnswlib' as 'kite' })).toThrow(FaissError);
  expect(getHnswBuildSettings()).toMatchObject({ builder: 'kite', simd: 'auto' });
});

test.each<MetricType>(['L2', 'IP', 'COSINE'])(
  '%s: a Kite-built graph finds as many true neighbours as a faiss-built one on the same data',
  async (metric) => {
    const ours = await build(metric, 'kite');
    const theirs = await build(metric, 'faiss');
    try {
      const r1 = await recall(ours, metric);
      const r2 = await recall(theirs, metric);
      // faiss's parallel build is not deterministic, so its recall moves by a few thousandths from build to build.
      expect(r1).toBeGreaterThanOrEqual(r2 - 0.01);
      expect(r1).toBeGreaterThanOrEqual(0.95);
      // Both graphs have every node linked at level 0 with at most 2*M neighbours: memory is faiss's layout.
      expect(ours.memoryUsage()).toBe(theirs.memoryUsage());
    } finally {
      ours.free();
      theirs.free();
    }
  },
);

test('the setting switches the loop: on one thread each loop builds the same graph every time, and the two differ', async () => {
  const buildThreads = getThreadSettings().buildThreads;
  setThreadSettings({ buildThreads: 1 });
  try {
    const n = 3000;
    const graph = async (builder: 'kite' | 'faiss'): Promise<Buffer> => {
      const index = VectorIndex.create({ indexType: 'HNSW', metric: 'L2', dim: DIM, params: PARAMS });
      try {
        await withSettings({ builder }, () => index.add(base.subarray(0, n * DIM), ids.subarray(0, n)));
        return await index.serialize();
      } finally {
        index.free();
      }
    };
    const kite = await graph('kite');
    expect((await graph('kite')).equals(kite)).toBe(true);
    const faiss = await graph('faiss');
    expect((await graph('faiss')).equals(faiss)).toBe(true);
    // Same size (faiss's layout, same random levels), different lists (Kite keeps each nearest first).
    expect(faiss.length).toBe(kite.length);
    expect(faiss.equals(kite)).toBe(false);
  } finally {
    setThreadSettings({ buildThreads });
  }
});

test('a Kite-built index serialises, deserialises, and faiss IndexHNSW::search walks it as well as Kite does', async () => {
  const index = await build('L2', 'kite');
  const buf = await index.serialize();
  index.free();
  const copy = await VectorIndex.deserialize(buf);
  try {
    expect(copy.ntotal).toBe(N);
    // Kite's search walks 8-bit codes and ranks its candidates again exactly (the walk's own tests compare it
    // with faiss's); here faiss's search must find on the Kite-built graph what Kite's finds.
    const ours = await copy.search(queries, K, { ef: EF });
    const ref = await copy.referenceSearch(queries, K, { ef: EF });
    const refRecall = recallAtK(truthFor('L2'), ref.ids, NQ, K);
    expect(refRecall).toBeGreaterThanOrEqual(0.95);
    expect(recallAtK(truthFor('L2'), ours.ids, NQ, K)).toBeGreaterThanOrEqual(refRecall - 0.01);
    // and it grows: a later add (here with faiss's own loop) links into the deserialised graph
    const extra = gen.points(500, 74);
    await withSettings({ builder: 'faiss' }, () => copy.add(extra, sequentialIds(500, N)));
    const hit = await copy.search(extra.subarray(0, DIM), 1, { ef: EF });
    expect(hit.ids[0]).toBe(BigInt(N));
  } finally {
    copy.free();
  }
});

test.each<HnswBuildSettings['simd']>(['generic', 'avx2', 'avx512'])('kernel %s (or the widest below it this CPU runs) builds as good a graph', async (simd) => {
  const index = await build('IP', 'kite', { simd });
  try {
    expect(await recall(index, 'IP')).toBeGreaterThanOrEqual(0.95);
  } finally {
    index.free();
  }
});

test('adding in several batches links each batch into the graph built so far', async () => {
  const whole = await build('L2', 'kite');
  const batched = await build('L2', 'kite', { batches: 4 });
  try {
    expect(await recall(batched, 'L2')).toBeGreaterThanOrEqual((await recall(whole, 'L2')) - 0.01);
  } finally {
    whole.free();
    batched.free();
  }
});

describe('KITE_FAISS_HNSW_BUILD and KITE_FAISS_HNSW_SIMD (read when the addon loads)', () => {
  const runner = path.join(__dirname, '..', '..', '..', 'scripts', 'run-ts.js');
  const child = path.join(__dirname, 'testing', 'hnsw-build-child.ts');
  interface ChildResult {
    settings: { builder: string; simd: string; kernel: string; error?: string };
    add: { code?: string; message?: string; ntotal: number };
  }
  const run = async (vars: Record<string, string>): Promise<ChildResult> => {
    const env = { ...process.env, ...vars };
    const { stdout } = await promisify(execFile)(process.execPath, [runner, child], { env, maxBuffer: 1 << 20 });
    return JSON.parse(stdout) as ChildResult;
  };

  test('valid values set the initial settings', async () => {
    const got = await run({ KITE_FAISS_HNSW_BUILD: 'faiss', KITE_FAISS_HNSW_SIMD: 'generic' });
    expect(got.settings).toEqual({ builder: 'faiss', simd: 'generic', kernel: 'generic' });
    expect(got.add).toEqual({ ntotal: 300 });
  });

  test.each([
    ['KITE_FAISS_HNSW_BUILD', 'hnswlib', /KITE_FAISS_HNSW_BUILD must be kite or faiss, got "hnswlib"/],
    ['KITE_FAISS_HNSW_SIMD', 'sse9', /KITE_FAISS_HNSW_SIMD must be auto, avx512, avx2 or generic, got "sse9"/],
  ])('a bad %s=%s fails every HNSW add with a clear error, adding nothing', async (name, value, message) => {
    const got = await run({ [name]: value });
    expect(got.settings.error).toMatch(message);
    expect(got.add.code).toBe('ERR_FAISS_BAD_PARAM');
    expect(got.add.message).toMatch(message);
    expect(got.add.ntotal).toBe(0);
  });
});
