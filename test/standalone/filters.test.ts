/**
 * Filter expressions that used to take a Kite server down, through the official Node SDK against
 * `bin/kite standalone`: a LIKE pattern that a backtracking regex cannot finish on 60,000-character strings, heavy
 * filter work while /healthz is polled, a filter nested 10,000 levels deep, a 2 MB filter, and an Int64 list passed
 * as a template parameter.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { ConsistencyLevelEnum, DataType, MilvusClient, type ResStatus } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { expectOk, statusOf } from './helpers';

jest.setTimeout(180_000);

const STRONG = ConsistencyLevelEnum.Strong;
const NAME = 'filters_long_text';
const LONG_ROWS = 300;

/**
 * 60,000 characters ending in "aa": `%a%a%b` cannot match, and a backtracking regex tries every way to place the
 * two a's first (cubic in the length); `%a_a_..._c%` (60 times "a_") matches 120 characters at every other place
 * before it fails, so each row costs a few milliseconds.
 */
const longText = (): string => `${'ab'.repeat(29999)}aa`;
const rows: { id: number; s: string; vector: number[] }[] = [
  ...Array.from({ length: LONG_ROWS }, (_, id) => ({ id, s: longText(), vector: [1, 0, 0, id / LONG_ROWS] })),
  { id: 1000, s: `${'ab'.repeat(29990)}c`, vector: [0, 1, 0, 0] }, // matches the second pattern only
  { id: 1001, s: `${'a'.repeat(59999)}b`, vector: [0, 0, 1, 0] }, // matches `%a%a%b` only
];
const HEAVY = `s like "%a%a%b" or s like "%${'a_'.repeat(60)}c%"`;

let server: Standalone;
let client: MilvusClient;

beforeAll(async () => {
  server = await startStandalone();
  client = new MilvusClient({ address: server.address, timeout: 120_000 });
  await client.connectPromise;
  expectOk(
    await client.createCollection({
      collection_name: NAME,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 's', data_type: DataType.VarChar, max_length: 65535 },
        { name: 'vector', data_type: DataType.FloatVector, dim: 4 },
      ],
      consistency_level: 'Strong',
    }),
    'createCollection',
  );
  for (let i = 0; i < rows.length; i += 50) {
    const res = await client.insert({ collection_name: NAME, data: rows.slice(i, i + 50) });
    expectOk(res.status, `insert rows ${i}..`);
  }
  expectOk(await client.createIndex({ collection_name: NAME, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }), 'createIndex');
  await client.loadCollectionSync({ collection_name: NAME });
}, 240_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  if (server && !server.running) console.error(`kite standalone is not running at the end of the suite; log tail:\n${server.logTail(6000)}`);
  await server?.dispose();
});

