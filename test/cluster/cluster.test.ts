/**
 * Kite in cluster mode, end to end: `bin/kite cluster up` with 2 query nodes and 2 data nodes (etcd, Kafka, the
 * coordinator, nodes and a proxy as separate processes), the official Node SDK against the proxy, and checks of
 * what lies underneath — session leases in etcd, the inserted primary keys in the Kafka topic, sealed segments
 * and index files in the object directory matching their records in etcd, and segments spread over both query
 * nodes.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { sleep } from '../harness/util';
import { eventually, expectOk, queriesNear, waitIndexBuilt } from '../standalone/helpers';
import { getDistribution, listFiles, pksOf, readJson, readJsonPrefix, readSegments, readSessions, readTopic, ROOT } from './inspect';
import type { CollectionMeta } from '@kite/segment';
import { connect } from '@kite/rpc';
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
  meanRecall,
  query,
  search,
  type Row,
} from './scenario';

jest.setTimeout(180_000);

const NAME = 'cluster_e2e';
const SHARDS = 2;
const SEGMENT_MAX_ROWS = 500;
const ROWS = 4000;
/** `--session-ttl`: every session lease is granted with it. */
const SESSION_TTL = 4;

/** The internal service each role serves. */
const SERVICES = { querycoord: 'QueryCoord', querynode: 'QueryNode', datanode: 'DataNode' } as const;

let cluster: KiteCluster;
let client: MilvusClient;
let collectionID = '';
const model = new Model();
const initialRows = makeRows(ROWS, 0, 7);
const queries = queriesNear(initialRows.map((r) => r.vector), 10, 77);

beforeAll(async () => {
  cluster = await KiteCluster.start({
    querynodes: 2,
    datanodes: 2,
    proxies: 1,
    sessionTtlSeconds: SESSION_TTL,
    env: { KITE_DATANODE_SEGMENT_MAX_ROWS: String(SEGMENT_MAX_ROWS) },
  });
  client = new MilvusClient({ address: cluster.address, timeout: 60_000, logLevel: 'info' });
  await client.connectPromise;
}, 300_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  if (cluster) {
    const errors = cluster.grepLogs(/"level":(50|60)/, 20);
    if (errors.length > 0) console.warn(`error lines in the cluster logs:\n${errors.join('\n')}`);
    await cluster.dispose();
  }
}, 180_000);

describe('cluster up', () => {
  test('writes cluster.json with every process, all alive', async () => {
    const info = cluster.info;
    const roles = info.components.map((c) => c.role).sort();
    expect(roles).toEqual(['datanode', 'datanode', 'proxy', 'querycoord', 'querynode', 'querynode']);
    expect(info.upSeconds).toBeGreaterThan(0);
    expect(info.proxy.grpc).toBe(cluster.port);
    expect(info.etcd.endpoints.length).toBeGreaterThan(0);
    expect(info.kafka.brokers.length).toBeGreaterThan(0);
    const ids = info.components.map((c) => c.serverID);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toBeGreaterThan(0);

    const status = await cluster.status();
    expect(Object.values(status.alive).every(Boolean)).toBe(true);
    expect(Object.keys(status.alive)).toHaveLength(info.components.length + 2);
    const health = await client.checkHealth();
    expect(health.isHealthy).toBe(true);
  });

  test('one live session per process in etcd, each bound to a kept-alive lease', async () => {
    const check = async (): Promise<Map<string, string>> => {
      const sessions = await readSessions(cluster.etcdEndpoints);
      const byKey = new Map(sessions.map((s) => [s.key, s]));
      const leases = new Map<string, string>();
      for (const c of cluster.info.components) {
        const key = `${ROOT}/session/${c.role}-${c.serverID}`;
        const s = byKey.get(key);
        if (!s) throw new Error(`no session ${key}; sessions: ${[...byKey.keys()].join(', ')}`);
        expect(s.value.serverID).toBe(c.serverID);
        expect(s.value.role).toBe(c.role);
        expect(s.value.stopping).toBeFalsy();
        expect(s.value.address).toBe(`127.0.0.1:${c.grpc}`);
        expect(s.lease).not.toBe('0');
        expect(s.ttl).toBeGreaterThan(0);
        expect(s.ttl).toBeLessThanOrEqual(s.grantedTtl);
        expect(s.leaseKeys).toContain(key);
        leases.set(key, s.lease);
      }
      // Exactly one per process: no stale `<role>-<id>` keys besides them.
      const perProcess = sessions.filter((s) => /\/session\/(querycoord|querynode|datanode|proxy)-\d+$/.test(s.key));
      expect(perProcess.map((s) => s.key).sort()).toEqual([...leases.keys()].sort());
      expect(new Set(leases.values()).size).toBe(leases.size);
      // The active coordinator's exclusive key, also leased.
      const coord = byKey.get(`${ROOT}/session/querycoord`);
      expect(coord).toBeDefined();
      expect(coord!.lease).not.toBe('0');
      expect(coord!.ttl).toBeGreaterThan(0);
      return leases;
    };
    const first = await check();
    for (const s of await readSessions(cluster.etcdEndpoints)) expect({ key: s.key, granted: s.grantedTtl }).toEqual({ key: s.key, granted: SESSION_TTL });
    // Longer than a lease lives without keep-alives: the same leases are still there.
    await sleep((SESSION_TTL + 1) * 1000);
    const second = await check();
    expect([...second.entries()].sort()).toEqual([...first.entries()].sort());
  });
});

