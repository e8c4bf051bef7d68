/**
 * Data lifecycle in cluster mode (etcd, Kafka, separate processes, local object store): a compaction's source files
 * stay through compaction.gcGraceSeconds, then garbage collection removes them and the plan records while the
 * results and every row stay readable; the active coordinator compacts etcd's history on its schedule, so an old
 * revision reads as compacted while recent ones stay readable.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import fs from 'node:fs';
import path from 'node:path';
import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { Etcd3 } from 'etcd3';
import { eventually, expectOk } from '../standalone/helpers';
import { KiteCluster } from './launcher';
import { Model, allIds, count, createCollection, createHnswIndex, diffIds, flushAndWait, insertRows, loadAndWait, makeRows, search } from './scenario';

jest.setTimeout(600_000);

const NAME = 'cluster_gc';
const GRACE_SECONDS = 15;
const RETAIN_REVISIONS = 100;

let cluster: KiteCluster;
let client: MilvusClient;
const model = new Model();

beforeAll(async () => {
  cluster = await KiteCluster.start({
    querynodes: 1,
    datanodes: 1,
    proxies: 1,
    env: {
      KITE_DATANODE_SEAL_IDLE_MS: '600000',
      KITE_COMPACTION_ENABLED: 'false',
      KITE_COMPACTION_CHECK_INTERVAL_MS: '500',
      KITE_COMPACTION_SOURCE_RELEASE_GRACE_MS: '500',
      KITE_COMPACTION_GC_GRACE_SECONDS: String(GRACE_SECONDS),
      KITE_COMPACTION_GC_INTERVAL_SECONDS: '1',
      KITE_META_ETCD_COMPACTION_INTERVAL_SECONDS: '1',
      KITE_META_ETCD_COMPACTION_RETAIN_REVISIONS: String(RETAIN_REVISIONS),
    },
  });
  client = new MilvusClient({ address: cluster.address, timeout: 60_000, logLevel: 'info' });
  await client.connectPromise;
}, 300_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  await cluster?.dispose();
}, 180_000);

async function metric(role: 'querycoord' | 'datanode' | 'proxy', re: RegExp): Promise<number> {
  let sum = 0;
  for (const c of cluster.components(role)) {
    const text = await (await fetch(`http://127.0.0.1:${c.metrics}/metrics`)).text();
    for (const m of text.matchAll(re)) sum += Number(m[1]);
  }
  return sum;
}

/** Segment ids with at least one file in the local object store, for one collection. */
function segmentDirs(collectionID: string): Set<number> {
  const out = new Set<number>();
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (e.name === 'segments' && path.basename(dir) === collectionID && path.basename(path.dirname(dir)) === 'collections') {
        for (const s of fs.readdirSync(p, { withFileTypes: true })) if (s.isDirectory() && fs.readdirSync(path.join(p, s.name)).length > 0) out.add(Number(s.name));
      } else walk(p);
    }
  };
  walk(cluster.objectsDir);
  return out;
}

