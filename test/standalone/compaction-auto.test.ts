/**
 * Automatic compaction through the official Node SDK against Kite standalone: with no call, a run of small flushed
 * segments is merged into one, and a segment most of whose rows were deleted is rewritten without them; reads
 * equal the live rows before and after.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { eventually, expectOk } from './helpers';

jest.setTimeout(300_000);

let server: Standalone;
let client: MilvusClient;

beforeAll(async () => {
  server = await startStandalone({
    env: {
      KITE_COMPACTION_ENABLED: 'true',
      KITE_COMPACTION_CHECK_INTERVAL_MS: '500',
      KITE_COMPACTION_SMALL_SEGMENT_ROWS: '1000',
      KITE_COMPACTION_MIN_SMALL_SEGMENTS: '3',
      KITE_COMPACTION_SOURCE_RELEASE_GRACE_MS: '500',
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

const rows = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ id: from + i, vector: [from + i, 1, 0, 0] }));

async function metrics(): Promise<string> {
  return (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
}

async function served(name: string): Promise<{ served: number; pending: number }> {
  const m = await metrics();
  const v = (state: string): number => Number(new RegExp(`kite_querycoord_segments\\{collection="${name}",state="${state}"\\} (\\d+)`).exec(m)?.[1] ?? -1);
  return { served: v('served'), pending: v('pending') };
}

async function ids(name: string): Promise<number[]> {
  const res = await client.query({ collection_name: name, filter: 'id >= 0', output_fields: ['id'], limit: 16_384, consistency_level: 'Strong' as never });
  expectOk(res.status, 'query');
  return res.data.map((r) => Number(r.id)).sort((a, b) => a - b);
}

async function create(name: string): Promise<void> {
  expectOk(await client.createCollection({
    collection_name: name, consistency_level: 'Strong',
    fields: [{ name: 'id', data_type: DataType.Int64, is_primary_key: true }, { name: 'vector', data_type: DataType.FloatVector, dim: 4 }],
  }), 'create');
  expectOk(await client.createIndex({ collection_name: name, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }), 'index');
  expectOk(await client.loadCollectionSync({ collection_name: name }), 'load');
}

test('small segments are merged, and deleted rows purged, without a call', async () => {
  const name = 'cmp_auto';
  await create(name);
  for (let b = 0; b < 3; b++) {
    expectOk((await client.insert({ collection_name: name, data: rows(b * 100, 100) })).status, 'insert');
    expectOk((await client.flushSync({ collection_names: [name] })).status, 'flush');
  }
  const all = Array.from({ length: 300 }, (_, i) => i);
  await eventually('three small segments merged into one', async () => {
    const s = await served(name);
    return s.served === 1 && s.pending === 0 ? true : undefined;
  }, 120_000);
  expect(await ids(name)).toEqual(all);

  // One big segment (over smallSegmentRows), then deletes of 40% of its rows: it is rewritten without them.
  expectOk((await client.insert({ collection_name: name, data: rows(1000, 2000) })).status, 'insert big');
  expectOk((await client.flushSync({ collection_names: [name] })).status, 'flush big');
  const gone = Array.from({ length: 800 }, (_, i) => 1000 + i);
  expectOk((await client.delete({ collection_name: name, filter: `id in [${gone.join(',')}]` })).status, 'delete');
  expectOk((await client.flushSync({ collection_names: [name] })).status, 'flush deletes');
  const live = [...all, ...Array.from({ length: 1200 }, (_, i) => 1800 + i)];
  expect(await ids(name)).toEqual(live);
  await eventually('deleted rows purged from storage', async () => {
    const stats = await client.getCollectionStatistics({ collection_name: name });
    return Number(stats.data.row_count) === live.length ? true : undefined;
  }, 120_000);
  expect(await ids(name)).toEqual(live);
  expect(Number(/kite_datanode_compaction_rows_purged_total\{reason="deleted"\} (\d+)/.exec(await metrics())?.[1])).toBe(800);
});
