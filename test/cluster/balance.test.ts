/**
 * LoadBalance in cluster mode, with two query nodes: the sealed segments of a collection move from one query node
 * to the other (named, then chosen by the coordinator), GetQuerySegmentInfo shows them on their new node, and
 * counts, queries of every id and searches running all through the moves never fail and never miss or duplicate a
 * row. Bad node and segment ids are refused naming the field. GetMetrics lists every process of the cluster.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { eventually, expectFailure, expectOk, queriesNear, waitIndexBuilt } from '../standalone/helpers';
import { KiteCluster } from './launcher';
import { Model, count, createCollection, createHnswIndex, flushAndWait, insertRows, loadAndWait, makeRows, query, search } from './scenario';

jest.setTimeout(300_000);

const NAME = 'cluster_balance';
const ROWS = 2000;

let cluster: KiteCluster;
let client: MilvusClient;
const model = new Model();
const rows = makeRows(ROWS, 0, 31);
const queries = queriesNear(rows.map((r) => r.vector), 4, 33);

beforeAll(async () => {
  cluster = await KiteCluster.start({ querynodes: 2, datanodes: 1, proxies: 1, env: { KITE_DATANODE_SEGMENT_MAX_ROWS: '250' } });
  client = new MilvusClient({ address: cluster.proxyAddresses[0]!, timeout: 120_000 });
  await client.connectPromise;
}, 300_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  await cluster?.dispose();
}, 180_000);

/** Segment id -> the query nodes holding it. */
async function placement(): Promise<Map<string, string[]>> {
  const res = await client.getQuerySegmentInfo({ collectionName: NAME });
  expectOk(res.status, 'getQuerySegmentInfo');
  return new Map(res.infos.map((s) => [String(s.segmentID), s.nodeIds.map(String)]));
}

/** Three concurrent readers until stopped: each read must succeed and see every row exactly once. */
function readLoop(): { stop: () => Promise<{ reads: number; failures: string[] }> } {
  let running = true;
  let reads = 0;
  const failures: string[] = [];
  const one = async (): Promise<void> => {
    // Stops by itself after a while, so a failed test cannot leave it running.
    const until = Date.now() + 240_000;
    while (running && Date.now() < until) {
      try {
        const n = await count(client, NAME);
        if (n !== ROWS) failures.push(`count(*) = ${n}, expected ${ROWS}`);
        const ids = (await query(client, NAME, 'id >= 0', ['id'])).map((r) => Number(r.id));
        if (ids.length !== ROWS || new Set(ids).size !== ROWS) failures.push(`query of every id: ${ids.length} rows, ${new Set(ids).size} distinct, expected ${ROWS}`);
        const hits = await search(client, NAME, queries, 10);
        if (hits.some((h) => h.length !== 10)) failures.push(`search returned ${hits.map((h) => h.length).join(',')} hits, expected 10 each`);
        reads++;
      } catch (e) {
        failures.push(`read failed: ${(e as Error).message}`);
      }
    }
  };
  const loop = Promise.all([one(), one(), one()]);
  return {
    stop: async () => {
      running = false;
      await loop;
      return { reads, failures };
    },
  };
}

test('a loaded collection spread over two query nodes', async () => {
  await createCollection(client, NAME, 1);
  await insertRows(client, NAME, model, rows, 500);
  await flushAndWait(client, NAME);
  await createHnswIndex(client, NAME);
  await waitIndexBuilt(client, NAME, 'vector', 120_000);
  await loadAndWait(client, NAME);
  const qns = cluster.components('querynode').map((c) => String(c.serverID));
  expect(qns).toHaveLength(2);
  // Every stored segment is served, once.
  const stored = (await client.getPersistentSegmentInfo({ collectionName: NAME })).infos.filter((s) => Number(s.num_rows) > 0);
  expect(stored.length).toBeGreaterThanOrEqual(4);
  // Automatic balance has spread them (within one segment of even), and no move is under way.
  await eventually('every segment on exactly one query node, balanced', async () => {
    const p = await placement();
    const per = qns.map((q) => [...p.values()].filter((ns) => ns[0] === q).length);
    const settled = p.size === stored.length && [...p.values()].every((ns) => ns.length === 1 && qns.includes(ns[0]!));
    return settled && Math.abs(per[0]! - per[1]!) <= 1 ? p : undefined;
  }, 120_000);
});

