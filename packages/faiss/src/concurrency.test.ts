// Work runs off the event loop; searches on one index run side by side while adds are exclusive.
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { faissBuildInfo, getThreadSettings, setThreadSettings, VectorIndex, type SearchResult } from './index';
import { clustered, sequentialIds, squaredL2 } from './synthetic';
import { searchScenario } from './testing/search-scenario';

jest.setTimeout(60_000);

const DIM = 64;
const N = 20_000;
const gen = clustered(DIM, 30, 51);
const base = gen.points(N, 52);
const ids = sequentialIds(N);

/** Largest delay of a 10 ms interval timer while `work` runs. */
async function maxTimerLag<T>(work: () => Promise<T>): Promise<{ lag: number; ticks: number; elapsed: number; result: T }> {
  let last = performance.now();
  let lag = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    lag = Math.max(lag, now - last - 10);
    last = now;
    ticks++;
  }, 10);
  const t0 = performance.now();
  try {
    const result = await work();
    return { lag, ticks, elapsed: performance.now() - t0, result };
  } finally {
    clearInterval(timer);
  }
}

test('a timer keeps firing on time while a long search runs', async () => {
  const index = VectorIndex.create({ indexType: 'FLAT', metric: 'L2', dim: DIM });
  await index.add(base, ids);
  // An exact search over 20k rows with a filter (no BLAS shortcut): about a second of work with the generic library
  // for 1500 queries; the AVX2 build is about 4x faster on this loop, so it gets 4x the queries.
  const nq = faissBuildInfo().simd === 'avx2' ? 6000 : 1500;
  const queries = gen.points(nq, 53);
  const filter = new Uint8Array(N / 8).fill(0xfe);
  const { lag, ticks, elapsed, result } = await maxTimerLag(() => index.search(queries, 10, { filter }));
  expect(result.ids.length).toBe(nq * 10);
  // A search on the event loop would delay the timer by about the whole search. Bounds are relative so that a loaded
  // machine (other processes on the same 2 cores) does not make this fail.
  expect(elapsed).toBeGreaterThan(200);
  expect(ticks).toBeGreaterThan(elapsed / 10 / 3);
  expect(lag).toBeLessThan(Math.max(50, elapsed * 0.25));
  index.free();
});

test('a timer keeps firing while an HNSW index is built', async () => {
  const index = VectorIndex.create({ indexType: 'HNSW', metric: 'L2', dim: DIM, params: { M: 16, efConstruction: 80 } });
  const { lag, elapsed } = await maxTimerLag(() => index.add(base.subarray(0, 8000 * DIM), sequentialIds(8000)));
  expect(elapsed).toBeGreaterThan(100);
  expect(lag).toBeLessThan(Math.max(50, elapsed * 0.25));
  index.free();
});

test('concurrent searches and adds on one index: every search sees a consistent index', async () => {
  const index = VectorIndex.create({ indexType: 'HNSW', metric: 'L2', dim: DIM, params: { M: 16, efConstruction: 60 } });
  const first = 5000;
  const k = 5;
  await index.add(base.subarray(0, first * DIM), sequentialIds(first));
  const queries = base.subarray(0, 50 * DIM); // stored rows: each should find itself first
  const ops: Promise<unknown>[] = [];
  const seen: number[] = [];
  let selfFound = 0;
  const broken: string[] = [];
  for (let batch = 0; batch < 5; batch++) {
    const from = first + batch * 1000;
    ops.push(index.add(base.subarray(from * DIM, (from + 1000) * DIM), sequentialIds(1000, from)));
    for (let s = 0; s < 4; s++) {
      ops.push(index.search(queries, k, { ef: 32 }).then((r) => {
        seen.push(index.ntotal);
        for (let i = 0; i < 50; i++) {
          const row = Array.from(r.ids.subarray(i * k, (i + 1) * k), Number);
          if (row[0] === i) selfFound++;
          // A search that overlapped an add would read a half-written graph or vector store: ids out of range or
          // repeated, distances out of order or not those of the rows returned.
          if (new Set(row).size !== k) broken.push(`query ${i}: repeated ids ${row}`);
          for (let j = 0; j < k; j++) {
            const id = row[j]!;
            const d = r.distances[i * k + j]!;
            if (id < 0 || id >= 10_000) broken.push(`query ${i}: id ${id} out of range`);
            else if (Math.abs(d - squaredL2(queries, i, base, id, DIM)) > 1e-3 * Math.max(1, d)) broken.push(`query ${i}: distance ${d} is not row ${id}'s`);
            if (j > 0 && d < r.distances[i * k + j - 1]!) broken.push(`query ${i}: distances out of order`);
          }
        }
      }));
    }
  }
  await Promise.all(ops);
  expect(broken).toEqual([]);
  // HNSW is approximate: a graph grown by incremental adds leaves a few rows unreachable at ef=32 (faiss's own search
  // misses the same ones, about 0.1-0.3% of rows), so "each query finds itself" holds for nearly all, not all.
  expect(selfFound).toBeGreaterThanOrEqual(0.95 * 20 * 50);
  expect(index.ntotal).toBe(10_000);
  expect(seen.length).toBe(20);
  index.free();
});

