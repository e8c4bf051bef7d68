import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '@kite/common';
import { encodeWalMsg, PK, TS, type Column, type ColumnBatch } from '@kite/segment';
import { EmbeddedWal, parseChannel } from '@kite/wal';
import { Delegator } from './delegator';
import { querySource } from './exec';
import { testCollection } from './testing/collection';

const DIM = 4;
const coll = testCollection('deletes', DIM);

function inserts(ids: number[], ts: bigint): ColumnBatch {
  return {
    numRows: ids.length,
    columns: new Map<string, Column>([
      [PK, { kind: 'int64', data: BigInt64Array.from(ids.map(BigInt)) }],
      [TS, { kind: 'int64', data: new BigInt64Array(ids.length).fill(ts) }],
      ['vector', { kind: 'vector', dim: DIM, data: Float32Array.from(ids.flatMap((i) => [i, 1, 2, 3])) }],
    ]),
  };
}

function deletes(ids: number[], ts: bigint): ColumnBatch {
  return {
    numRows: ids.length,
    columns: new Map<string, Column>([
      [PK, { kind: 'int64', data: BigInt64Array.from(ids.map(BigInt)) }],
      [TS, { kind: 'int64', data: new BigInt64Array(ids.length).fill(ts) }],
    ]),
  };
}

let dir = '';
let wal: EmbeddedWal;
beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kite-qn-delegator-'));
  wal = await EmbeddedWal.open(dir);
  await wal.createTopic('t', 1);
});
afterEach(async () => {
  await wal.close();
  await fs.promises.rm(dir, { recursive: true, force: true });
});

// Under a steady delete load the delegator's delete set held every delete its channel ever carried (the soak's
// query nodes grew with it). Deletes below the watermark can only hit rows below it, which sealed segments serve
// and the growing view masks out, so moving the watermark drops them; the growing rows seen stay exactly right.
test('deletes below the watermark are dropped from the delegator; the growing rows it serves are unchanged', async () => {
  const channel = parseChannel('t#0');
  const append = async (m: Parameters<typeof encodeWalMsg>[0]): Promise<number> => (await wal.append(channel, [{ key: 'k', value: encodeWalMsg(m) }]))[0]!;
  await append({ type: 'insert', collectionID: 1, ts: 10n, batch: inserts([1, 2, 3, 4], 10n) }); // offset 0
  await append({ type: 'delete', collectionID: 1, ts: 20n, batch: deletes([1, 2], 20n) }); // offset 1
  const w = await append({ type: 'insert', collectionID: 1, ts: 30n, batch: inserts([1, 5, 6], 30n) }); // offset 2: id 1 again
  await append({ type: 'delete', collectionID: 1, ts: 40n, batch: deletes([5], 40n) }); // offset 3
  const d = new Delegator(coll, 't#0', 1, 0, wal, silentLogger);
  await d.start();
  await d.waitConsumed(4, 10_000);
  await d.growing.settle();
  const ids = async (): Promise<bigint[]> => {
    const res = await querySource(d.growing, [], { deletes: [d.deletes] }, 0, false, true);
    return Array.from((res.rows.columns.get(PK) as { data: BigInt64Array }).data).sort((a, b) => Number(a - b));
  };
  expect(d.deletes.size).toBe(3);
  expect(d.recentDeleteBatch().numRows).toBe(3);
  expect(await ids()).toEqual([1n, 3n, 4n, 6n]);
  // Offsets 0 and 1 are now in sealed segments: the delete at offset 1 goes, the one at offset 3 stays.
  d.sync([], w);
  await d.growing.settle();
  expect(d.deletes.size).toBe(1);
  expect([...d.deletes.map.keys()]).toEqual([5n]);
  // What the workers are sent on top of their delete logs: the same deletes.
  const sent = d.recentDeleteBatch();
  expect(Array.from((sent.columns.get(PK) as { data: BigInt64Array }).data)).toEqual([5n]);
  expect(d.hasRecentDeletes).toBe(true);
  expect(await ids()).toEqual([1n, 6n]);
  await d.stop();
});