test('LoadBalance moves the segments to the named node while reads keep succeeding with every row', async () => {
  const qns = cluster.components('querynode').map((c) => String(c.serverID));
  const before = await placement();
  // The source: the node holding the most segments.
  const on = (id: string): string[] => [...before].filter(([, ns]) => ns.includes(id)).map(([s]) => s);
  const [src, dst] = on(qns[0]!).length >= on(qns[1]!).length ? [qns[0]!, qns[1]!] : [qns[1]!, qns[0]!];
  const moving = on(src);
  expect(moving.length).toBeGreaterThan(0);

  const reader = readLoop();
  const started = Date.now();
  let tookMs = 0;
  let after = new Map<string, string[]>();
  let verdict = { reads: 0, failures: ['not run'] };
  try {
    expectOk(await client.loadBalance({ src_nodeID: Number(src), dst_nodeIDs: [Number(dst)], collectionName: NAME }), 'loadBalance');
    tookMs = Date.now() - started;
    // Answered once done: every moved segment is on dst alone, and stays there (pinned against automatic balance).
    after = await placement();
    // A few more reads after the switch, then the verdict.
    await eventually('reads after the move', async () => ((await count(client, NAME)) === ROWS ? true : undefined));
  } finally {
    verdict = await reader.stop();
  }
  const { reads, failures } = verdict;
  for (const s of moving) expect(after.get(s)).toEqual([dst]);
  // (Segments that were on dst already are not pinned: automatic balance may move some of them to the emptied src.)
  expect(failures).toEqual([]);
  expect(reads).toBeGreaterThan(0);
  console.log(`moved ${moving.length} segments in ${tookMs} ms; ${reads} read rounds meanwhile`);
});

test('LoadBalance without destinations lets the coordinator choose; bad input is refused naming the field', async () => {
  const qns = cluster.components('querynode').map((c) => String(c.serverID));
  const p = await placement();
  const holder = [...p.values()][0]![0]!;
  const other = qns.find((q) => q !== holder)!;
  const one = [...p.keys()][0]!;

  const cases: [string, () => Promise<unknown>, RegExp][] = [
    ['destination is the source', () => client.loadBalance({ src_nodeID: Number(holder), dst_nodeIDs: [Number(holder)], collectionName: NAME }), /dst_nodeIDs: node \d+ is the source node/],
    ['destination not a node', () => client.loadBalance({ src_nodeID: Number(holder), dst_nodeIDs: [987654], collectionName: NAME }), /dst_nodeIDs: node 987654 is not in replica/],
    ['source not a query node', () => client.loadBalance({ src_nodeID: 987654, collectionName: NAME }), /src_nodeID 987654 is not a query node/],
    ['segment not on the source', () => client.loadBalance({ src_nodeID: Number(other), sealed_segmentIDs: [Number(one)], collectionName: NAME }), /sealed_segmentIDs: segment \d+ is not a sealed segment/],
  ];
  for (const [what, call, pattern] of cases) expect((await expectFailure(what, call)).message).toMatch(pattern);

  // One named segment back, destination chosen by the coordinator (the only other node).
  const reader = readLoop();
  let after = new Map<string, string[]>();
  let verdict = { reads: 0, failures: ['not run'] };
  try {
    expectOk(await client.loadBalance({ src_nodeID: Number(holder), sealed_segmentIDs: [Number(one)], collectionName: NAME }), 'loadBalance one segment');
    after = await placement();
  } finally {
    verdict = await reader.stop();
  }
  expect(after.get(one)).toEqual([other]);
  expect(verdict.failures).toEqual([]);
});

test('GetMetrics lists every process of the cluster with its connections', async () => {
  const res = await client.getMetric({ request: { metric_type: 'system_info' } });
  expectOk(res.status, 'getMetric');
  const nodes = (res.response as { nodes_info: { identifier: number; connected: { connected_identifier: number }[]; infos: { type: string; system_info: { deploy_mode: string } } }[] }).nodes_info;
  const ids = (t: string): number[] => nodes.filter((n) => n.infos.type === t).map((n) => n.identifier).sort();
  expect(ids('querynode')).toEqual(cluster.components('querynode').map((c) => c.serverID).sort());
  expect(ids('datanode')).toHaveLength(1);
  expect(ids('proxy')).toHaveLength(1);
  expect(ids('querycoord').length).toBeGreaterThanOrEqual(1);
  for (const n of nodes) expect(n.infos.system_info.deploy_mode).toBe('DISTRIBUTED');
});
