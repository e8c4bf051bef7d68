/**
 * Crash-test child: opens an EmbeddedMetaStore and writes as fast as it can from 16 concurrent writers, printing
 * `ack <n>` once txn n (two keys, `a/<n>` and `b/<n>`, in one revision) has resolved. The parent kills it with
 * SIGKILL mid-stream and checks every acknowledged txn survived, whole. Run with scripts/run-ts.js: `crash-child.ts <dir>`.
 */
import { EmbeddedMetaStore } from '../embedded';

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: crash-child.ts <dir>');
  const snapshotLogBytes = Number(process.argv[3] ?? 16 * 1024 * 1024);
  const store = await EmbeddedMetaStore.open(dir, { snapshotLogBytes });
  process.stdout.write('ready\n');
  let next = 0;
  const writer = async (): Promise<void> => {
    for (;;) {
      const n = next++;
      const v = `value-${n}-${'x'.repeat(n % 200)}`;
      await store.txn(
        [],
        [
          { type: 'put', key: `a/${n}`, value: v },
          { type: 'put', key: `b/${n}`, value: v },
        ],
      );
      process.stdout.write(`ack ${n}\n`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, writer));
}

main().catch((e: unknown) => {
  process.stderr.write(`${String(e)}\n`);
  process.exit(1);
});
