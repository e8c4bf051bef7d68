/**
 * The query node's delete sets stay bounded under deletes without losing any: with a prune size of 5, a channel's
 * sealed delete set keeps only the deletes whose keys a held segment has, the delegator's drops deletes below the
 * watermark, and through flushes, a release and reload, and a compaction, every deleted row stays gone and every
 * live row stays (count, query by id and search through the official Node SDK).
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { DataType, type MilvusClient } from '@zilliz/milvus2-sdk-node';
import type { Standalone } from '../support/kite';
import { eventually, expectOk, flushAndWait } from './helpers';
import { standaloneWithClient } from './with-client';

jest.setTimeout(300_000);

let server: Standalone;
let client: MilvusClient;
let dispose: () => Promise<void>;
const DIM = 4;
const NAME = 'delete_prune';

beforeAll(async () => {
  ({ server, client, dispose } = await standaloneWithClient({
    KITE_QUERYNODE_DELETE_PRUNE_MIN_SIZE: '5', KITE_COMPACTION_ENABLED: 'false', KITE_COMPACTION_SOURCE_RELEASE_GRACE_MS: '500', KITE_DATANODE_SEAL_IDLE_MS: '600000',
  }));
}, 150_000);

afterAll(async () => {
  await dispose?.();
});

const vectorOf = (id: number): number[] => [id / 1000, 1, (id % 7) / 7, (id % 13) / 13];
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

async function insert(ids: number[]): Promise<void> {
  expectOk((await client.insert({ collection_name: NAME, data: ids.map((id) => ({ id, vector: vectorOf(id) })) })).status, `insert ${ids[0]}..`);
}

async function remove(ids: number[]): Promise<void> {
  expectOk((await client.delete({ collection_name: NAME, filter: `id in [${ids.join(',')}]` })).status, `delete ${ids[0]}..`);
}

async function sealedDeletes(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
  const m = /kite_querynode_deletes\{set="sealed"\} (\d+)/.exec(text);
  return m ? Number(m[1]) : -1;
}

/** Count, a query over every id ever written and a search for each probe: exactly the live ids. */
async function expectLive(live: Set<number>, written: number[], probes: number[]): Promise<void> {
  const count = await client.query({ collection_name: NAME, filter: '', output_fields: ['count(*)'], consistency_level: 'Strong' } as never);
  expectOk(count.status, 'count');
  expect(Number((count.data[0] as Record<string, unknown>)['count(*)'])).toBe(live.size);
  const got = await client.query({ collection_name: NAME, filter: `id in [${written.join(',')}]`, output_fields: ['id'], limit: 16384, consistency_level: 'Strong' } as never);
  expectOk(got.status, 'query by id');
  expect(got.data.map((r) => Number(r.id)).sort((a, b) => a - b)).toEqual([...live].sort((a, b) => a - b));
  for (const id of probes) {
    const res = await client.search({ collection_name: NAME, data: [vectorOf(id)], limit: 3, output_fields: ['id'], consistency_level: 'Strong' } as never);
    expectOk(res.status, `search near ${id}`);
    const hits = (res.results as { id: string | number }[]).map((h) => Number(h.id));
    expect(hits.includes(id)).toBe(live.has(id));
    for (const h of hits) expect(live.has(h)).toBe(true);
  }
}

test('deleted rows stay deleted and live rows stay through pruning, flushes, a reload and a compaction', async () => {
  expectOk(await client.createCollection({
    collection_name: NAME, consistency_level: 'Strong',
    fields: [{ name: 'id', data_type: DataType.Int64, is_primary_key: true }, { name: 'vector', data_type: DataType.FloatVector, dim: DIM }],
  }), 'create');
  expectOk(await client.createIndex({ collection_name: NAME, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }), 'index');
  const written = [...range(0, 300), ...range(1000, 1300)];
  const live = new Set(written);
  await insert(range(0, 300));
  await flushAndWait(client, NAME);
  await insert(range(1000, 1300));
  await flushAndWait(client, NAME);
  expectOk(await client.loadCollectionSync({ collection_name: NAME }), 'load');

  // Deletes of rows in both segments and of 200 keys no segment has; flushed into a delete log.
  const gone = [...range(0, 40), ...range(1000, 40 + 1000)];
  await remove([...gone, ...range(50_000, 50_200)]);
  for (const id of gone) live.delete(id);
  await flushAndWait(client, NAME);
  const probes = [0, 39, 40, 1000, 1039, 1040, 299, 1299];
  await expectLive(live, written, probes);
  // The sealed set was pruned to the 80 keys the segments hold (280 deletes were written).
  await eventually('the sealed delete set pruned', async () => ((await sealedDeletes()) === 80 ? true : undefined), 30_000);

  // More rows, deletes of some of them while growing and of older ones, then a flush: still exact.
  written.push(...range(2000, 2100));
  for (const id of range(2000, 2100)) live.add(id);
  await insert(range(2000, 2100));
  await remove([...range(2000, 2010), ...range(100, 110), ...range(60_000, 60_100)]);
  for (const id of [...range(2000, 2010), ...range(100, 110)]) live.delete(id);
  await expectLive(live, written, [...probes, 2000, 2010, 100, 110]);
  await flushAndWait(client, NAME);
  await expectLive(live, written, [...probes, 2000, 2010, 100, 110]);

  // Released and loaded again: the segments come back and read their channel's delete logs again.
  expectOk(await client.releaseCollection({ collection_name: NAME }), 'release');
  expectOk(await client.loadCollectionSync({ collection_name: NAME }), 'reload');
  await expectLive(live, written, [...probes, 2000, 2010, 100, 110]);

  // A compaction writes a new segment (a key set the pruned set was not made for): still exact.
  const compaction = await client.compact({ collection_name: NAME });
  expectOk(compaction.status, 'compact');
  await eventually('compaction completed', async () => {
    const s = await client.getCompactionState({ compactionID: compaction.compactionID });
    return String(s.state) === 'Completed' || Number(s.state) === 2 ? true : undefined;
  }, 120_000);
  await expectLive(live, written, [...probes, 2000, 2010, 100, 110]);
});
