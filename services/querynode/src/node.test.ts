import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig, silentLogger, type KiteConfig } from '@kite/common';
import { EmbeddedMetaStore } from '@kite/metastore';
import { LocalObjectStore } from '@kite/objectstore';
import { codecs, encodeBatch, keys, PK, type CollectionMeta, type SegmentMeta } from '@kite/segment';
import { EmbeddedWal } from '@kite/wal';
import type { Session } from '@kite/session';
import { QueryNode } from './node';

let dir = '';
let store: EmbeddedMetaStore;
let wal: EmbeddedWal;
let objects: LocalObjectStore;
let cfg: KiteConfig;
let node: QueryNode;

beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kite-qn-'));
  store = await EmbeddedMetaStore.open(path.join(dir, 'meta'));
  wal = await EmbeddedWal.open(path.join(dir, 'wal'));
  objects = await LocalObjectStore.open(path.join(dir, 'objects'));
  cfg = loadConfig({ env: {}, overrides: { querynode: { collectionWaitMs: 5000 } } });
  node = new QueryNode(cfg, store, wal, objects, silentLogger);
  await node.prepare();
});
afterEach(async () => {
  await node.close();
  await wal.close();
  await store.close();
  await fs.promises.rm(dir, { recursive: true, force: true });
});

const collection = (id: number): CollectionMeta => ({
  collectionID: id,
  name: `c${id}`,
  description: '',
  fields: [{ fieldID: 100, name: 'id', dataType: 'Int64', isPrimaryKey: true, autoID: false, description: '', typeParams: {}, isDynamic: false, isPartitionKey: false, nullable: false }],
  enableDynamicField: false,
  shardsNum: 1,
  topic: `t${id}`,
  partitions: [],
  indexes: [],
  consistencyLevel: 'Bounded',
  properties: {},
  createdTs: '0',
});

test('an assignment for a collection the watch has not delivered yet is served when its record arrives', async () => {
  const t0 = Date.now();
  const assigned = node.LoadSegments({ collection_id: 5, replica_id: 1, segment_ids: [] });
  // The record lands later than the 200 ms the node used to sleep before giving up.
  await new Promise((r) => setTimeout(r, 500));
  await store.put(keys.collection(cfg.common.rootPath, 5), codecs.collection.encode(collection(5)));
  await expect(assigned).resolves.toMatchObject({ status: { code: 0 } });
  expect(Date.now() - t0).toBeLessThan(4000);
});

test('an assignment for a collection that never arrives fails at querynode.collectionWaitMs as CollectionNotFound', async () => {
  await node.close();
  node = new QueryNode(loadConfig({ env: {}, overrides: { querynode: { collectionWaitMs: 300 } } }), store, wal, objects, silentLogger);
  await node.prepare();
  const t0 = Date.now();
  await expect(node.LoadSegments({ collection_id: 6, replica_id: 1, segment_ids: [] })).rejects.toMatchObject({ kind: 'CollectionNotFound' });
  expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
});

/** A session stand-in whose liveness the test sets (the host's Session reports `live` the same way). */
function fakeSession(live: { value: boolean }, serverID = 7): Session {
  return { get live() { return live.value; }, info: { serverID } } as unknown as Session;
}

// Fencing: a query node cut off from etcd but reachable by the coordinator used to report itself healthy and empty
// once it had dropped its work, take new assignments before etcd expired its session, and keep them, unseen, after
// the coordinator had forgotten it.
test('a query node whose lease is lost takes no assignment and reports no distribution until it registers again', async () => {
  await store.put(keys.collection(cfg.common.rootPath, 5), codecs.collection.encode(collection(5)));
  await wal.createTopic('t5', 1);
  const live = { value: true };
  node.session = fakeSession(live);
  await expect(node.GetDistribution()).resolves.toMatchObject({ node_id: 7 });
  live.value = false;
  await node.sessionLost();
  await expect(node.LoadSegments({ collection_id: 5, replica_id: 1, segment_ids: [] })).rejects.toMatchObject({ kind: 'ServiceNotReady' });
  await expect(node.WatchChannel({ collection_id: 5, channel: 't5#0', replica_id: 1, from_offset: 0 })).rejects.toMatchObject({ kind: 'ServiceNotReady' });
  await expect(node.SyncDistribution({ collection_id: 5, channel: 't5#0', replica_id: 1, sealed: [], watermark: 0 })).rejects.toMatchObject({ kind: 'ServiceNotReady' });
  await expect(node.GetDistribution()).rejects.toMatchObject({ kind: 'ServiceNotReady' });
  expect(node.delegators.size).toBe(0);
  live.value = true; // registered again
  await expect(node.WatchChannel({ collection_id: 5, channel: 't5#0', replica_id: 1, from_offset: 0 })).resolves.toMatchObject({ status: { code: 0 } });
  expect(node.delegators.size).toBe(1);
});

test('an assignment that began before the lease was lost is undone when it completes', async () => {
  await wal.createTopic('t6', 1);
  const live = { value: true };
  node.session = fakeSession(live);
  // The collection record is late, so the watch is still waiting for it when the lease goes (and comes back).
  const watch = node.WatchChannel({ collection_id: 6, channel: 't6#0', replica_id: 1, from_offset: 0 });
  await new Promise((r) => setTimeout(r, 100));
  live.value = false;
  await node.sessionLost();
  live.value = true;
  await store.put(keys.collection(cfg.common.rootPath, 6), codecs.collection.encode(collection(6)));
  await expect(watch).rejects.toMatchObject({ kind: 'ServiceNotReady' });
  expect(node.delegators.size).toBe(0);
});

test('a segment held for one replica is served for a second one without a second copy, and kept until both release it', async () => {
  await store.put(keys.collection(cfg.common.rootPath, 7), codecs.collection.encode(collection(7)));
  const meta: SegmentMeta = {
    segmentID: 70, collectionID: 7, channel: 't7#0', startOffset: 0, endOffset: 3, numRows: 3, dataKey: 'collections/7/70',
    deltaKey: '', numDeletes: 0, indexes: [], maxTs: '0', createdAt: 0,
  };
  await objects.put(meta.dataKey, encodeBatch({ numRows: 3, columns: new Map([[PK, { kind: 'int64', data: new BigInt64Array([1n, 2n, 3n]) }]]) }));
  await store.put(keys.segment(cfg.common.rootPath, 7, 70), codecs.segment.encode(meta));
  const held = async (): Promise<number[][]> => (await node.GetDistribution()).segments.map((x) => [x.segment_id, x.replica_id]);
  await node.LoadSegments({ collection_id: 7, replica_id: 1, segment_ids: [70] });
  // A node lent to replica 2 (whose own nodes are gone) is asked for the same segment: it reports it for both
  // replicas, so the coordinator sees the load done (before, it answered OK, reported replica 1 only, and the
  // coordinator planned the load again after querycoord.taskRetryMs).
  await node.LoadSegments({ collection_id: 7, replica_id: 2, segment_ids: [70] });
  expect(await held()).toEqual([[70, 1], [70, 2]]);
  expect(node.segments.size).toBe(1);
  await node.ReleaseSegments({ collection_id: 7, replica_id: 1, segment_ids: [70] });
  expect(await held()).toEqual([[70, 2]]);
  await node.ReleaseSegments({ collection_id: 7, replica_id: 2, segment_ids: [70] });
  expect(await held()).toEqual([]);
  expect(node.segments.size).toBe(0);
});
