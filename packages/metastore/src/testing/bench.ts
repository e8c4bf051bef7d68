/**
 * Throughput of EmbeddedMetaStore: `node ../../scripts/run-ts.js src/testing/bench.ts [dir]` from packages/metastore.
 * Prints puts/s sequential and with 32 concurrent writers, and the time to reopen (replay) the result.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmbeddedMetaStore } from '../embedded';

/** The disk's own cost: write 1 KiB + fdatasync, sequentially, in `dir`. */
async function rawSyncMs(dir: string): Promise<number> {
  const file = path.join(dir, 'raw-sync-probe');
  const fh = await fs.promises.open(file, 'a');
  const buf = Buffer.alloc(1024, 1);
  const t = performance.now();
  for (let i = 0; i < 300; i++) {
    await fh.write(buf);
    await fh.datasync();
  }
  const ms = (performance.now() - t) / 300;
  await fh.close();
  await fs.promises.rm(file);
  return ms;
}

async function main(): Promise<void> {
  const dir = process.argv[2] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'kite-meta-bench-'));
  const value = JSON.stringify({ segmentID: 123456, state: 'Flushed', rows: 100000, path: 'x'.repeat(150) });
  console.log(`raw 1 KiB write + fdatasync: ${(await rawSyncMs(dir)).toFixed(3)} ms`);
  let store = await EmbeddedMetaStore.open(dir);

  const seqN = 2000;
  let t = performance.now();
  for (let i = 0; i < seqN; i++) await store.put(`seq/${i}`, value);
  let ms = performance.now() - t;
  console.log(`sequential put: ${Math.round((seqN / ms) * 1000)}/s (${(ms / seqN).toFixed(3)} ms each)`);

  const concN = 50_000;
  const syncs0 = store.stats().logSyncs;
  t = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      for (let i = next++; i < concN; i = next++) await store.put(`conc/${i}`, value);
    }),
  );
  ms = performance.now() - t;
  const syncs = store.stats().logSyncs - syncs0;
  console.log(
    `32 concurrent writers: ${Math.round((concN / ms) * 1000)} puts/s, ${syncs} fsyncs (${(concN / syncs).toFixed(1)} puts per fsync)`,
  );
  const stats = store.stats();
  await store.close();

  t = performance.now();
  store = await EmbeddedMetaStore.open(dir);
  ms = performance.now() - t;
  console.log(`reopen: ${stats.keys} keys, revision ${stats.revision}, snapshots ${stats.snapshots}: ${ms.toFixed(0)} ms`);
  await store.close();
  if (!process.argv[2]) fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
