/**
 * Operations RPCs through the official Node SDK against Kite standalone: GetMetrics(system_info) answers Milvus's
 * system topology JSON (every process with its hardware, version, creation time, role and connections); FlushAll
 * flushes every collection of every database (or of one), and GetFlushAllState turns true once all is persisted;
 * GetPersistentSegmentInfo lists the stored segments with their rows; GetQuerySegmentInfo lists what the query node
 * holds; LoadBalance refuses what it cannot do naming the field. Bad input is refused naming the field.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { DataType, MilvusClient, promisify } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { eventually, expectFailure, expectOk, rng } from './helpers';

jest.setTimeout(240_000);

let server: Standalone;
let client: MilvusClient;
const DIM = 8;

beforeAll(async () => {
  server = await startStandalone({
    env: {
      KITE_COMPACTION_ENABLED: 'false',
      // Segments are sealed by flushes only, so the counts below do not depend on timing.
      KITE_DATANODE_SEAL_IDLE_MS: '600000',
    },
  });
  client = new MilvusClient({ address: server.address, timeout: 60_000 });
  await client.connectPromise;
}, 150_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  if (server && !server.running) console.error(`kite standalone is not running at the end of the suite; log tail:\n${server.logTail(6000)}`);
  await server?.dispose();
});

function rows(from: number, n: number, seed: number): { id: number; vector: number[] }[] {
  const next = rng(seed);
  return Array.from({ length: n }, (_, i) => ({ id: from + i, vector: Array.from({ length: DIM }, () => next() * 2 - 1) }));
}

async function create(name: string, db?: string): Promise<void> {
  const at = db ? { db_name: db } : {};
  expectOk(await client.createCollection({
    ...at, collection_name: name, consistency_level: 'Strong',
    fields: [
      { name: 'id', data_type: DataType.Int64, is_primary_key: true },
      { name: 'vector', data_type: DataType.FloatVector, dim: DIM },
    ],
  }), `create ${name}`);
  expectOk(await client.createIndex({ ...at, collection_name: name, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2', index_name: 'vec_idx' }), 'index');
}

interface TopologyNode {
  identifier: number;
  connected: { connected_identifier: number; type: string; target_type: string }[];
  infos: {
    has_error: boolean;
    name: string;
    type: string;
    id: number;
    created_time: string;
    updated_time: string;
    hardware_infos: { ip: string; cpu_core_count: number; cpu_core_usage: number; memory: number; memory_usage: number; disk: number; disk_usage: number };
    system_info: { system_version: string; deploy_mode: string; build_version: string };
  };
}

async function topology(): Promise<TopologyNode[]> {
  const res = await client.getMetric({ request: { metric_type: 'system_info' } });
  expectOk(res.status, 'getMetric');
  return (res.response as { nodes_info: TopologyNode[] }).nodes_info;
}

describe('GetMetrics', () => {
  test('system_info answers the system topology Milvus tools read', async () => {
    const nodes = await topology();
    const byType = (t: string): TopologyNode[] => nodes.filter((n) => n.infos.type === t);
    for (const t of ['proxy', 'querycoord', 'querynode', 'datanode']) expect(byType(t).length).toBeGreaterThanOrEqual(1);
    expect(new Set(nodes.map((n) => n.identifier)).size).toBe(nodes.length);
    for (const n of nodes) {
      expect(n.infos.id).toBe(n.identifier);
      expect(n.infos.name).toBe(`${n.infos.type}${n.identifier}`);
      expect(n.infos.has_error).toBe(false);
      expect(Number.isNaN(Date.parse(n.infos.created_time.replace(' +0000 UTC', 'Z').replace(' ', 'T')))).toBe(false);
      // Standalone: every process is on this machine, so its figures are measured.
      expect(n.infos.hardware_infos.cpu_core_count).toBeGreaterThan(0);
      expect(n.infos.hardware_infos.memory).toBeGreaterThan(0);
      expect(n.infos.hardware_infos.memory_usage).toBeGreaterThan(0);
      expect(n.infos.hardware_infos.memory_usage).toBeLessThanOrEqual(n.infos.hardware_infos.memory);
      expect(n.infos.system_info.system_version).toMatch(/kite/);
      expect(n.infos.system_info.deploy_mode).toBe('STANDALONE');
    }
    const coord = byType('querycoord')[0]!;
    const proxy = byType('proxy')[0]!;
    expect(proxy.connected).toContainEqual({ connected_identifier: coord.identifier, type: 'forward', target_type: 'querycoord' });
    for (const qn of byType('querynode')) expect(coord.connected).toContainEqual({ connected_identifier: qn.identifier, type: 'manage', target_type: 'querynode' });
  });

  test('other metric types and malformed requests are refused naming what to send', async () => {
    // The SDK parses `response` as JSON; an error answer has none, so it throws on the empty text.
    await expect(client.getMetric({ request: { metric_type: 'system_statistics' } })).rejects.toThrow();
    const raw = client as unknown as { channelPool: never };
    const refused = (await promisify(raw.channelPool, 'GetMetrics', { request: JSON.stringify({ metric_type: 'system_statistics' }) }, 30_000)) as { status: { code: number; reason: string } };
    expect(refused.status.code).not.toBe(0);
    expect(refused.status.reason).toMatch(/metric_type system_statistics is not supported.*system_info/);
    const notJson = (await promisify(raw.channelPool, 'GetMetrics', { request: 'system_info' }, 30_000)) as { status: { code: number; reason: string } };
    expect(notJson.status.reason).toMatch(/request is not JSON/);
    const noType = (await promisify(raw.channelPool, 'GetMetrics', { request: '{}' }, 30_000)) as { status: { code: number; reason: string } };
    expect(noType.status.reason).toMatch(/no metric_type/);
  });
});

describe('FlushAll, GetFlushAllState and segment information', () => {
  const A = 'ops_a';
  const B = 'ops_b';
  const DB = 'ops_db';

  beforeAll(async () => {
    expectOk(await client.createDatabase({ db_name: DB }), 'create database');
    await create(A);
    await create(B, DB);
    expectOk((await client.insert({ collection_name: A, data: rows(0, 300, 1) })).status, 'insert A');
    expectOk((await client.insert({ db_name: DB, collection_name: B, data: rows(0, 200, 2) })).status, 'insert B');
  });

  test('FlushAll flushes every collection of every database; its state turns true; the segments are listed', async () => {
    const res = await client.flushAll();
    expectOk(res.status, 'flushAll');
    const ts = String(res.flush_all_ts);
    expect(BigInt(ts)).toBeGreaterThan(0n);
    await eventually('flush all done', async () => {
      const st = await client.getFlushAllState({ flush_all_ts: ts as unknown as number });
      expectOk(st.status, 'getFlushAllState');
      return st.flushed ? true : undefined;
    }, 120_000);

    const a = await client.getPersistentSegmentInfo({ collectionName: A });
    expectOk(a.status, 'getPersistentSegmentInfo A');
    expect(a.infos.length).toBeGreaterThanOrEqual(1);
    expect(a.infos.reduce((s, x) => s + Number(x.num_rows), 0)).toBe(300);
    const described = await client.describeCollection({ collection_name: A });
    for (const s of a.infos) {
      expect(String(s.collectionID)).toBe(String(described.collectionID));
      expect(s.state).toBe('Flushed');
      expect(Number(s.segmentID)).toBeGreaterThan(0);
      expect(Number(s.partitionID)).toBeGreaterThan(0);
    }
    const b = await client.getPersistentSegmentInfo({ collectionName: B, dbName: DB });
    expectOk(b.status, 'getPersistentSegmentInfo B');
    expect(b.infos.reduce((s, x) => s + Number(x.num_rows), 0)).toBe(200);
  });

  test('FlushAll of one database; GetFlushAllState of that database', async () => {
    expectOk((await client.insert({ db_name: DB, collection_name: B, data: rows(1000, 50, 3) })).status, 'insert B');
    const res = await client.flushAll({ db_name: DB });
    expectOk(res.status, 'flushAll db');
    await eventually('db flushed', async () => {
      const st = await client.getFlushAllState({ flush_all_ts: String(res.flush_all_ts) as unknown as number, db_name: DB });
      expectOk(st.status, 'getFlushAllState db');
      return st.flushed ? true : undefined;
    }, 120_000);
    const b = await client.getPersistentSegmentInfo({ collectionName: B, dbName: DB });
    expect(b.infos.reduce((s, x) => s + Number(x.num_rows), 0)).toBe(250);
  });

  test('GetQuerySegmentInfo lists the segments the query node holds, with their node and index', async () => {
    expectOk(await client.loadCollectionSync({ collection_name: A }), 'load A');
    const qns = (await topology()).filter((n) => n.infos.type === 'querynode').map((n) => String(n.identifier));
    const stored = (await client.getPersistentSegmentInfo({ collectionName: A })).infos.map((s) => String(s.segmentID)).sort();
    const res = await eventually('segments loaded', async () => {
      const r = await client.getQuerySegmentInfo({ collectionName: A });
      expectOk(r.status, 'getQuerySegmentInfo');
      return r.infos.length === stored.length ? r : undefined;
    });
    expect(res.infos.map((s) => String(s.segmentID)).sort()).toEqual(stored);
    expect(res.infos.reduce((s, x) => s + Number(x.num_rows), 0)).toBe(300);
    for (const s of res.infos) {
      expect(s.state).toBe('Sealed');
      expect(s.index_name).toBe('vec_idx');
      expect(Number(s.indexID)).toBeGreaterThan(0);
      expect(Number(s.mem_size)).toBeGreaterThan(0);
      expect(s.nodeIds.map(String).every((id) => qns.includes(id))).toBe(true);
      expect(qns).toContain(String(s.nodeID));
    }
  });

  test('bad input is refused naming the field', async () => {
    const cases: [string, () => Promise<unknown>, RegExp][] = [
      ['persistent info of an unknown collection', () => client.getPersistentSegmentInfo({ collectionName: 'nope' }), /collection not found.*nope/],
      ['persistent info without a name', () => promisify((client as unknown as { channelPool: never }).channelPool, 'GetPersistentSegmentInfo', { collectionName: '' }, 30_000), /collectionName is empty/],
      ['persistent info in an unknown database', () => client.getPersistentSegmentInfo({ collectionName: A, dbName: 'nodb' }), /database not found.*nodb/],
      ['query info of an unloaded collection', () => client.getQuerySegmentInfo({ collectionName: B, dbName: DB }), /not loaded/],
      ['query info of an unknown collection', () => client.getQuerySegmentInfo({ collectionName: 'nope' }), /collection not found/],
      ['flush all of an unknown database', () => client.flushAll({ db_name: 'nodb' }), /database not found.*nodb/],
      ['flush all state at no timestamp', () => client.getFlushAllState({ flush_all_ts: 0, flush_all_tss: { x: 0 } }), /flush_all_ts/],
      ['load balance from a node that is not a query node', () => client.loadBalance({ src_nodeID: 987654, collectionName: A }), /src_nodeID 987654/],
      ['load balance without a collection', () => promisify((client as unknown as { channelPool: never }).channelPool, 'LoadBalance', { src_nodeID: 1 }, 30_000), /collectionName is empty/],
      ['load balance of an unknown collection', () => client.loadBalance({ src_nodeID: 1, collectionName: 'nope' }), /collection not found/],
      ['load balance to a negative node', () => client.loadBalance({ src_nodeID: 1, dst_nodeIDs: [-3], collectionName: A }), /dst_nodeIDs/],
    ];
    for (const [what, call, pattern] of cases) expect((await expectFailure(what, call)).message).toMatch(pattern);

    // One query node: its segments have nowhere to go, and a destination outside the replica is refused.
    const qn = (await topology()).find((n) => n.infos.type === 'querynode')!.identifier;
    expect((await expectFailure('balance with no other node', () => client.loadBalance({ src_nodeID: qn, collectionName: A }))).message).toMatch(/no other active query node/);
    expect((await expectFailure('balance to an unknown node', () => client.loadBalance({ src_nodeID: qn, dst_nodeIDs: [987654], collectionName: A }))).message).toMatch(/dst_nodeIDs: node 987654 is not in replica/);
    expect((await expectFailure('balance of a segment not there', () => client.loadBalance({ src_nodeID: qn, sealed_segmentIDs: [123], collectionName: A }))).message).toMatch(/no other active query node|sealed_segmentIDs/);
    // Unloaded collection.
    expect((await expectFailure('balance of an unloaded collection', () => client.loadBalance({ src_nodeID: qn, collectionName: B, db_name: DB }))).message).toMatch(/not loaded/);
  });
});
