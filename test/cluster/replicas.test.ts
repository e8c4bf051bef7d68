/**
 * Replicas and proxies in cluster mode: a collection loaded with replica_number 2 on 2 query nodes gets two
 * replicas on disjoint node sets, each of which alone serves every sealed segment and every shard; and with two
 * proxies the same requests give the same answers through either.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { LoadState, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { eventually, expectOk, queriesNear, waitIndexBuilt } from '../standalone/helpers';
import { getDistribution, readSegments, readSessions, ROOT } from './inspect';
import { KiteCluster } from './launcher';
import {
  Model,
  count,
  createCollection,
  createHnswIndex,
  flushAndWait,
  insertRows,
  loadAndWait,
  makeRows,
  meanRecall,
  query,
  search,
  type Hit,
} from './scenario';

jest.setTimeout(180_000);

const NAME = 'cluster_replicas';
const ROWS = 3000;
const REPLICAS = 2;

let cluster: KiteCluster;
let clients: MilvusClient[] = [];
let collectionID = '';
const model = new Model();
const rows = makeRows(ROWS, 0, 21);
const queries = queriesNear(rows.map((r) => r.vector), 10, 23);

beforeAll(async () => {
  cluster = await KiteCluster.start({
    querynodes: 2,
    datanodes: 1,
    proxies: 2,
    env: { KITE_DATANODE_SEGMENT_MAX_ROWS: '500' },
  });
  clients = cluster.proxyAddresses.map((address) => new MilvusClient({ address, timeout: 60_000, logLevel: 'info' }));
  await Promise.all(clients.map((c) => c.connectPromise));
}, 300_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.closeConnection().catch(() => undefined)));
  await cluster?.dispose();
}, 180_000);

test('two proxies are up, each with its own session', async () => {
  expect(cluster.proxyAddresses).toHaveLength(2);
  expect(new Set(cluster.proxyAddresses).size).toBe(2);
  const sessions = await readSessions(cluster.etcdEndpoints);
  for (const p of cluster.components('proxy')) {
    const s = sessions.find((x) => x.key === `${ROOT}/session/proxy-${p.serverID}`);
    expect(s).toBeDefined();
    expect(s!.ttl).toBeGreaterThan(0);
  }
  for (const c of clients) expect((await c.checkHealth()).isHealthy).toBe(true);
});

test('insert through one proxy, flush, index, load with replica_number 2', async () => {
  const [first] = clients;
  collectionID = await createCollection(first!, NAME, 2);
  await insertRows(first!, NAME, model, rows, 500);
  await flushAndWait(first!, NAME);
  await createHnswIndex(first!, NAME);
  await waitIndexBuilt(first!, NAME, 'vector', 120_000);
  await loadAndWait(first!, NAME, REPLICAS);
  // The second proxy sees the collection loaded too.
  const st = await clients[1]!.getLoadState({ collection_name: NAME });
  expectOk(st.status, 'getLoadState through proxy 2');
  expect(st.state).toBe(LoadState.LoadStateLoaded);
});

test('GetReplicas: 2 replicas on disjoint node sets, each with a leader per shard inside its set', async () => {
  const res = await clients[0]!.getReplicas({ collectionID: collectionID as unknown as number });
  expectOk(res.status, 'getReplicas');
  expect(res.replicas).toHaveLength(REPLICAS);
  const qnIDs = cluster.components('querynode').map((c) => String(c.serverID));
  const seen = new Set<string>();
  for (const r of res.replicas) {
    const nodes = r.node_ids.map(String);
    expect(nodes.length).toBeGreaterThan(0);
    for (const n of nodes) {
      expect(qnIDs).toContain(n);
      if (seen.has(n)) throw new Error(`node ${n} is in two replicas: ${JSON.stringify(res.replicas)}`);
      seen.add(n);
    }
    expect(r.shard_replicas.map((s) => s.dm_channel_name).sort()).toEqual([`kite-dml-${collectionID}#0`, `kite-dml-${collectionID}#1`]);
    for (const s of r.shard_replicas) expect(nodes).toContain(String(s.leaderID));
  }
  expect(new Set(res.replicas.map((r) => String(r.replicaID))).size).toBe(REPLICAS);
  // Both proxies give the same answer.
  const res2 = await clients[1]!.getReplicas({ collectionID: collectionID as unknown as number });
  expectOk(res2.status, 'getReplicas through proxy 2');
  const shape = (x: typeof res): string[] => x.replicas.map((r) => `${r.replicaID}:${r.node_ids.map(String).sort().join(',')}`).sort();
  expect(shape(res2)).toEqual(shape(res));
});

test('each replica alone serves every sealed segment and both shards', async () => {
  const sealed = (await readSegments(cluster.etcdEndpoints, collectionID)).filter((s) => s.numRows > 0).map((s) => s.segmentID).sort((a, b) => a - b);
  expect(sealed.length).toBeGreaterThan(2);
  const channels = [`kite-dml-${collectionID}#0`, `kite-dml-${collectionID}#1`];
  await eventually('every replica holds every sealed segment and a serviceable delegator per shard', async () => {
    const segs = new Map<number, number[]>();
    const chans = new Map<number, string[]>();
    for (const qn of cluster.components('querynode')) {
      const d = await getDistribution(`127.0.0.1:${qn.grpc}`);
      for (const s of d.segments.filter((x) => String(x.collection_id) === collectionID)) {
        segs.set(s.replica_id, [...(segs.get(s.replica_id) ?? []), s.segment_id]);
      }
      for (const c of d.channels.filter((x) => String(x.collection_id) === collectionID && x.serviceable)) {
        chans.set(c.replica_id, [...(chans.get(c.replica_id) ?? []), c.channel]);
      }
    }
    expect(segs.size).toBe(REPLICAS);
    for (const [replica, ids] of segs) {
      const sorted = [...ids].sort((a, b) => a - b);
      if (sorted.join(',') !== sealed.join(',')) throw new Error(`replica ${replica} serves segments ${sorted.join(',')}, expected ${sealed.join(',')}`);
      expect([...(chans.get(replica) ?? [])].sort()).toEqual(channels);
    }
    return true;
  });
});

test('searches succeed with good recall and give the same results through both proxies', async () => {
  const per: Hit[][][] = [];
  for (const c of clients) per.push(await search(c, NAME, queries, 10, { ef: 64 }));
  for (const results of per) expect(meanRecall(model, queries, results, 10)).toBeGreaterThanOrEqual(0.95);
  // Both replicas hold the same segments with the same index files, so the answers match exactly.
  const ids = (results: Hit[][]): string[][] => results.map((hits) => hits.map((h) => h.id));
  expect(ids(per[1]!)).toEqual(ids(per[0]!));
  per[0]!.forEach((hits, q) => hits.forEach((h, i) => expect(per[1]![q]![i]!.score).toBeCloseTo(h.score, 4)));

  // Repeated requests (a proxy may route each to either replica) keep giving the same answer.
  for (let round = 0; round < 6; round++) {
    const c = clients[round % 2]!;
    const again = await search(c, NAME, queries.slice(0, 3), 10, { ef: 64 });
    expect(ids(again)).toEqual(ids(per[0]!).slice(0, 3));
  }
  const filtered = 'n >= 100 and n < 300';
  for (const c of clients) {
    expect(await count(c, NAME)).toBe(ROWS);
    expect(await count(c, NAME, filtered)).toBe(model.where((r) => r.n >= 100 && r.n < 300).length);
    const got = (await query(c, NAME, 'id in [5, 500, 2999]')).map((r) => Number(r.id)).sort((a, b) => a - b);
    expect(got).toEqual([5, 500, 2999]);
  }
});

test('a write through proxy 2 is read through proxy 1', async () => {
  const extra = makeRows(50, ROWS, 22);
  await insertRows(clients[1]!, NAME, model, extra, 50);
  expect(await count(clients[0]!, NAME)).toBe(ROWS + 50);
  const results = await search(clients[0]!, NAME, [extra[17]!.vector], 1);
  expect(results[0]![0]!.id).toBe(String(extra[17]!.id));
});
