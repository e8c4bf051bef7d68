/**
 * Write timestamps through the official Node SDK against `bin/kite standalone`: the proxy takes them from ranges of
 * the coordinator's timestamp oracle (proxy.timestampBatchSize) that writes arriving together share, and, with
 * proxy.timestampMaxAgeMs above 0, that sequential writes reuse for that long; either way they order writes: each
 * insert's timestamp is above the last, a delete right after an insert removes it, an insert right after a delete
 * of the same key is visible.
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

/** AllocTimestamp calls the coordinator of `on` has answered so far (its request counter, every status). */
async function oracleCalls(on: Standalone = server): Promise<number> {
  let n = 0;
  for (const line of (await metricsText(on.metricsPort)).split('\n')) {
    if (line.startsWith('kite_querycoord_requests_total{') && line.includes('method="AllocTimestamp"')) n += Number(line.split(' ').pop());
  }
  return n;
}

async function prepare(c: MilvusClient): Promise<void> {
  expectOk(
    await c.createCollection({
      collection_name: NAME,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'vector', data_type: DataType.FloatVector, dim: 4 },
      ],
      consistency_level: 'Strong',
    }),
    'createCollection',
  );
  expectOk(await c.createIndex({ collection_name: NAME, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }), 'createIndex');
  await c.loadCollectionSync({ collection_name: NAME });
}

/** `n` single-row inserts one after another from `first`; each timestamp above the one before. */
async function sequentialInserts(c: MilvusClient, first: number, n: number): Promise<void> {
  let last = 0n;
  for (let i = first; i < first + n; i++) {
    const res = await c.insert({ collection_name: NAME, data: [{ id: i, vector: [i, 0, 0, 1] }] });
    expectOk(res.status, `insert ${i}`);
    const ts = BigInt(res.timestamp);
    expect(ts).toBeGreaterThan(last);
    last = ts;
  }
}

async function countRows(c: MilvusClient): Promise<number> {
  const count = await c.query({ collection_name: NAME, output_fields: ['count(*)'], filter: '' });
  expectOk(count.status, 'count');
  return Number(count.data[0]!['count(*)']);
}

beforeAll(async () => {
  // The proxy shares one oracle call among writes that arrive while it is in flight: a gRPC round trip to the
  // coordinator, as in a cluster. In-process calls in standalone answer within the same turn of the event loop, so
  // nothing arrives meanwhile; this file checks the sharing over gRPC.
  server = await startStandalone({ env: { KITE_INTERNAL_IN_PROCESS_CALLS: 'false' } });
  client = new MilvusClient({ address: server.address, timeout: 60_000 });
  await client.connectPromise;
  await prepare(client);
}, 240_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  await server?.dispose();
});

test('by default each write asks for a timestamp after it arrived; writes arriving together share the call', async () => {
  const before = await oracleCalls();
  const N = 100;
  await sequentialInserts(client, 0, N);
  // One after another: every insert arrives after the previous one's timestamp was taken, so each asks anew.
  const sequentialCalls = (await oracleCalls()) - before;
  expect(sequentialCalls).toBeGreaterThanOrEqual(N);
  // Concurrent inserts wait for one refill together.
  const mid = await oracleCalls();
  const concurrent = await Promise.all(Array.from({ length: 100 }, (_, i) => client.insert({ collection_name: NAME, data: [{ id: N + i, vector: [N + i, 0, 0, 1] }] })));
  for (const res of concurrent) expectOk(res.status, 'concurrent insert');
  expect(new Set(concurrent.map((r) => r.timestamp)).size).toBe(100);
  const concurrentCalls = (await oracleCalls()) - mid;
  expect(concurrentCalls).toBeGreaterThan(0);
  expect(concurrentCalls).toBeLessThanOrEqual(50);
  expect(await countRows(client)).toBe(N + 100);
});

test('with proxy.timestampMaxAgeMs 100, sequential single-row inserts share the oracle calls', async () => {
  const single = await startStandalone({ env: { KITE_PROXY_TIMESTAMP_MAX_AGE_MS: '100' } });
  const c = new MilvusClient({ address: single.address, timeout: 60_000 });
  try {
    await c.connectPromise;
    await prepare(c);
    const before = await oracleCalls(single);
    const started = Date.now();
    const N = 300;
    await sequentialInserts(c, 0, N);
    const calls = (await oracleCalls(single)) - before;
    const elapsedMs = Date.now() - started;
    // One call per insert without the cache (300 here); with it, about one per 100 ms of inserts.
    expect(calls).toBeGreaterThan(0);
    expect(calls).toBeLessThan(N);
    expect(calls).toBeLessThanOrEqual(Math.ceil(elapsedMs / 100) + 20);
    expect(await countRows(c)).toBe(N);
  } finally {
    await c.closeConnection().catch(() => undefined);
    await single.dispose();
  }
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
