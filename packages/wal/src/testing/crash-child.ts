/**
 * Crash-test child: opens an EmbeddedWal, creates topic `crash` (2 partitions) and appends from 32 concurrent
 * appenders, printing `ack <partition> <firstOffset> <count> <id>` once append <id> has resolved. The parent kills it
 * with SIGKILL mid-stream and checks that every acknowledged record is there. Run with scripts/run-ts.js:
 * `crash-child.ts <dir> [segmentBytes]`.
 */
import { EmbeddedWal } from '../embedded';

/** The value of record j of append id: about 1 KiB, derived from both so the parent can check it. */
export function crashValue(id: number, j: number): Buffer {
  return Buffer.from(`${id}:${j}:${'v'.repeat(900 + ((id * 7 + j) % 200))}`);
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: crash-child.ts <dir> [segmentBytes]');
  const segmentBytes = Number(process.argv[3] ?? 64 * 1024 * 1024);
  const wal = await EmbeddedWal.open(dir, { segmentBytes });
  await wal.createTopic('crash', 2);
  process.stdout.write('ready\n');
  let nextId = 0;
  const appender = async (): Promise<void> => {
    for (;;) {
      const id = nextId++;
      const partition = id % 2;
      const count = 1 + (id % 3);
      const messages = Array.from({ length: count }, (_, j) => ({ key: `k${id}`, value: crashValue(id, j) }));
      const offsets = await wal.append({ topic: 'crash', partition }, messages);
      process.stdout.write(`ack ${partition} ${offsets[0]} ${count} ${id}\n`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, appender));
}

// run-ts.js sets argv[1] to this file; importing it (from the test, for crashValue) does not start the child.
if (process.argv[1] === __filename) {
  main().catch((e: unknown) => {
    process.stderr.write(`${String(e)}\n`);
    process.exit(1);
  });
}
