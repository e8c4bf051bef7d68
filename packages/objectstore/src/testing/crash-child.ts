/**
 * Crash-test child: opens a LocalObjectStore and puts objects from 8 concurrent writers, printing `ack <n>` once
 * object `obj/<n % 50>/<n>` (content from crashValue) has been put; every writer also keeps overwriting one shared
 * key `hot`. The parent kills it with SIGKILL and checks every acknowledged object is whole and no partial object or
 * temporary file is visible. Run with scripts/run-ts.js: `crash-child.ts <dir>`.
 */
import { LocalObjectStore } from '../local';

export function crashValue(n: number): Buffer {
  const b = Buffer.alloc(20_000 + (n % 13) * 1000, n & 0xff);
  b.writeUInt32LE(n, 0);
  return b;
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: crash-child.ts <dir>');
  const store = await LocalObjectStore.open(dir);
  process.stdout.write('ready\n');
  let next = 0;
  const writer = async (): Promise<void> => {
    for (;;) {
      const n = next++;
      await store.put(`obj/${n % 50}/${n}`, crashValue(n));
      process.stdout.write(`ack ${n}\n`);
      await store.put('hot', crashValue(n));
    }
  };
  await Promise.all(Array.from({ length: 8 }, writer));
}

// run-ts.js sets argv[1] to this file; importing it (from the test, for crashValue) does not start the child.
if (process.argv[1] === __filename) {
  main().catch((e: unknown) => {
    process.stderr.write(`${String(e)}\n`);
    process.exit(1);
  });
}
