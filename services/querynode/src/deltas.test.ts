import type { MetaStore } from '@kite/metastore';
import type { ObjectStore } from '@kite/objectstore';
import { encodeBatch, PK, TS, type CollectionMeta, type Column, type SegmentMeta } from '@kite/segment';
import type { MetaCache } from '@kite/session';
import { SealedDeltas, type HeldSegment } from './deltas';
import { PkIndex } from './exec';

const coll = { collectionID: 1 } as CollectionMeta;

function deleteLog(ids: number[], ts: bigint): Buffer {
  return encodeBatch({
    numRows: ids.length,
    columns: new Map<string, Column>([
      [PK, { kind: 'int64', data: BigInt64Array.from(ids.map(BigInt)) }],
      [TS, { kind: 'int64', data: new BigInt64Array(ids.length).fill(ts) }],
    ]),
  });
}

function segment(id: number, start: number, end: number): SegmentMeta {
  return { segmentID: id, collectionID: 1, channel: 'ch', startOffset: start, endOffset: end, numRows: 1, dataKey: `d${id}`, deltaKey: `x${id}`, numDeletes: 1, indexes: [], maxTs: '0', createdAt: 0 };
}

function held(id: number, ids: number[]): HeldSegment {
  const pkIndex = new PkIndex();
  ids.forEach((pk, row) => pkIndex.add(BigInt(pk), row));
  return { segmentID: id, pkIndex };
}

/**
 * A channel whose delete logs name 1,000 keys, 10 of them (ids 0-9) in the one segment this node holds: pruned, the
 * set keeps those 10; a segment loaded afterwards that holds other deleted keys gets them back (the set is read
 * again), so no deleted row it holds comes back to life.
 */
test('the delete set of a channel is pruned to the keys its held segments have, and read again for a segment loaded later', async () => {
  const logs = new Map<string, Buffer>();
  const metas: SegmentMeta[] = [];
  for (let s = 0; s < 10; s++) {
    metas.push(segment(s, s * 10, s * 10 + 10));
    logs.set(`x${s}`, deleteLog(Array.from({ length: 100 }, (_, i) => s * 100 + i), 100n));
  }
  let reads = 0;
  const objects = { get: async (k: string) => (reads++, logs.get(k)!) } as unknown as ObjectStore;
  const cache = { segmentsOf: () => metas } as unknown as MetaCache;
  let holding: HeldSegment[] = [held(0, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 5000])];
  const deltas = new SealedDeltas('kite', {} as MetaStore, objects, cache, () => holding, 100);

  const first = await deltas.upTo(coll, 'ch', 100);
  expect(first.size).toBe(10);
  expect([...first.map.keys()].sort((a, b) => Number(a as bigint) - Number(b as bigint))).toEqual([0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n]);
  expect(reads).toBe(10);
  // Nothing new held: the pruned set serves on, without reading the logs again.
  expect((await deltas.upTo(coll, 'ch', 100)).size).toBe(10);
  expect(reads).toBe(10);

  // A segment with keys 250 and 777 (deleted in logs 2 and 7) is loaded: the set is read again and keeps them too.
  holding = [...holding, held(42, [250, 777, 9999])];
  const again = await deltas.upTo(coll, 'ch', 100);
  expect(reads).toBe(20);
  expect(again.map.get(250n)).toBe(100n);
  expect(again.map.get(777n)).toBe(100n);
  expect(again.map.has(9999n)).toBe(false);
  expect(again.size).toBe(12);
});

test('below the prune size nothing is dropped and a segment loaded later reads nothing again', async () => {
  const metas = [segment(0, 0, 10)];
  let reads = 0;
  const objects = { get: async () => (reads++, deleteLog([1, 2, 3], 5n)) } as unknown as ObjectStore;
  const cache = { segmentsOf: () => metas } as unknown as MetaCache;
  let holding: HeldSegment[] = [];
  const deltas = new SealedDeltas('kite', {} as MetaStore, objects, cache, () => holding);
  expect((await deltas.upTo(coll, 'ch', 10)).size).toBe(3);
  holding = [held(1, [1])];
  expect((await deltas.upTo(coll, 'ch', 10)).size).toBe(3);
  expect(reads).toBe(1);
});

test('a channel none of whose segments is held any more is forgotten, and read again when one comes back', async () => {
  const metas = [segment(0, 0, 10)];
  let reads = 0;
  const objects = { get: async () => (reads++, deleteLog([1, 2, 3], 5n)) } as unknown as ObjectStore;
  const cache = { segmentsOf: () => metas } as unknown as MetaCache;
  let holding: HeldSegment[] = [held(0, [1])];
  const deltas = new SealedDeltas('kite', {} as MetaStore, objects, cache, () => holding);
  await deltas.upTo(coll, 'ch', 10);
  expect(deltas.size).toBe(3);
  holding = [];
  deltas.forgetUnheld();
  expect(deltas.size).toBe(0);
  holding = [held(0, [1])];
  expect((await deltas.upTo(coll, 'ch', 10)).size).toBe(3);
  expect(reads).toBe(2);
});