test('compaction sources: kept through the grace period, then their files and plan records go; reads stay whole', async () => {
  await createCollection(client, NAME, 1);
  // Three flushed segments on the one channel.
  for (let i = 0; i < 3; i++) {
    await insertRows(client, NAME, model, makeRows(1000, i * 1000, 7 + i), 1000);
    await flushAndWait(client, NAME);
  }
  const deleted = [...model.rows.keys()].filter((id) => id % 4 === 0);
  expectOk((await client.delete({ collection_name: NAME, filter: `id in [${deleted.join(',')}]` })).status, 'delete');
  model.remove(deleted);
  await flushAndWait(client, NAME);
  await createHnswIndex(client, NAME);
  await loadAndWait(client, NAME);
  const collectionID = String((await client.describeCollection({ collection_name: NAME })).collectionID);
  const before = segmentDirs(collectionID);
  expect(before.size).toBeGreaterThanOrEqual(4);

  const res = await client.compact({ collection_name: NAME });
  expectOk(res.status, 'compact');
  const id = String(res.compactionID);
  await eventually('compaction completed', async () => (String((await client.getCompactionState({ compactionID: id })).state) === 'Completed' ? true : undefined), 180_000);
  const completedAt = Date.now();
  const plans = await client.getCompactionStateWithPlans({ compactionID: id });
  expect(plans.mergeInfos).toHaveLength(1);
  const sources = plans.mergeInfos[0]!.sources.map(Number);
  const target = Number(plans.mergeInfos[0]!.target);
  expect(sources.sort()).toEqual([...before].sort());

  // Within the grace period the sources' files are all there.
  const early = segmentDirs(collectionID);
  const elapsed = Date.now() - completedAt;
  if (elapsed < GRACE_SECONDS * 500) for (const s of sources) expect(early.has(s)).toBe(true);
  expect(early.has(target)).toBe(true);

  await eventually('the sources\' files removed', async () => {
    const now = segmentDirs(collectionID);
    return sources.every((s) => !now.has(s)) ? true : undefined;
  }, 180_000);
  // Not before the grace period ended (measured from when the test saw the plan completed, which is later).
  expect(Date.now() - completedAt).toBeGreaterThanOrEqual(GRACE_SECONDS * 1000 - 2000);
  expect([...segmentDirs(collectionID)]).toEqual([target]);
  await eventually('the plan record removed', async () => ((await client.getCompactionStateWithPlans({ compactionID: id })).mergeInfos.length === 0 ? true : undefined), 60_000);
  expect(await metric('querycoord', /^kite_querycoord_gc_segments_total (\d+)/gm)).toBe(sources.length);
  expect(await metric('querycoord', /^kite_querycoord_gc_files_total (\d+)/gm)).toBeGreaterThanOrEqual(sources.length);
  expect(await metric('querycoord', /^kite_querycoord_gc_bytes_total (\d+)/gm)).toBeGreaterThan(0);

  // Reads are whole: every id once, the count, and a search over the compacted segment.
  expect(diffIds(model, await allIds(client, NAME, 3000))).toEqual({ missing: [], extra: [], wrongN: [] });
  expect(await count(client, NAME)).toBe(model.rows.size);
  const q = [...model.values()].slice(0, 3);
  const hits = await search(client, NAME, q.map((r) => r.vector), 5);
  hits.forEach((h, i) => expect(h[0]?.id).toBe(String(q[i]!.id)));

  // A further pass (a second coordinator, a restart) finds nothing: the collected count stays.
  const segmentsNow = await metric('querycoord', /^kite_querycoord_gc_segments_total (\d+)/gm);
  await new Promise((r) => setTimeout(r, 3000));
  expect(await metric('querycoord', /^kite_querycoord_gc_segments_total (\d+)/gm)).toBe(segmentsNow);
});

test('etcd history: the active coordinator compacts it on schedule; an old revision reads as compacted, recent ones stay', async () => {
  const etcd = new Etcd3({ hosts: cluster.etcdEndpoints });
  try {
    const key = 'lifecycle-test/scratch';
    const first = Number((await etcd.put(key).value('0').exec()).header.revision);
    for (let i = 1; i <= 400; i++) await etcd.put(key).value(String(i));
    const latest = Number((await etcd.put(key).value('last').exec()).header.revision);
    const readAt = async (rev: number): Promise<string> => {
      try {
        return `value ${await etcd.get(key).revision(rev).string()}`;
      } catch (e) {
        return (e as Error).message;
      }
    };
    // Compacted to about RETAIN_REVISIONS behind the head: the first revision and one 300 back are gone.
    await eventually('history compacted past 300 revisions back', async () => (/compacted/.test(await readAt(latest - 300)) ? true : undefined), 60_000);
    expect(await readAt(first)).toMatch(/compacted/);
    // The most recent revisions stay readable (the head moves on only with the cluster's own few writes).
    expect(await readAt(latest - 1)).toBe('value 400');
    expect(await metric('querycoord', /^kite_meta_history_compactions_total\{outcome="done"\} (\d+)/gm)).toBeGreaterThan(0);
    // Only the coordinator compacts.
    expect(await metric('datanode', /^kite_meta_history_compactions_total\{outcome="done"\} (\d+)/gm)).toBe(0);
    expect(await metric('proxy', /^kite_meta_history_compactions_total\{outcome="done"\} (\d+)/gm)).toBe(0);
  } finally {
    etcd.close();
  }
});
