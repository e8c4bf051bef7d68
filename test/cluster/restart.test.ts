/**
 * A whole cluster restarted on its data directory: rows acknowledged before `cluster down` — flushed ones, ones
 * only in the Kafka WAL, and acknowledged deletes — are all there after `cluster up`, once the collection reports
 * Loaded again without a LoadCollection call.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { expectOk, waitIndexBuilt } from '../standalone/helpers';
import { readSegments, readSessions, ROOT } from './inspect';
import { processAlive } from '@kite/common';
import { KiteCluster } from './launcher';
import {
  Model,
  allIds,
  count,
  createCollection,
  createHnswIndex,
  diffIds,
  flushAndWait,
  insertRows,
  loadAndWait,
  makeRows,
  search,
  waitLoaded,
} from './scenario';

jest.setTimeout(240_000);

const NAME = 'cluster_restart';
const FLUSHED = 1500;
const WAL_ONLY = 700;

let cluster: KiteCluster;
let client: MilvusClient | undefined;
let collectionID = '';
const model = new Model();
const rows = makeRows(FLUSHED + WAL_ONLY, 0, 31);

function connect(): MilvusClient {
  return new MilvusClient({ address: cluster.address, timeout: 60_000, logLevel: 'info' });
}

beforeAll(async () => {
  cluster = await KiteCluster.start({
    querynodes: 2,
    datanodes: 1,
    env: {
      KITE_DATANODE_SEGMENT_MAX_ROWS: '500',
      // No sealing on idle time: the unflushed rows stay in the WAL only until the cluster goes down.
      KITE_DATANODE_SEAL_IDLE_MS: '600000',
    },
  });
  client = connect();
  await client.connectPromise;
}, 300_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  await cluster?.dispose();
}, 180_000);

test('acknowledged rows survive cluster down / cluster up on the same data directory', async () => {
  const c = client!;
  collectionID = await createCollection(c, NAME, 2);
  await createHnswIndex(c, NAME);
  await loadAndWait(c, NAME);

  // Flushed: 1500 rows.
  await insertRows(c, NAME, model, rows.slice(0, FLUSHED), 500);
  await flushAndWait(c, NAME);
  await waitIndexBuilt(c, NAME, 'vector', 120_000);
  // Only in the WAL: 700 rows and deletes of flushed and unflushed rows.
  await insertRows(c, NAME, model, rows.slice(FLUSHED), 350);
  const deleted = [3, 4, 5, 700, 1499, 1500, 1501, 2199];
  expectOk((await c.delete({ collection_name: NAME, ids: deleted })).status, 'delete');
  model.remove(deleted);
  expect(await count(c, NAME)).toBe(model.rows.size);

  const flushedRows = (await readSegments(cluster.etcdEndpoints, collectionID)).reduce((a, s) => a + s.numRows, 0);
  expect(flushedRows).toBe(FLUSHED); // the 700 later rows are in the WAL only

  await c.closeConnection();
  client = undefined;
  const before = cluster.info;
  const downMs = await cluster.down();
  for (const pid of [before.etcd.pid, before.kafka.pid, ...before.components.map((x) => x.pid)]) expect(processAlive(pid)).toBe(false);
  const stopped = await cluster.status();
  expect(Object.values(stopped.alive).some(Boolean)).toBe(false);

  await cluster.up();
  console.log(
    `cluster down: ${(downMs / 1000).toFixed(1)} s; cluster up: first ${(cluster.upTimesMs[0]! / 1000).toFixed(1)} s, ` +
      `on the existing data dir ${(cluster.upTimesMs[1]! / 1000).toFixed(1)} s`,
  );
  expect(cluster.address).toBe(`127.0.0.1:${cluster.port}`);
  // New processes, new sessions; the old sessions were revoked by the graceful stop.
  const oldPids = new Set(before.components.map((x) => x.pid));
  for (const comp of cluster.info.components) expect(oldPids.has(comp.pid)).toBe(false);
  const sessions = (await readSessions(cluster.etcdEndpoints)).filter((s) => /-\d+$/.test(s.key)).map((s) => s.key).sort();
  expect(sessions).toEqual(cluster.info.components.map((x) => `${ROOT}/session/${x.role}-${x.serverID}`).sort());
  for (const old of before.components) expect(cluster.info.components.map((x) => x.serverID)).not.toContain(old.serverID);

  const c2 = connect();
  client = c2;
  await c2.connectPromise;
  await waitLoaded(c2, NAME, 120_000);

  expect(await count(c2, NAME)).toBe(model.rows.size);
  const found = await allIds(c2, NAME, FLUSHED + WAL_ONLY);
  expect(diffIds(model, found)).toEqual({ missing: [], extra: [], wrongN: [] });

  // Search finds flushed and WAL-only rows by their own vectors, and never a deleted one.
  const probes = [0, 750, 1498, 1502, 1800, 2198, 700, 1500];
  const results = await search(c2, NAME, probes.map((id) => rows[id]!.vector), 3);
  probes.forEach((id, i) => {
    const hits = results[i]!.map((h) => Number(h.id));
    for (const h of hits) expect(model.rows.has(h)).toBe(true);
    if (model.rows.has(id)) expect(hits[0]).toBe(id);
    else expect(hits).not.toContain(id);
  });

  // And it takes writes again.
  await insertRows(c2, NAME, model, makeRows(10, 5000, 32), 10);
  expect(await count(c2, NAME)).toBe(model.rows.size);
});
