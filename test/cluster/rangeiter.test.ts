/**
 * Range search, grouping search and the search iterator in cluster mode (`bin/kite cluster up` with 2 query nodes):
 * sealed segments spread over both nodes and growing rows on the shard delegators, so every answer is merged from
 * several segments, channels and nodes. Compared with brute force over the rows that should be visible.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { bruteForce, eventually, expectOk, queriesNear } from '../standalone/helpers';
import { getDistribution } from './inspect';
import { KiteCluster } from './launcher';
import { Model, STRONG, createCollection, flushAndWait, insertRows, loadAndWait, makeRows, type Hit, type Row } from './scenario';

jest.setTimeout(180_000);

const NAME = 'cluster_rangeiter';
const collectionOf = { id: '' };
let cluster: KiteCluster;
let client: MilvusClient;
const model = new Model();
const sealedRows = makeRows(1600, 0, 11);
const growingRows = makeRows(400, 1600, 12);
const deleted = Array.from({ length: 2000 }, (_, i) => i).filter((i) => i % 9 === 2);
const queries = queriesNear(sealedRows.map((r) => r.vector), 3, 5, 0.1);

beforeAll(async () => {
  cluster = await KiteCluster.start({ querynodes: 2, datanodes: 1, proxies: 1, env: { KITE_DATANODE_SEGMENT_MAX_ROWS: '300' } });
  client = new MilvusClient({ address: cluster.address, timeout: 60_000, logLevel: 'info' });
  await client.connectPromise;
  collectionOf.id = await createCollection(client, NAME, 2);
  await insertRows(client, NAME, model, sealedRows, 400);
  await flushAndWait(client, NAME);
  expectOk(await client.createIndex({ collection_name: NAME, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }), 'createIndex');
  await loadAndWait(client, NAME);
  await insertRows(client, NAME, model, growingRows, 200);
  expectOk((await client.delete({ collection_name: NAME, ids: deleted })).status, 'delete');
  model.remove(deleted);
  // Both query nodes serve sealed segments of the collection.
  await eventually('sealed segments on both query nodes', async () => {
    for (const qn of cluster.components('querynode')) {
      const d = await getDistribution(`127.0.0.1:${qn.grpc}`);
      if (!d.segments.some((s) => String(s.collection_id) === collectionOf.id)) return undefined;
    }
    return true;
  });
}, 300_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  await cluster?.dispose();
}, 180_000);

async function search(req: Record<string, unknown>): Promise<Hit[]> {
  const res = await client.search({ collection_name: NAME, consistency_level: STRONG, ...req } as never);
  expectOk(res.status, 'search');
  return res.results as unknown as Hit[];
}

test('range search returns the rows inside [range_filter, radius), best first, as brute force', async () => {
  for (const q of queries) {
    const ranked = bruteForce('L2', model.values(), q, 2000);
    const rangeFilter = (ranked[29]!.score + ranked[30]!.score) / 2;
    const radius = (ranked[329]!.score + ranked[330]!.score) / 2;
    for (const limit of [20, 300, 1000]) {
      const hits = await search({ data: [q], limit, params: { radius, range_filter: rangeFilter } });
      const want = ranked.slice(30, 330).slice(0, limit);
      // Rows whose float32 distances tie or differ by a rounding may come in either order: compare the sets, the
      // order of the server's scores, and each score with the exact one at its rank.
      expect(new Set(hits.map((h) => String(h.id)))).toEqual(new Set(want.map((h) => h.id)));
      const scores = hits.map((h) => h.score);
      expect(scores).toEqual([...scores].sort((a, b) => a - b));
      scores.forEach((s, i) => expect(Math.abs(s - want[i]!.score)).toBeLessThan(1e-3 * Math.max(1, s)));
    }
  }
});

test('grouping search fills groups whose rows lie in different segments, shards and nodes', async () => {
  // n = id % 1000: each group holds the rows id and id + 1000, inserted far apart (different segments).
  const q = queries[0]!;
  const hits = await search({ data: [q], limit: 6, group_by_field: 'n', group_size: 2, strict_group_size: true, output_fields: ['n'] });
  const want = new Map<number, string[]>();
  for (const h of bruteForce('L2', model.values(), q, 2000)) {
    const n = Number(h.id) % 1000;
    if (!want.has(n) && want.size >= 6) continue;
    const list = want.get(n) ?? [];
    if (list.length < 2) list.push(h.id);
    want.set(n, list);
  }
  const got = new Map<number, string[]>();
  for (const h of hits) got.set(Number(h.n), [...(got.get(Number(h.n)) ?? []), String(h.id)]);
  expect([...got.entries()]).toEqual([...want.entries()]);
});

test('searchIterator returns every visible row once, in distance order', async () => {
  const q = queries[1]!;
  const it = await client.searchIterator({ collection_name: NAME, data: q, batchSize: 128, consistency_level: STRONG } as never);
  const got: Hit[] = [];
  for await (const page of it as AsyncIterable<Hit[]>) got.push(...page);
  const ids = got.map((h) => String(h.id));
  expect(ids.length - new Set(ids).size).toBe(0);
  expect(new Set(ids)).toEqual(new Set(model.values().map((r: Row) => String(r.id))));
  const scores = got.map((h) => h.score);
  expect(scores).toEqual([...scores].sort((a, b) => a - b));
});
