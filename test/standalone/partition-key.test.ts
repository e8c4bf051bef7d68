/**
 * Partition key through the official Node SDK: the internal partitions and their routing surviving a kill -9 and restart, pruning with results identical to a full read,
 * and Milvus's refusals of manual partitions (the schema rules of the key are checked by the SDK before a request is
 * sent; the server's checks are unit tests). The hash itself is checked against Milvus 2.3.5's choices in
 * services/proxy/src/partition-key.test.ts and test/python/test_partition_key.py.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { expectFailure, expectOk } from './helpers';

jest.setTimeout(180_000);

const NAME = 'pk_routed';
let server: Standalone;
let client: MilvusClient;

beforeAll(async () => {
  server = await startStandalone();
  client = new MilvusClient({ address: server.address, timeout: 60_000 });
  await client.connectPromise;
}, 150_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  if (server && !server.running) console.error(`kite standalone is not running at the end of the suite; log tail:\n${server.logTail(6000)}`);
  await server?.dispose();
});

const pk = { name: 'id', data_type: DataType.Int64, is_primary_key: true };
const vec = { name: 'v', data_type: DataType.FloatVector, dim: 2 };

async function ids(filter: string): Promise<number[]> {
  const res = await client.query({ collection_name: NAME, filter, output_fields: ['id'], consistency_level: 'Strong' as never });
  expectOk(res.status, `query(${filter})`);
  return res.data.map((r) => Number(r.id)).sort((a, b) => a - b);
}

async function partitionRows(): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < 8; i++) {
    const s = await client.getPartitionStatistics({ collection_name: NAME, partition_name: `_default_${i}` });
    expectOk(s.status, `stats _default_${i}`);
    out.push(Number(s.data.row_count));
  }
  return out;
}

test('rows are routed into _default_0.._default_7, pruned reads match full reads, after kill -9 too', async () => {
  expectOk(
    await client.createCollection({
      collection_name: NAME, num_partitions: 8, consistency_level: 'Strong',
      fields: [pk, { name: 'k', data_type: DataType.VarChar, max_length: 32, is_partition_key: true }, { name: 'c', data_type: DataType.Int64, is_clustering_key: true }, vec] as never,
    }),
    'create',
  );
  const desc = await client.describeCollection({ collection_name: NAME });
  expect(desc.num_partitions).toBe('8');
  expect(desc.schema.fields.find((f) => f.name === 'k')?.is_partition_key).toBe(true);
  expect(desc.schema.fields.find((f) => f.name === 'c')?.is_clustering_key).toBe(true);
  const parts = await client.showPartitions({ collection_name: NAME });
  expect(parts.partition_names).toEqual(Array.from({ length: 8 }, (_, i) => `_default_${i}`));
  const rows = Array.from({ length: 600 }, (_, i) => ({ id: i, k: `tenant_${i % 30}`, c: i % 11, v: [i % 17, i % 5] }));
  expectOk((await client.insert({ collection_name: NAME, data: rows })).status, 'insert');
  expectOk(await client.createIndex({ collection_name: NAME, field_name: 'v', index_type: 'FLAT', metric_type: 'L2' }), 'index');
  expectOk(await client.loadCollectionSync({ collection_name: NAME }), 'load');
  const spread = await partitionRows();
  expect(spread.reduce((a, b) => a + b, 0)).toBe(600);
  expect(spread.filter((n) => n > 0).length).toBeGreaterThan(4);

  const refusals: [string, () => Promise<unknown>, RegExp][] = [
    ['createPartition', () => client.createPartition({ collection_name: NAME, partition_name: 'p' }), /disable create partition if partition key mode is used/],
    ['dropPartition', () => client.dropPartition({ collection_name: NAME, partition_name: '_default_1' }), /disable drop partition if partition key mode is used/],
    ['loadPartitions', () => client.loadPartitions({ collection_name: NAME, partition_names: ['_default_1'] }), /disable load partitions if partition key mode is used/],
    ['query with partitions', () => client.query({ collection_name: NAME, filter: 'id >= 0', partition_names: ['_default_1'] }), /not support manually specifying the partition names if partition key mode is used/],
  ];
  for (const [what, call, message] of refusals) expect((await expectFailure(what, call)).message).toMatch(message);

  const check = async (): Promise<void> => {
    for (const [filter, want] of [
      ['k == "tenant_7"', rows.filter((r) => r.k === 'tenant_7')],
      ['k in ["tenant_1", "tenant_2"] and c > 3', rows.filter((r) => (r.k === 'tenant_1' || r.k === 'tenant_2') && r.c > 3)],
    ] as const) {
      expect(await ids(filter)).toEqual(want.map((r) => r.id));
      expect(await ids(`(${filter}) or k == "none" or id < 0`)).toEqual(want.map((r) => r.id));
      const s = await client.search({ collection_name: NAME, data: [[3, 1]], limit: 20, filter, consistency_level: 'Strong' as never });
      const all = await client.search({ collection_name: NAME, data: [[3, 1]], limit: 20, filter: `(${filter}) or id < 0`, consistency_level: 'Strong' as never });
      expect(s.results.map((h) => [h.id, h.score])).toEqual(all.results.map((h) => [h.id, h.score]));
    }
  };
  await check();
  await server.kill9();
  await server.restart();
  await client.closeConnection();
  client = new MilvusClient({ address: server.address, timeout: 60_000 });
  await client.connectPromise;
  expect(await partitionRows()).toEqual(spread);
  await check();
  // New rows after the restart land with their key's old rows.
  expectOk((await client.insert({ collection_name: NAME, data: [{ id: 9999, k: 'tenant_7', c: 0, v: [0, 0] }] })).status, 'insert after restart');
  expect(await ids('k == "tenant_7"')).toEqual([...rows.filter((r) => r.k === 'tenant_7').map((r) => r.id), 9999]);
});
