/**
 * Throughput of EmbeddedWal with 1 KiB records: `node ../../scripts/run-ts.js src/testing/bench.ts [dir]` from
 * packages/wal. Prints appends/s sequential, with 32 concurrent appenders (group commit), batched appends, and the
 * speed of reopening (scan + index) and replaying a channel with read() and with subscribe().
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmbeddedWal } from '../embedded';
import type { WalRecord } from '../types';

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
  const dir = process.argv[2] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'kite-wal-bench-'));
  const value = Buffer.alloc(1024, 7);
  const ch = { topic: 'bench', partition: 0 };
  console.log(`raw 1 KiB write + fdatasync: ${(await rawSyncMs(dir)).toFixed(3)} ms`);
  let wal = await EmbeddedWal.open(dir);
  await wal.createTopic('bench', 1);

  const seqN = 2000;
  let t = performance.now();
  for (let i = 0; i < seqN; i++) await wal.append(ch, [{ key: String(i), value }]);
  let ms = performance.now() - t;
  console.log(`sequential append (1 record): ${Math.round((seqN / ms) * 1000)}/s (${(ms / seqN).toFixed(3)} ms each)`);

  const concN = 100_000;
  let s0 = wal.stats().syncs;
  t = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      for (let i = next++; i < concN; i = next++) await wal.append(ch, [{ key: String(i), value }]);
    }),
  );
  ms = performance.now() - t;
  let syncs = wal.stats().syncs - s0;
  console.log(
    `32 concurrent appenders (1 record each): ${Math.round((concN / ms) * 1000)} records/s, ` +
      `${((concN * 1024) / ms / 1000).toFixed(1)} MB/s, ${(concN / syncs).toFixed(1)} appends per fsync`,
  );

  const batchN = 200_000;
  const batch = Array.from({ length: 100 }, (_, i) => ({ key: String(i), value }));
  s0 = wal.stats().syncs;
  t = performance.now();
  for (let i = 0; i < batchN / 100; i++) await wal.append(ch, batch);
  ms = performance.now() - t;
  syncs = wal.stats().syncs - s0;
  console.log(`sequential append of 100-record batches: ${Math.round((batchN / ms) * 1000)} records/s (${syncs} fsyncs)`);
  const total = await wal.endOffset(ch);
  await wal.close();

  t = performance.now();
  wal = await EmbeddedWal.open(dir);
  ms = performance.now() - t;
  console.log(`reopen (scan + index ${total} records, ${((total * 1044) / 1e6).toFixed(0)} MB): ${ms.toFixed(0)} ms`);

  t = performance.now();
  let n = 0;
  for (let off = 0; off < total; ) {
    const recs = await wal.read(ch, off, 5000);
    n += recs.length;
    off = (recs[recs.length - 1] as WalRecord).offset + 1;
  }
  ms = performance.now() - t;
  console.log(`replay with read(): ${Math.round((n / ms) * 1000)} records/s, ${((n * 1044) / ms / 1000).toFixed(0)} MB/s`);

  t = performance.now();
  let got = 0;
  await new Promise<void>((resolve) => {
    const sub = wal.subscribe(ch, 0, async (recs) => {
      got += recs.length;
      if (got >= total) void sub.close().then(resolve);
    });
  });
  ms = performance.now() - t;
  console.log(`replay with subscribe() (maxBatch 1000): ${Math.round((got / ms) * 1000)} records/s`);
  await wal.close();
  if (!process.argv[2]) fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