describe('SDK scenario through the proxy', () => {
  test('create a collection with 2 shards, insert 4000 rows in batches, flush', async () => {
    collectionID = await createCollection(client, NAME, SHARDS);
    const desc = await client.describeCollection({ collection_name: NAME });
    expect(Number(desc.shards_num)).toBe(SHARDS);
    const acked = await insertRows(client, NAME, model, initialRows, 500);
    expect(acked).toHaveLength(ROWS);
    const segIDs = await flushAndWait(client, NAME);
    expect(segIDs.length).toBeGreaterThan(0);
    const stats = await client.getCollectionStatistics({ collection_name: NAME });
    expectOk(stats.status, 'getCollectionStatistics');
    expect(Number(stats.data.row_count)).toBe(ROWS);
  });

  test('the Kafka topic has a partition per shard and carries every inserted primary key once', async () => {
    const topic = `kite-dml-${collectionID}`;
    const { partitions, messages } = await readTopic(cluster.kafkaBrokers, topic);
    expect(partitions).toBe(SHARDS);
    const seen = new Map<string, number>();
    const perPartition = new Map<number, number>();
    for (const m of messages) {
      if (m.msg.type !== 'insert') continue;
      expect(String(m.msg.collectionID)).toBe(collectionID);
      expect(m.msg.ts > 0n).toBe(true);
      for (const pk of pksOf(m.msg)) {
        if (seen.has(pk)) throw new Error(`pk ${pk} is in two insert messages (partitions ${seen.get(pk)} and ${m.partition})`);
        seen.set(pk, m.partition);
        perPartition.set(m.partition, (perPartition.get(m.partition) ?? 0) + 1);
      }
    }
    const missing = initialRows.filter((r) => !seen.has(String(r.id))).map((r) => r.id);
    expect(missing.slice(0, 20)).toEqual([]);
    expect(seen.size).toBe(ROWS);
    // Routed by primary-key hash: both shards get rows.
    expect(perPartition.size).toBe(SHARDS);
    for (const n of perPartition.values()) expect(n).toBeGreaterThan(ROWS / 10);
  });

  test('create an HNSW index; it is built for every flushed segment', async () => {
    await createHnswIndex(client, NAME);
    await waitIndexBuilt(client, NAME, 'vector', 120_000);
  });

  test('segment records in etcd match the segment files and index files in the object directory', async () => {
    const coll = await readJson<CollectionMeta>(cluster.etcdEndpoints, `${ROOT}/meta/collection/${collectionID}`);
    if (!coll) throw new Error(`no collection record for ${collectionID}`);
    const indexIDs = coll.indexes.map((i) => i.indexID);
    expect(indexIDs).toHaveLength(1);
    expect(coll.topic).toBe(`kite-dml-${collectionID}`);
    const channels = [0, 1].map((i) => `kite-dml-${collectionID}#${i}`);

    const segments = await eventually('every segment with rows has its index file recorded', async () => {
      const segs = await readSegments(cluster.etcdEndpoints, collectionID);
      return segs.filter((s) => s.numRows > 0).every((s) => s.indexes.length === 1) ? segs : undefined;
    });
    const withRows = segments.filter((s) => s.numRows > 0);
    expect(withRows.reduce((a, s) => a + s.numRows, 0)).toBe(ROWS);
    // Small segments: sealed near KITE_DATANODE_SEGMENT_MAX_ROWS, so there are several per channel.
    expect(withRows.length).toBeGreaterThanOrEqual(ROWS / (2 * SEGMENT_MAX_ROWS));
    for (const s of withRows) expect(s.numRows).toBeLessThan(2 * SEGMENT_MAX_ROWS);
    expect(new Set(withRows.map((s) => s.channel))).toEqual(new Set(channels));

    const files = listFiles(cluster.objectsDir);
    const segPrefix = `collections/${collectionID}/segments/`;
    for (const s of segments) {
      expect(String(s.collectionID)).toBe(collectionID);
      const dir = `${segPrefix}${s.segmentID}/`;
      if (s.numRows > 0) {
        expect(s.dataKey).toBe(`${dir}data.kcb`);
        expect(files.get(s.dataKey)).toBeGreaterThan(0);
      }
      if (s.deltaKey) expect(files.has(s.deltaKey)).toBe(true);
      for (const ix of s.indexes) {
        expect(ix.key).toBe(`${dir}index-${ix.indexID}.faiss`);
        expect(indexIDs).toContain(ix.indexID);
        expect(files.get(ix.key)).toBe(ix.bytes);
      }
    }
    // Nothing on disk for a segment etcd does not know.
    const known = new Set(segments.map((s) => String(s.segmentID)));
    const onDisk = new Set([...files.keys()].filter((k) => k.startsWith(segPrefix)).map((k) => k.slice(segPrefix.length).split('/')[0]!));
    expect([...onDisk].filter((id) => !known.has(id))).toEqual([]);

    // Channel checkpoints cover every flushed segment of their channel.
    const checkpoints = await readJsonPrefix<{ channel: string; offset: number }>(cluster.etcdEndpoints, `${ROOT}/meta/checkpoint/${collectionID}/`);
    const cpByChannel = new Map([...checkpoints.values()].map((c) => [c.channel, c.offset]));
    for (const ch of channels) {
      const ends = segments.filter((s) => s.channel === ch).map((s) => s.endOffset);
      expect(cpByChannel.get(ch)).toBeGreaterThanOrEqual(Math.max(...ends));
    }
  });

  test('load; GetReplicas names a leader for each shard', async () => {
    await loadAndWait(client, NAME);
    const res = await client.getReplicas({ collectionID: collectionID as unknown as number });
    expectOk(res.status, 'getReplicas');
    expect(res.replicas).toHaveLength(1);
    const r = res.replicas[0]!;
    const qnIDs = cluster.components('querynode').map((c) => String(c.serverID));
    const qnAddrs = cluster.components('querynode').map((c) => `127.0.0.1:${c.grpc}`);
    expect(r.shard_replicas.map((s) => s.dm_channel_name).sort()).toEqual([0, 1].map((i) => `kite-dml-${collectionID}#${i}`));
    for (const s of r.shard_replicas) {
      expect(qnIDs).toContain(String(s.leaderID));
      expect(qnAddrs).toContain(s.leader_addr);
    }
    for (const id of r.node_ids) expect(qnIDs).toContain(String(id));
  });

  test('sealed segments are spread over both query nodes (none holds more than about twice the average)', async () => {
    const sealed = new Set((await readSegments(cluster.etcdEndpoints, collectionID)).filter((s) => s.numRows > 0).map((s) => s.segmentID));
    const nodes = cluster.components('querynode');
    const perNode = await eventually('every sealed segment served exactly once', async () => {
      const counts = new Map<number, number[]>();
      const served = new Map<number, number>();
      for (const qn of nodes) {
        const dist = await getDistribution(`127.0.0.1:${qn.grpc}`);
        expect(dist.node_id).toBe(qn.serverID);
        const mine = dist.segments.filter((s) => String(s.collection_id) === collectionID).map((s) => s.segment_id);
        counts.set(qn.serverID, mine);
        for (const id of mine) served.set(id, (served.get(id) ?? 0) + 1);
      }
      const complete = [...sealed].every((id) => served.get(id) === 1) && [...served.keys()].every((id) => sealed.has(id));
      return complete ? counts : undefined;
    });
    const sizes = [...perNode.values()].map((s) => s.length);
    const avg = sealed.size / nodes.length;
    console.log(`segments per query node: ${[...perNode.entries()].map(([id, s]) => `${id}: ${s.length}`).join(', ')} (${sealed.size} sealed)`);
    for (const n of sizes) {
      expect(n).toBeGreaterThan(0);
      expect(n).toBeLessThanOrEqual(Math.ceil(2 * avg));
    }
  });

  /** channel -> serverIDs of the data nodes that report consuming it. */
  async function dataNodeChannels(): Promise<Map<string, number[]>> {
    const owners = new Map<string, number[]>();
    for (const dn of cluster.components('datanode')) {
      const d = await getDistribution(`127.0.0.1:${dn.grpc}`, 'DataNode');
      expect(d.node_id).toBe(dn.serverID);
      for (const ch of d.channels.filter((c) => String(c.collection_id) === collectionID)) owners.set(ch.channel, [...(owners.get(ch.channel) ?? []), dn.serverID]);
    }
    return owners;
  }

  test('each WAL channel is consumed by exactly one data node', async () => {
    const owners = await dataNodeChannels();
    expect([...owners.keys()].sort()).toEqual([0, 1].map((i) => `kite-dml-${collectionID}#${i}`));
    for (const nodes of owners.values()) expect(nodes).toHaveLength(1);
  });

  // KNOWN SERVER BUG (reported to the lead, services/ not touched here): the coordinator's checkDataChannels picks
  // the least-loaded data node from the distribution pulled at the start of the pass and does not count the
  // WatchChannel tasks it issues in that pass, so both channels of a new collection go to the same data node and
  // the second data node stays idle (nothing rebalances data-node channels later). Fails until that is fixed.
  test('the two data nodes share the channels (one each)', async () => {
    const owners = await dataNodeChannels();
    expect(new Set([...owners.values()].flat()).size).toBe(2);
  });

  test('search: recall against brute force', async () => {
    const results = await search(client, NAME, queries, 10);
    expect(results).toHaveLength(queries.length);
    for (const hits of results) {
      expect(hits).toHaveLength(10);
      for (const h of hits) {
        const row = model.rows.get(Number(h.id));
        expect(row).toBeDefined();
        expect(Number(h.n)).toBe(row!.n);
        expect(h.tag).toBe(row!.tag);
      }
    }
    const r = meanRecall(model, queries, results, 10);
    console.log(`cluster search recall@10 (HNSW, ef 64): ${r.toFixed(3)}`);
    expect(r).toBeGreaterThanOrEqual(0.95);
  });

  test('search with a filter: every hit passes it, recall against filtered brute force', async () => {
    const filter = 'n < 400 and tag in ["a", "c"]';
    const pred = (r: Row): boolean => r.n < 400 && (r.tag === 'a' || r.tag === 'c');
    const results = await search(client, NAME, queries, 10, { filter, ef: 128 });
    for (const hits of results) {
      expect(hits).toHaveLength(10);
      for (const h of hits) expect(pred(model.rows.get(Number(h.id))!)).toBe(true);
    }
    const r = meanRecall(model, queries, results, 10, pred);
    console.log(`cluster filtered search recall@10: ${r.toFixed(3)}`);
    expect(r).toBeGreaterThanOrEqual(0.9);
  });

  test('query with filters and count(*)', async () => {
    const cases: { filter: string; pred: (r: Row) => boolean }[] = [
      { filter: 'n in [3, 77, 500, 999]', pred: (r) => [3, 77, 500, 999].includes(r.n) },
      { filter: 'tag == "b" and f > 0.9', pred: (r) => r.tag === 'b' && r.f > 0.9 },
      { filter: 'id >= 1200 and id < 1300', pred: (r) => r.id >= 1200 && r.id < 1300 },
      { filter: 'tag like "d%" and n < 50', pred: (r) => r.tag.startsWith('d') && r.n < 50 },
    ];
    for (const c of cases) {
      const rows = await query(client, NAME, c.filter);
      const want = model.where(c.pred);
      expect(rows.map((r) => Number(r.id)).sort((a, b) => a - b)).toEqual(want.map((r) => r.id).sort((a, b) => a - b));
      for (const r of rows) {
        const m = model.rows.get(Number(r.id))!;
        expect(Number(r.n)).toBe(m.n);
        expect(r.tag).toBe(m.tag);
        expect(r.f as number).toBeCloseTo(m.f, 5);
      }
      expect(await count(client, NAME, c.filter)).toBe(want.length);
    }
    expect(await count(client, NAME)).toBe(ROWS);
  });

  test('growing rows (not flushed) are searchable and counted at once', async () => {
    const growing = makeRows(600, ROWS, 8);
    await insertRows(client, NAME, model, growing, 200);
    expect(await count(client, NAME)).toBe(model.rows.size);
    const probes = [growing[0]!, growing[299]!, growing[599]!];
    const results = await search(client, NAME, probes.map((r) => r.vector), 1);
    probes.forEach((p, i) => expect(results[i]![0]!.id).toBe(String(p.id)));
  });

  test('delete by ids and by expression', async () => {
    const byIds = [0, 1, 2, 1999, 2000, 3999, ROWS, ROWS + 599];
    const del = await client.delete({ collection_name: NAME, ids: byIds });
    expectOk(del.status, 'delete by ids');
    model.remove(byIds);
    const byExpr = model.where((r) => r.n === 7).map((r) => r.id);
    expect(byExpr.length).toBeGreaterThan(0);
    const del2 = await client.delete({ collection_name: NAME, filter: 'n == 7' });
    expectOk(del2.status, 'delete n == 7');
    model.remove(byExpr);

    expect(await count(client, NAME)).toBe(model.rows.size);
    const gone = [...byIds, ...byExpr];
    expect(await query(client, NAME, `id in [${gone.join(', ')}]`)).toEqual([]);
    const results = await search(client, NAME, [initialRows[1999]!.vector, initialRows[2000]!.vector], 5);
    for (const hits of results) for (const h of hits) expect(gone).not.toContain(Number(h.id));
  });

  test('upsert replaces flushed and growing rows', async () => {
    const targets = [10, 11, 1500, 3998, ROWS + 10, ROWS + 11];
    const fresh = makeRows(targets.length, 0, 99).map((r, i) => ({ ...r, id: targets[i]!, n: 100_000 + i }));
    const res = await client.upsert({ collection_name: NAME, data: fresh.map((r) => ({ ...r })) });
    expectOk(res.status, 'upsert');
    model.apply(fresh);
    expect(await count(client, NAME)).toBe(model.rows.size);
    const rows = await query(client, NAME, `id in [${targets.join(', ')}]`);
    expect(rows.map((r) => [Number(r.id), Number(r.n)]).sort((a, b) => a[0]! - b[0]!)).toEqual(fresh.map((r) => [r.id, r.n]));
    const results = await search(client, NAME, fresh.map((r) => r.vector), 1);
    fresh.forEach((r, i) => {
      expect(results[i]![0]!.id).toBe(String(r.id));
      expect(Number(results[i]![0]!.n)).toBe(r.n);
    });
    const found = await allIds(client, NAME, ROWS + 600);
    expect(diffIds(model, found)).toEqual({ missing: [], extra: [], wrongN: [] });
  });

  test('a second database holds its own collection of the same name, isolated (catalogue in etcd)', async () => {
    const db = 'cluster_db';
    expectOk(await client.createDatabase({ db_name: db }), 'createDatabase');
    const other = new MilvusClient({ address: cluster.address, timeout: 60_000, logLevel: 'info', database: db });
    try {
      await other.connectPromise;
      await createCollection(other, NAME, 1);
      const rows = makeRows(20, 1_000_000, 99);
      await insertRows(other, NAME, new Model(), rows, 20);
      await createHnswIndex(other, NAME);
      await loadAndWait(other, NAME);
      expect(await count(other, NAME)).toBe(20);
      const ids = (await query(other, NAME, 'id >= 0', ['id'])).map((r) => Number(r.id)).sort((x, y) => x - y);
      expect(ids).toEqual(rows.map((r) => r.id));
      expect(await count(client, NAME)).toBe(model.rows.size);
      const [hit] = await search(client, NAME, [rows[0]!.vector], 1);
      expect(Number(hit![0]!.id)).toBeLessThan(1_000_000);
      expectOk(await other.releaseCollection({ collection_name: NAME }), 'release(other db)');
      expectOk(await other.dropCollection({ collection_name: NAME }), 'drop(other db)');
      expectOk(await client.dropDatabase({ db_name: db }), 'dropDatabase');
      expect((await client.listDatabases()).db_names).toEqual(['default']);
      expect(await count(client, NAME)).toBe(model.rows.size);
    } finally {
      await other.closeConnection().catch(() => undefined);
    }
  });

  test('an internal call without the cluster secret, or with a wrong one, is refused by every internal server and method', async () => {
    const internal = cluster.info.components.filter((c) => c.role !== 'proxy');
    expect(internal.length).toBe(5);
    for (const c of internal) {
      const service = SERVICES[c.role as keyof typeof SERVICES];
      for (const secret of ['', 'not-the-secret']) {
        const rpc = connect(service, `127.0.0.1:${c.grpc}`, 10_000, { secret }) as unknown as Record<string, (r: unknown) => Promise<unknown>> & { close(): void };
        try {
          const methods = Object.keys(rpc).filter((m) => /^[A-Z]/.test(m));
          expect(methods.length).toBeGreaterThan(3);
          for (const m of methods) {
            await expect(rpc[m]!({ name: NAME, collection_name: NAME })).rejects.toThrow(/refused: missing or wrong cluster secret/);
          }
        } finally {
          rpc.close();
        }
      }
    }
    // With the cluster's own secret (which this process uses) the same server answers.
    const coord = internal.find((c) => c.role === 'querycoord')!;
    expect(cluster.internalSecret).toMatch(/^[0-9a-f]{64}$/);
    const allowed = connect('QueryCoord', `127.0.0.1:${coord.grpc}`, 10_000);
    try {
      expect((await allowed.AllocTimestamp({ count: 1 })).status?.code ?? 0).toBe(0);
    } finally {
      allowed.close();
    }
    // QueryCoord.DropCollection was among the refused calls: the collection is still there and answers.
    expect((await client.hasCollection({ collection_name: NAME })).value).toBe(true);
    expect(await count(client, NAME)).toBe(model.rows.size);
  });

  test('every process is still alive at the end', async () => {
    const status = await cluster.status();
    expect(status.alive).toEqual(Object.fromEntries(Object.keys(status.alive).map((k) => [k, true])));
  });
});