/** GET /healthz on the metrics port; its latency in ms, or Infinity when it did not answer 200 within 5 s. */
async function healthz(): Promise<number> {
  const t0 = Date.now();
  try {
    const res = await fetch(`http://127.0.0.1:${server.metricsPort}/healthz`, { signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    return res.status === 200 ? Date.now() - t0 : Infinity;
  } catch {
    return Infinity;
  }
}

/** The error status of a call that must fail, from its response or from what the SDK threw. */
async function failure(call: () => Promise<unknown>): Promise<ResStatus> {
  let status: ResStatus | undefined;
  try {
    status = statusOf(await call());
  } catch (err) {
    status = statusOf(err);
    if (status === undefined) throw err;
  }
  if (status === undefined || status.error_code === 'Success') throw new Error(`expected an error, got ${JSON.stringify(status)}`);
  return status;
}

async function expectHealthy(): Promise<void> {
  expect(server.running).toBe(true);
  expect((await client.checkHealth()).isHealthy).toBe(true);
  expect(await healthz()).toBeLessThan(1000);
}

test('a LIKE pattern that backtracks for minutes in a regex is answered exactly, with /healthz answering throughout', async () => {
  const polls: { start: number; ms: number }[] = [];
  let done = false;
  const poller = (async () => {
    while (!done) {
      const start = Date.now();
      polls.push({ start, ms: await healthz() });
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const t0 = Date.now();
  try {
    // Several at once, so the filter work (about a second together here) overlaps the polls for a while.
    const queries = Array.from({ length: 3 }, () =>
      client.query({ collection_name: NAME, filter: HEAVY, output_fields: ['id'], consistency_level: STRONG }),
    );
    const search = client.search({ collection_name: NAME, data: [[0, 1, 0, 0]], filter: HEAVY, limit: 5, output_fields: ['id'], consistency_level: STRONG });
    for (const q of await Promise.all(queries)) {
      expectOk(q.status, 'query with a heavy LIKE filter');
      expect(q.data.map((r) => Number(r.id)).sort((a, b) => a - b)).toEqual([1000, 1001]);
    }
    const s = await search;
    expectOk(s.status, 'search with a heavy LIKE filter');
    expect((s.results as unknown as { id: string | number }[]).map((h) => Number(h.id)).sort((a, b) => a - b)).toEqual([1000, 1001]);
  } finally {
    done = true;
    await poller;
  }
  const t1 = Date.now();
  const during = polls.filter((p) => p.start >= t0 && p.start < t1);
  // The polls overlapped the work and every one answered within a second (they take a few ms when idle).
  expect(during.length).toBeGreaterThanOrEqual(3);
  expect(Math.max(...during.map((p) => p.ms))).toBeLessThan(1000);
  await expectHealthy();
});

test('a filter nested 10,000 levels deep is a parameter error naming the limit, not an internal error', async () => {
  for (const filter of [`${'('.repeat(10000)}id > 0${')'.repeat(10000)}`, `${'not '.repeat(10000)}id > 0`, `id > ${Array(10000).fill('1').join(' + ')}`]) {
    const status = await failure(() => client.query({ collection_name: NAME, filter, output_fields: ['id'], consistency_level: STRONG }));
    expect(Number(status.code)).toBe(1100);
    expect(status.reason).toContain('more than 256 levels deep');
    expect(status.reason).not.toMatch(/call stack/i);
  }
  await expectHealthy();
});

test('a filter longer than proxy.maxFilterLength is refused at once, naming the limit', async () => {
  const filter = `s == "${'x'.repeat(2 << 20)}"`;
  const t0 = Date.now();
  const status = await failure(() => client.query({ collection_name: NAME, filter, output_fields: ['id'], consistency_level: STRONG }));
  expect(Date.now() - t0).toBeLessThan(10_000);
  expect(Number(status.code)).toBe(1100);
  expect(status.reason).toContain(`${filter.length} characters long, more than the limit of ${1 << 20} (proxy.maxFilterLength)`);
  expect(status.reason.length).toBeLessThan(2000); // the filter is not echoed back
  await expectHealthy();
});

test('an Int64 list template parameter: id in {ids} for query, search and delete', async () => {
  const q = await client.query({ collection_name: NAME, filter: 'id in {ids}', exprValues: { ids: [1, 2, 3, 999] }, output_fields: ['id'], consistency_level: STRONG });
  expectOk(q.status, 'query id in {ids}');
  expect(q.data.map((r) => Number(r.id)).sort((a, b) => a - b)).toEqual([1, 2, 3]);

  const one = await client.query({ collection_name: NAME, filter: 'id == {id} or id in {more}', exprValues: { id: 7, more: [8] }, output_fields: ['id'], consistency_level: STRONG });
  expectOk(one.status, 'query id == {id}');
  expect(one.data.map((r) => Number(r.id)).sort((a, b) => a - b)).toEqual([7, 8]);

  const s = await client.search({ collection_name: NAME, data: [[0, 1, 0, 0]], filter: 'id in {ids}', exprValues: { ids: [5, 1000] }, limit: 5, output_fields: ['id'], consistency_level: STRONG });
  expectOk(s.status, 'search filtered by id in {ids}');
  expect((s.results as unknown as { id: string | number }[]).map((h) => Number(h.id))).toEqual([1000, 5]);

  const del = await client.delete({ collection_name: NAME, filter: 'id in {ids}', exprValues: { ids: [1, 2] } });
  expectOk(del.status, 'delete id in {ids}');
  expect(Number(del.delete_cnt)).toBe(2);
  const after = await client.query({ collection_name: NAME, filter: 'id in {ids}', exprValues: { ids: [1, 2, 3] }, output_fields: ['id'], consistency_level: STRONG });
  expectOk(after.status, 'query after delete');
  expect(after.data.map((r) => Number(r.id))).toEqual([3]);
});

test('a filter the proxy has cached is checked again against a recreated collection of the same name and another schema', async () => {
  const C = 'filters_recreated';
  const create = async (field: string): Promise<void> => {
    expectOk(
      await client.createCollection({
        collection_name: C,
        fields: [
          { name: 'id', data_type: DataType.Int64, is_primary_key: true },
          { name: field, data_type: DataType.Int64 },
          { name: 'vector', data_type: DataType.FloatVector, dim: 4 },
        ],
        consistency_level: 'Strong',
      }),
      `create ${C} with ${field}`,
    );
    expectOk((await client.insert({ collection_name: C, data: [{ id: 1, [field]: 5, vector: [1, 0, 0, 0] }] })).status, 'insert');
    expectOk(await client.createIndex({ collection_name: C, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }), 'createIndex');
    await client.loadCollectionSync({ collection_name: C });
  };
  await create('x');
  for (let i = 0; i < 2; i++) {
    const q = await client.query({ collection_name: C, filter: 'x > 1', output_fields: ['id'], consistency_level: STRONG });
    expectOk(q.status, `query x > 1 (#${i + 1})`);
    expect(q.data.map((r) => Number(r.id))).toEqual([1]);
  }
  expectOk(await client.dropCollection({ collection_name: C }), 'drop');
  await create('y');
  const q = await client.query({ collection_name: C, filter: 'x > 1', output_fields: ['id'], consistency_level: STRONG });
  expect(statusOf(q)?.error_code).not.toBe('Success');
  expect(statusOf(q)?.reason).toMatch(/\bx\b/);
  const y = await client.query({ collection_name: C, filter: 'y > 1', output_fields: ['id'], consistency_level: STRONG });
  expectOk(y.status, 'query y > 1');
  expect(y.data.map((r) => Number(r.id))).toEqual([1]);
  expectOk(await client.dropCollection({ collection_name: C }), 'drop again');
});