test('searches share the index, adds wait for them, and searches arriving behind an add see it', async () => {
  const index = VectorIndex.create({ indexType: 'FLAT', metric: 'L2', dim: DIM });
  await index.add(base, ids);
  const filter = new Uint8Array(N / 8).fill(0xff); // forces the exact per-row scan: slow enough to overlap
  const extra = gen.points(10, 56); // rows added while the long search runs, with ids N..N+9
  // ~0.3 s on one thread with the AVX2 library (twice that with the generic one): long enough that the short search,
  // the add queuing behind it and the late search all arrive while it runs, on a busy machine too.
  const longQueries = gen.points(2400, 54);
  longQueries.set(extra); // the long search looks for them too
  let shortDoneFirst = false;
  let longDone = false;
  // The long search as one call on one search thread (not cut into a chunk per thread), so that another search
  // thread is free for the short one: with every thread busy on a chunk, the short search would wait in the
  // thread queue for the first chunk to end, and which of the two finished first would be a race.
  const before = getThreadSettings();
  expect(before.searchPool).toBeGreaterThanOrEqual(2);
  setThreadSettings({ searchParallelism: 1 });
  let longSearch: Promise<SearchResult>;
  try {
    longSearch = index.search(longQueries, 10, { filter }).then((r) => {
      longDone = true;
      return r;
    });
  } finally {
    setThreadSettings({ searchParallelism: before.searchParallelism });
  }
  // Behind the long search: a short search runs beside it (shared lock) and finishes well before it.
  await index.search(gen.points(1, 55), 10);
  shortDoneFirst = !longDone;
  // The add must wait for the long search; a search that arrives while the add waits runs after the add.
  const add = index.add(extra, sequentialIds(10, N));
  // Once the add waits for the lock (behind the long search), a search must queue behind it.
  while (index.writersWaiting === 0 && !longDone) await new Promise((r) => setTimeout(r, 1));
  expect(longDone).toBe(false);
  const late = index.search(extra, 1);
  const [longResult, , lateResult] = await Promise.all([longSearch, add, late]);
  expect(shortDoneFirst).toBe(true);
  for (const id of longResult.ids) expect(id).toBeLessThan(BigInt(N)); // ran entirely before the add
  expect(Array.from(lateResult.ids)).toEqual(Array.from(sequentialIds(10, N))); // ran entirely after it
  expect(index.ntotal).toBe(N + 10);
  index.free();
});

test('free() while searches are in flight: they complete, later calls fail', async () => {
  const index = VectorIndex.create({ indexType: 'HNSW', metric: 'L2', dim: DIM, params: { M: 16, efConstruction: 40 } });
  await index.add(base.subarray(0, 5000 * DIM), sequentialIds(5000));
  const pending = [index.search(base.subarray(0, 500 * DIM), 10, { ef: 64 }), index.serialize()];
  index.free();
  const [res, buf] = await Promise.all(pending);
  expect((res as { ids: BigInt64Array }).ids[0]).toBe(0n);
  expect((buf as Buffer).length).toBeGreaterThan(5000 * DIM * 4);
  await expect(index.search(base.subarray(0, DIM), 1)).rejects.toMatchObject({ code: 'ERR_FAISS_FREED' });
});

test('a large batch is split across the pool and gives the same answer as one call', async () => {
  const index = VectorIndex.create({ indexType: 'HNSW', metric: 'IP', dim: DIM, params: { M: 16, efConstruction: 40 } });
  await index.add(base.subarray(0, 5000 * DIM), sequentialIds(5000));
  const q = gen.points(257, 55);
  const whole = await index.search(q, 7, { ef: 40 });
  const rows: bigint[] = [];
  for (let i = 0; i < 257; i++) {
    const r = await index.search(q.subarray(i * DIM, (i + 1) * DIM), 7, { ef: 40 });
    rows.push(...r.ids);
  }
  expect(Array.from(whole.ids)).toEqual(rows);
  index.free();
});

