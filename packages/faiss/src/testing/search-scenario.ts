// One fixed search workload, run both in the test process and in child processes with other search-thread
// settings: one query per call one after another, then calls in flight together, on HNSW and IVF_FLAT, with and
// without a filter. Returns every result's ids as strings, in call order. Builds on one thread so that the HNSW
// graph (and so every answer) is the same in every process.
import { clustered, sequentialIds } from '../synthetic';
import { getThreadSettings, setThreadSettings } from '../threads';
import { VectorIndex } from '../vector-index';

export async function searchScenario(): Promise<string[][]> {
  const dim = 32;
  const n = 4000;
  const gen = clustered(dim, 20, 61);
  const base = gen.points(n, 62);
  const queries = gen.points(40, 63);
  const filter = new Uint8Array(n / 8).fill(0x55); // even ids only
  const out: string[][] = [];
  const buildThreads = getThreadSettings().buildThreads;
  setThreadSettings({ buildThreads: 1 });
  const indexes = [
    VectorIndex.create({ indexType: 'HNSW', metric: 'L2', dim, params: { M: 8, efConstruction: 40 } }),
    VectorIndex.create({ indexType: 'IVF_FLAT', metric: 'L2', dim, params: { nlist: 16 } }),
  ];
  try {
    for (const index of indexes) {
      await index.train(base);
      await index.add(base, sequentialIds(n));
      const one = (i: number, withFilter: boolean) =>
        index.search(queries.subarray(i * dim, (i + 1) * dim), 5, { ef: 32, nprobe: 4, filter: withFilter ? filter : undefined });
      for (let i = 0; i < 40; i++) out.push(Array.from((await one(i, i % 2 === 1)).ids, String));
      const together = await Promise.all(Array.from({ length: 40 }, (_, i) => one(i, i % 3 === 0)));
      for (const r of together) out.push(Array.from(r.ids, String));
    }
  } finally {
    for (const index of indexes) index.free();
    setThreadSettings({ buildThreads });
  }
  return out;
}
