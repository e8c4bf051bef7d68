/**
 * Write timestamps through the official Node SDK against `bin/kite standalone`: the proxy takes them from ranges of
 * the coordinator's timestamp oracle (proxy.timestampBatchSize, proxy.timestampMaxAgeMs) instead of asking it once
 * per write, and they still order writes: each insert's timestamp is above the last, a delete right after an insert
 * removes it, an insert right after a delete of the same key is visible.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import http from 'node:http';
import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { expectOk } from './helpers';

jest.setTimeout(180_000);

const NAME = 'write_timestamps';
let server: Standalone;
let client: MilvusClient;

function metricsText(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/metrics', timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** AllocTimestamp calls the coordinator has answered so far (its request counter, every status). */
async function oracleCalls(): Promise<number> {
  let n = 0;
  for (const line of (await metricsText(server.metricsPort)).split('\n')) {
    if (line.startsWith('kite_querycoord_requests_total{') && line.includes('method="AllocTimestamp"')) n += Number(line.split(' ').pop());
  }
  return n;
}

beforeAll(async () => {
  server = await startStandalone();
  client = new MilvusClient({ address: server.address, timeout: 60_000 });
  await client.connectPromise;
  expectOk(
    await client.createCollection({
      collection_name: NAME,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'vector', data_type: DataType.FloatVector, dim: 4 },
      ],
      consistency_level: 'Strong',
    }),
    'createCollection',
  );
  expectOk(await client.createIndex({ collection_name: NAME, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }), 'createIndex');
  await client.loadCollectionSync({ collection_name: NAME });
}, 240_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  await server?.dispose();
});

test('single-row inserts share the oracle calls, with strictly increasing timestamps', async () => {
  const before = await oracleCalls();
  const started = Date.now();
  let last = 0n;
  const N = 300;
  for (let i = 0; i < N; i++) {
    const res = await client.insert({ collection_name: NAME, data: [{ id: i, vector: [i, 0, 0, 1] }] });
    expectOk(res.status, `insert ${i}`);
    const ts = BigInt(res.timestamp);
    expect(ts).toBeGreaterThan(last);
    last = ts;
  }
  // Concurrent inserts wait for one refill together.
  const concurrent = await Promise.all(Array.from({ length: 100 }, (_, i) => client.insert({ collection_name: NAME, data: [{ id: N + i, vector: [N + i, 0, 0, 1] }] })));
  for (const res of concurrent) expectOk(res.status, 'concurrent insert');
  expect(new Set(concurrent.map((r) => r.timestamp)).size).toBe(100);
  const calls = (await oracleCalls()) - before;
  const elapsedMs = Date.now() - started;
  // One call per insert without the timestamp cache (400 here); with it, about one per timestampMaxAgeMs (100 ms) of
  // inserts, and the 100 concurrent ones share their refills.
  expect(calls).toBeGreaterThan(0);
  expect(calls).toBeLessThan(N + 100);
  expect(calls).toBeLessThanOrEqual(Math.ceil(elapsedMs / 100) + 20);
  const count = await client.query({ collection_name: NAME, output_fields: ['count(*)'], filter: '' });
  expectOk(count.status, 'count');
  expect(Number(count.data[0]!['count(*)'])).toBe(N + 100);
});

test('a delete right after an insert removes it, and an insert right after a delete of the key is visible', async () => {
  for (let round = 0; round < 20; round++) {
    const id = 10_000 + round;
    expectOk((await client.insert({ collection_name: NAME, data: [{ id, vector: [1, 1, 1, 1] }] })).status, 'insert');
    expectOk((await client.delete({ collection_name: NAME, filter: `id == ${id}` })).status, 'delete');
    expect((await client.query({ collection_name: NAME, filter: `id == ${id}`, output_fields: ['id'] })).data).toEqual([]);
    expectOk((await client.insert({ collection_name: NAME, data: [{ id, vector: [2, 2, 2, 2] }] })).status, 're-insert');
    const back = await client.query({ collection_name: NAME, filter: `id == ${id}`, output_fields: ['id'] });
    expect(back.data.map((r) => String(r.id))).toEqual([String(id)]);
  }
});
