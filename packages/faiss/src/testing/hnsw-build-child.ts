// Child process for hnsw-build.test.ts: KITE_FAISS_HNSW_BUILD / KITE_FAISS_HNSW_SIMD are read when the addon loads,
// so their effect is seen in a fresh process. Prints the settings the addon started with, and the outcome of one
// small HNSW add (its error code and message, or the row count), as one JSON line.
import { VectorIndex, getHnswBuildSettings, isFaissError } from '../index';
import { clustered, sequentialIds } from '../synthetic';

async function main(): Promise<void> {
  const settings = getHnswBuildSettings();
  const index = VectorIndex.create({ indexType: 'HNSW', metric: 'L2', dim: 8, params: { M: 8, efConstruction: 40 } });
  let add: { code?: string; message?: string; ntotal: number };
  try {
    await index.add(clustered(8, 4, 1).points(300, 2), sequentialIds(300));
    add = { ntotal: index.ntotal };
  } catch (e) {
    if (!isFaissError(e)) throw e;
    add = { code: e.code, message: e.message, ntotal: index.ntotal };
  }
  index.free();
  process.stdout.write(`${JSON.stringify({ settings, add })}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