// A call of fewer than faiss's BLAS threshold (20) queries on a search thread takes the addon's own IVF loop (no
// OpenMP regions); referenceSearch makes faiss's IndexIVF::search call with the same queries. They must agree bit
// for bit, with and without a filter. (A 64-query call would not do as the reference: faiss computes its coarse
// distances with BLAS from 20 queries up, which rounds differently.)
describe.each([
  ['IVF_FLAT', { nlist: 64 }],
  ['IVF_SQ8', { nlist: 64 }],
  ['IVF_PQ', { nlist: 64, m: 16, nbits: 8 }],
] as const)('%s: a few queries on one thread give what faiss gives', (indexType, params) => {
  test.each(['L2', 'IP', 'COSINE'] as const)('%s', async (metric) => {
    const index = VectorIndex.create({ indexType, metric, dim: DIM, params });
    await index.train(base.subarray(0, 5000 * DIM));
    await index.add(base.subarray(0, 5000 * DIM), sequentialIds(5000));
    const filter = new Uint8Array(5000 / 8);
    for (let i = 0; i < filter.length; i++) filter[i] = (i * 37) & 0xff; // mixed bits
    for (const nq of [1, 7]) {
      for (const opts of [{ nprobe: 4 }, { nprobe: 2, filter }]) {
        const q = gen.points(nq, 57 + nq);
        const ours = await index.search(q, 10, opts);
        const ref = await index.referenceSearch(q, 10, opts);
        expect(Array.from(ours.ids).filter((id) => id >= 0n).length).toBe(nq * 10);
        // A query whose probed lists hold fewer than k allowed rows is searched again over every list by search()
        // (not by the reference): compare the others, which must be most of them.
        let compared = 0;
        for (let i = 0; i < nq; i++) {
          const refIds = Array.from(ref.ids.subarray(i * 10, (i + 1) * 10));
          if (refIds.includes(-1n)) continue;
          expect(Array.from(ours.ids.subarray(i * 10, (i + 1) * 10))).toEqual(refIds);
          expect(Array.from(ours.distances.subarray(i * 10, (i + 1) * 10))).toEqual(Array.from(ref.distances.subarray(i * 10, (i + 1) * 10)));
          compared++;
        }
        expect(compared).toBeGreaterThanOrEqual(Math.ceil(nq / 2));
      }
    }
    index.free();
  });
});

// Search threads may spin briefly for their next search and the event loop poll for a pending one instead of
// sleeping (src/threads.ts; by default the threads spin and the loop does not poll). With both on, both off, or with
// a poll so short that it always ends before the search does (the loop then falls back to the uv_async wake-up),
// every answer must be the same.
describe('spinning and polling change no answer', () => {
  const runner = path.join(__dirname, '..', '..', '..', 'scripts', 'run-ts.js');
  const child = path.join(__dirname, 'testing', 'search-child.ts');
  const run = async (spinUs: number, pollUs: number) => {
    const env = { ...process.env, KITE_FAISS_SEARCH_SPIN_US: String(spinUs), KITE_FAISS_SEARCH_POLL_US: String(pollUs) };
    const { stdout } = await promisify(execFile)(process.execPath, [runner, child], { env, maxBuffer: 16 << 20 });
    return JSON.parse(stdout) as { spinUs: number; pollUs: number; ids: string[][]; idleCpuMs: number };
  };
  let expected: string[][];

  beforeAll(async () => {
    const t = getThreadSettings();
    expect(t.searchSpinUs).toBe(50); // the defaults: spin on, poll off (README: CPU per search)
    expect(t.searchPollUs).toBe(0);
    expected = await searchScenario();
    expect(expected).toHaveLength(160);
    expect(expected.every((ids) => ids.length === 5 && ids.every((id) => id !== '-1'))).toBe(true);
  });

  test.each([
    [50, 1000],
    [0, 0],
    [0, 1],
    [1000, 0],
  ])('spin %i us, poll %i us: the same ids as with the defaults', async (spinUs, pollUs) => {
    const got = await run(spinUs, pollUs);
    expect({ spinUs: got.spinUs, pollUs: got.pollUs }).toEqual({ spinUs, pollUs });
    expect(got.ids).toEqual(expected);
    // Once no search is pending the loop stops polling and the threads stop spinning: a loop left polling would
    // burn the whole 500 ms after the last search.
    expect(got.idleCpuMs).toBeLessThan(200);
  });
});

test('after its searches an idle process uses no CPU (the defaults here; other settings: the children above)', async () => {
  const index = VectorIndex.create({ indexType: 'FLAT', metric: 'L2', dim: DIM });
  await index.add(base.subarray(0, 2000 * DIM), sequentialIds(2000));
  for (let i = 0; i < 50; i++) await index.search(base.subarray(i * DIM, (i + 1) * DIM), 3);
  const before = process.cpuUsage();
  await new Promise((r) => setTimeout(r, 500));
  const used = process.cpuUsage(before);
  // A loop left polling would burn the whole 500 ms on this thread; the search threads' spin ends after 50 us.
  expect((used.user + used.system) / 1000).toBeLessThan(200);
  index.free();
});
