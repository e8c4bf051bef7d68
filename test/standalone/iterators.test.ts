/**
 * searchIterator (iterator v2: token and last bound) and queryIterator through the official Node SDK against
 * `bin/kite standalone`: every visible row exactly once, in score order, over two shards, sealed and growing rows
 * and deletes, with runs of equal scores longer than a page (where paging by the last score can skip or repeat).
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { ConsistencyLevelEnum, DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { clusteredVectors, expectOk, score, type Metric } from './helpers';

jest.setTimeout(180_000);

const STRONG = ConsistencyLevelEnum.Strong;
const DIM = 8;
const N = 800;
const TIE = 30;
const vectors = clusteredVectors(N, DIM, 17);
for (let i = 1; i < TIE; i++) vectors[200 + i] = vectors[200]!; // one run of equal vectors longer than a page
for (let i = 400; i < 480; i += 2) vectors[i + 1] = vectors[i]!; // many pairs
const deleted = new Set(Array.from({ length: N }, (_, i) => i).filter((i) => i % 13 === 7));
const key = (i: number): number => i * 5 - 1000;
const rows = vectors.map((vector, i) => ({ pk: key(i), n: i, vector }));
const alive = rows.filter((r) => !deleted.has(r.n));

let server: Standalone;
let client: MilvusClient;

async function makeCollection(name: string, indexType: string, metric: Metric, params: Record<string, number> = {}): Promise<void> {
  expectOk(await client.createCollection({
    collection_name: name, shards_num: 2, consistency_level: 'Strong',
    fields: [
      { name: 'pk', data_type: DataType.Int64, is_primary_key: true },
      { name: 'n', data_type: DataType.Int64 },
      { name: 'vector', data_type: DataType.FloatVector, dim: DIM },
    ],
  }), `createCollection(${name})`);
  const order = rows.map((_, i) => i).sort((a, b) => ((a * 7919) % N) - ((b * 7919) % N));
  const shuffled = order.map((i) => rows[i]!);
  expectOk((await client.insert({ collection_name: name, data: shuffled.slice(0, N / 2) })).status, 'insert sealed half');
  expectOk((await client.flush({ collection_names: [name] })).status, 'flush');
  expectOk((await client.insert({ collection_name: name, data: shuffled.slice(N / 2) })).status, 'insert growing half');
  expectOk((await client.delete({ collection_name: name, ids: [...deleted].map(key) })).status, 'delete');
  expectOk(await client.createIndex({ collection_name: name, field_name: 'vector', index_type: indexType, metric_type: metric, params }), 'createIndex');
  await client.loadCollectionSync({ collection_name: name });
}

beforeAll(async () => {
  server = await startStandalone();
  client = new MilvusClient({ address: server.address, timeout: 120_000 });
  await client.connectPromise;
}, 240_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  if (server && !server.running) console.error(`kite standalone is not running at the end of the suite; log tail:\n${server.logTail(6000)}`);
  await server?.dispose();
});

/** The SDK names each hit's key after the primary field (`pk` here). */
interface Hit {
  pk: string;
  score: number;
  n?: string | number;
}

async function drain(name: string, query: number[], batchSize: number, extra: Record<string, unknown> = {}): Promise<Hit[]> {
  const it = await client.searchIterator({ collection_name: name, data: query, batchSize, consistency_level: STRONG, ...extra } as never);
  const out: Hit[] = [];
  for await (const page of it as AsyncIterable<Hit[]>) out.push(...page);
  return out;
}

function checkAll(metric: Metric, got: Hit[], query: number[], want: typeof alive): void {
  const ids = got.map((h) => String(h.pk));
  expect(ids.length - new Set(ids).size).toBe(0); // no row twice
  expect(new Set(ids)).toEqual(new Set(want.map((r) => String(r.pk)))); // every visible row, no deleted one
  const scores = got.map((h) => h.score);
  expect(scores).toEqual([...scores].sort((a, b) => (metric === 'L2' ? a - b : b - a)));
  const truth = want.map((r) => score(metric, query, r.vector)).sort((a, b) => (metric === 'L2' ? a - b : b - a));
  scores.forEach((s, i) => expect(Math.abs(s - truth[i]!)).toBeLessThan(1e-3 * Math.max(1, Math.abs(s))));
}

describe.each([
  { index: 'FLAT', metric: 'L2' as Metric },
  { index: 'FLAT', metric: 'COSINE' as Metric },
])('searchIterator v2 on $index $metric', ({ index, metric }) => {
  const name = `iter_${index}_${metric}`.toLowerCase();
  beforeAll(() => makeCollection(name, index, metric));

  test.each([10, 64])('returns every row once, in score order, with batch %i', async (batch) => {
    for (const q of [vectors[200]!, vectors[3]!.map((x) => x + 0.2)]) {
      checkAll(metric, await drain(name, q, batch), q, alive);
    }
  });

  test('with a filter', async () => {
    const q = vectors[401]!;
    const got = await drain(name, q, 16, { filter: 'n % 3 == 1', output_fields: ['n'] });
    checkAll(metric, got, q, alive.filter((r) => r.n % 3 === 1));
  });
});

describe('queryIterator', () => {
  const name = 'iter_query';
  beforeAll(() => makeCollection(name, 'FLAT', 'L2'));

  test.each([1, 37, 1000])('returns every visible row once with batch %i', async (batchSize) => {
    const it = await client.queryIterator({ collection_name: name, batchSize, expr: 'n >= 0', output_fields: ['pk'], consistency_level: STRONG });
    const seen: string[] = [];
    for await (const page of it) seen.push(...(page as { pk: string }[]).map((r) => String(r.pk)));
    expect(seen.length - new Set(seen).size).toBe(0);
    expect(new Set(seen)).toEqual(new Set(alive.map((r) => String(r.pk))));
  });
});
