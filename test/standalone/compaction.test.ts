/**
 * Compaction through the official Node SDK against Kite standalone: ManualCompaction merges a channel's sealed
 * segments and purges deleted rows (counts, query and search equal the brute force over the live rows before and
 * after; the segment count drops); rows expired by the collection TTL are purged (the stored row count shrinks)
 * and never shown; clustering compaction (majorCompaction, as pymilvus's is_clustering=True sends it) writes
 * key-range segments that a filter on the key skips, results unchanged; reads running all through a compaction and
 * its handoff never fail and never return a missing or duplicated row.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { DataType, MilvusClient, promisify } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { eventually, expectOk, rng } from './helpers';

jest.setTimeout(480_000);

let server: Standalone;
let client: MilvusClient;
const DIM = 8;
const GRACE_MS = 1500;

beforeAll(async () => {
  server = await startStandalone({
    env: {
      // Manual compaction only: the automatic trigger would make the segment counts below depend on timing.
      KITE_COMPACTION_ENABLED: 'false',
      KITE_COMPACTION_CHECK_INTERVAL_MS: '500',
      KITE_COMPACTION_CLUSTERING_SEGMENT_ROWS: '500',
      KITE_COMPACTION_SOURCE_RELEASE_GRACE_MS: String(GRACE_MS),
      // Segments are sealed by flushes only, so each test knows which rows share a segment.
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

type Row = { id: number; k: number; vector: number[] };

function makeRows(from: number, n: number, seed: number): Row[] {
  const next = rng(seed);
  return Array.from({ length: n }, (_, i) => ({ id: from + i, k: Math.floor(next() * 10_000), vector: Array.from({ length: DIM }, () => Math.fround(next() * 2 - 1)) }));
}

async function create(name: string, opts: { clustering?: boolean; properties?: Record<string, string> } = {}): Promise<void> {
  expectOk(await client.createCollection({
    collection_name: name, consistency_level: 'Strong', ...(opts.properties ? { properties: opts.properties } : {}),
    fields: [
      { name: 'id', data_type: DataType.Int64, is_primary_key: true },
      { name: 'k', data_type: DataType.Int64, ...(opts.clustering ? { is_clustering_key: true } : {}) },
      { name: 'vector', data_type: DataType.FloatVector, dim: DIM },
    ],
  }), `create ${name}`);
  expectOk(await client.createIndex({ collection_name: name, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }), 'vector index');
  expectOk(await client.createIndex({ collection_name: name, field_name: 'k', index_type: 'STL_SORT', index_name: 'k_sort' }), 'scalar index');
  expectOk(await client.loadCollectionSync({ collection_name: name }), `load ${name}`);
}

async function insertFlushed(name: string, batches: Row[][]): Promise<void> {
  for (const b of batches) {
    expectOk((await client.insert({ collection_name: name, data: b as never })).status, 'insert');
    expectOk((await client.flushSync({ collection_names: [name] })).status, 'flush');
  }
}

async function metrics(): Promise<string> {
  return (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
}

const metricValue = (text: string, re: RegExp): number => [...text.matchAll(re)].reduce((s, m) => s + Number(m[1]), 0);

/** Sealed segments with rows the coordinator's target names for the collection (served + pending). */
async function segmentCount(name: string): Promise<{ served: number; pending: number }> {
  const m = await metrics();
  return {
    served: metricValue(m, new RegExp(`kite_querycoord_segments\\{collection="${name}",state="served"\\} (\\d+)`, 'g')),
    pending: metricValue(m, new RegExp(`kite_querycoord_segments\\{collection="${name}",state="pending"\\} (\\d+)`, 'g')),
  };
}

async function queryIds(name: string, filter: string): Promise<number[]> {
  const res = await client.query({ collection_name: name, filter, output_fields: ['id'], limit: 16_384, consistency_level: 'Strong' as never });
  expectOk(res.status, `query ${filter}`);
  return res.data.map((r) => Number(r.id)).sort((a, b) => a - b);
}

async function count(name: string): Promise<number> {
  const res = await client.query({ collection_name: name, filter: '', output_fields: ['count(*)'], consistency_level: 'Strong' as never });
  expectOk(res.status, 'count');
  return Number(res.data[0]!['count(*)']);
}

const l2 = (a: number[], b: number[]): number => a.reduce((s, x, i) => s + (x - b[i]!) ** 2, 0);

function bruteIds(live: Row[], q: number[], k: number, keep: (r: Row) => boolean = () => true): number[] {
  return live.filter(keep).map((r) => ({ id: r.id, d: l2(r.vector, q) })).sort((a, b) => a.d - b.d || a.id - b.id).slice(0, k).map((x) => x.id);
}

async function searchIds(name: string, q: number[], k: number, filter = ''): Promise<number[]> {
  const res = await client.search({ collection_name: name, data: [q], limit: k, filter, output_fields: ['id'], consistency_level: 'Strong' as never });
  expectOk(res.status, 'search');
  return res.results.map((r) => Number(r.id));
}

/** Every read the checks make, compared with the live rows: counts, ids, filtered ids, searches. */
async function checkReads(name: string, live: Row[], queries: number[][], filters: [string, (r: Row) => boolean][] = []): Promise<void> {
  expect(await count(name)).toBe(live.length);
  expect(await queryIds(name, 'id >= 0')).toEqual(live.map((r) => r.id).sort((a, b) => a - b));
  for (const [f, keep] of filters) expect({ f, ids: await queryIds(name, f) }).toEqual({ f, ids: live.filter(keep).map((r) => r.id).sort((a, b) => a - b) });
  for (const q of queries) {
    expect(await searchIds(name, q, 10)).toEqual(bruteIds(live, q, 10));
    for (const [f, keep] of filters) expect({ f, ids: await searchIds(name, q, 10, f) }).toEqual({ f, ids: bruteIds(live, q, 10, keep) });
  }
}

async function compact(name: string, clustering = false): Promise<string> {
  const d = await client.describeCollection({ collection_name: name });
  const res = clustering
    ? await promisify((client as unknown as { channelPool: never }).channelPool, 'ManualCompaction', { collectionID: d.collectionID, majorCompaction: true }, 60_000)
    : await client.compact({ collection_name: name });
  expectOk(res.status, 'compact');
  expect(Number(res.compactionID)).toBeGreaterThan(0);
  return String(res.compactionID);
}

async function waitCompacted(compactionID: string): Promise<{ sources: number[]; target: number }[]> {
  await eventually(`compaction ${compactionID} completed`, async () => {
    const s = await client.getCompactionState({ compactionID });
    expectOk(s.status, 'getCompactionState');
    return String(s.state) === 'Completed' || Number(s.state) === 2 ? s : undefined;
  }, 180_000);
  const s = await client.getCompactionState({ compactionID });
  expect(Number(s.failedPlanNo)).toBe(0);
  const p = await client.getCompactionStateWithPlans({ compactionID });
  expectOk(p.status, 'getCompactionStateWithPlans');
  return p.mergeInfos.map((m) => ({ sources: m.sources.map(Number), target: Number(m.target) }));
}

/** Waits until the collection's target is fully served with `n` segments (the handoff done). */
async function waitServed(name: string, n: number): Promise<void> {
  await eventually(`${name} serves ${n} segments`, async () => {
    const c = await segmentCount(name);
    return c.served === n && c.pending === 0 ? true : undefined;
  }, 180_000);
}

test('mix compaction merges the sealed segments and purges deleted rows; reads equal the brute force before and after', async () => {
  const name = 'cmp_mix';
  await create(name);
  const batches = [0, 1, 2, 3].map((b) => makeRows(b * 300, 300, 100 + b));
  await insertFlushed(name, batches);
  const all = batches.flat();
  const deleted = all.filter((r) => r.id % 5 === 0).map((r) => r.id);
  expectOk((await client.delete({ collection_name: name, filter: `id in [${deleted.join(',')}]` })).status, 'delete');
  expectOk((await client.flushSync({ collection_names: [name] })).status, 'flush deletes');
  const live = all.filter((r) => r.id % 5 !== 0);
  const queries = makeRows(10_000, 5, 7).map((r) => r.vector);
  const filters: [string, (r: Row) => boolean][] = [['k < 2500', (r) => r.k < 2500], ['k >= 9000 or id < 50', (r) => r.k >= 9000 || r.id < 50]];
  await waitServed(name, 4);
  await checkReads(name, live, queries, filters);
  const stored = async (): Promise<number> => Number((await client.getCollectionStatistics({ collection_name: name })).data.row_count);
  expect(await stored()).toBe(1200);

  const merges = await waitCompacted(await compact(name));
  expect(merges.length).toBe(1);
  expect(merges[0]!.sources.length).toBe(5); // four with rows, one of deletes only
  await waitServed(name, 1);
  await checkReads(name, live, queries, filters);
  expect(await stored()).toBe(live.length);

  // Deletes after the compaction still hit rows moved into the result; a second compaction purges them too.
  const later = live.filter((r) => r.id % 7 === 0).map((r) => r.id);
  expectOk((await client.delete({ collection_name: name, filter: `id in [${later.join(',')}]` })).status, 'delete after');
  const live2 = live.filter((r) => r.id % 7 !== 0);
  await checkReads(name, live2, queries, filters);
  expectOk((await client.flushSync({ collection_names: [name] })).status, 'flush');
  await waitCompacted(await compact(name));
  await waitServed(name, 1);
  await checkReads(name, live2, queries, filters);
  expect(await stored()).toBe(live2.length);
});

test('rows expired by the collection TTL are purged by compaction (the stored row count shrinks) and never shown', async () => {
  const name = 'cmp_ttl';
  const TTL_S = 30;
  await create(name, { properties: { 'collection.ttl.seconds': String(TTL_S) } });
  const old = makeRows(0, 200, 11);
  expectOk((await client.insert({ collection_name: name, data: old as never })).status, 'insert old');
  expect(await count(name)).toBe(200);
  await eventually('old rows expire', async () => ((await count(name)) === 0 ? true : undefined), 120_000);
  // Fresh rows go into the same segment as the expired ones (nothing was flushed yet).
  const fresh = makeRows(1000, 100, 12);
  const freshAt = Date.now();
  expectOk((await client.insert({ collection_name: name, data: fresh as never })).status, 'insert fresh');
  expectOk((await client.flushSync({ collection_names: [name] })).status, 'flush');
  const stored = async (): Promise<number> => Number((await client.getCollectionStatistics({ collection_name: name })).data.row_count);
  expect(await stored()).toBe(300);
  expect(await queryIds(name, 'id >= 0')).toEqual(fresh.map((r) => r.id));
  const purgedBefore = metricValue(await metrics(), /kite_datanode_compaction_rows_purged_total\{reason="expired"\} (\d+)/g);
  await waitCompacted(await compact(name));
  // The check below is only meaningful while the fresh rows live.
  expect(Date.now() - freshAt).toBeLessThan(TTL_S * 1000);
  expect(await stored()).toBe(100);
  expect(metricValue(await metrics(), /kite_datanode_compaction_rows_purged_total\{reason="expired"\} (\d+)/g) - purgedBefore).toBe(200);
  await waitServed(name, 1);
  expect(await count(name)).toBe(100);
  expect(await queryIds(name, 'id >= 0')).toEqual(fresh.map((r) => r.id));
  // With the TTL dropped, purged rows stay gone (they were removed, not hidden).
  expectOk(await client.dropCollectionProperties({ collection_name: name, properties: ['collection.ttl.seconds'] }), 'drop ttl');
  await eventually('ttl dropped everywhere', async () => ((await count(name)) === 100 ? true : undefined), 30_000);
  expect(await queryIds(name, 'id >= 0')).toEqual(fresh.map((r) => r.id));
});

test('clustering compaction writes key-range segments; filters on the key skip segments with unchanged results', async () => {
  const name = 'cmp_cluster';
  await create(name, { clustering: true });
  const d = await client.describeCollection({ collection_name: name });
  expect(d.schema.fields.find((f) => f.name === 'k')?.is_clustering_key).toBe(true);
  const batches = [0, 1, 2, 3].map((b) => makeRows(b * 500, 500, 300 + b));
  await insertFlushed(name, batches);
  const live = batches.flat();
  await waitServed(name, 4);
  const queries = makeRows(20_000, 4, 9).map((r) => r.vector);
  const filters: [string, (r: Row) => boolean][] = [
    ['k == 1234', (r) => r.k === 1234], ['k in [10, 5000, 9999]', (r) => [10, 5000, 9999].includes(r.k)], ['k < 1500', (r) => r.k < 1500],
    ['k <= 700 or k >= 9600', (r) => r.k <= 700 || r.k >= 9600], ['2000 < k < 2600', (r) => r.k > 2000 && r.k < 2600], ['k > 8000 and id < 900', (r) => r.k > 8000 && r.id < 900],
  ];
  await checkReads(name, live, queries, filters);
  const skipped = async (): Promise<number> => metricValue(await metrics(), /kite_querynode_segments_skipped_total\{reason="range"\} (\d+)/g);
  const before = await skipped();
  await queryIds(name, '2000 < k < 2600');
  // Random keys: every flushed segment spans nearly the whole key range, so nothing is skipped.
  expect(await skipped()).toBe(before);

  const merges = await waitCompacted(await compact(name, true));
  const targets = [...new Set(merges.map((m) => m.target))];
  expect(targets.length).toBe(4); // 2000 rows in ranges of about 500
  await waitServed(name, 4);
  await checkReads(name, live, queries, filters);
  const s0 = await skipped();
  expect(await queryIds(name, '2000 < k < 2600')).toEqual(live.filter((r) => r.k > 2000 && r.k < 2600).map((r) => r.id).sort((a, b) => a - b));
  // The range falls within one or two key ranges: at least two of the four segments are skipped.
  expect((await skipped()) - s0).toBeGreaterThanOrEqual(2);
  const s1 = await skipped();
  await searchIds(name, queries[0]!, 10, 'k == 1234');
  expect((await skipped()) - s1).toBeGreaterThanOrEqual(3);
});

test('reads running all through a compaction and its handoff never fail, miss or duplicate a row', async () => {
  const name = 'cmp_reads';
  await create(name);
  const batches = [0, 1, 2, 3, 4, 5].map((b) => makeRows(b * 200, 200, 500 + b));
  await insertFlushed(name, batches);
  const all = batches.flat();
  const deleted = all.filter((r) => r.id % 3 === 0).map((r) => r.id);
  expectOk((await client.delete({ collection_name: name, filter: `id in [${deleted.join(',')}]` })).status, 'delete');
  expectOk((await client.flushSync({ collection_names: [name] })).status, 'flush');
  const live = all.filter((r) => r.id % 3 !== 0);
  const expected = live.map((r) => r.id).sort((a, b) => a - b);
  const q = makeRows(30_000, 1, 3)[0]!.vector;
  const expectedTop = bruteIds(live, q, 20);
  await waitServed(name, 6);

  const retries = async (): Promise<number> => metricValue(await metrics(), /kite_proxy_retries_total\{[^}]*\} (\d+)/g);
  const retriesBefore = await retries();
  let stop = false;
  let reads = 0;
  const failures: string[] = [];
  const reader = (async () => {
    while (!stop) {
      try {
        const ids = await queryIds(name, 'id >= 0');
        if (ids.length !== expected.length || ids.some((x, i) => x !== expected[i])) failures.push(`query returned ${ids.length} rows (${new Set(ids).size} distinct), expected ${expected.length}`);
        const top = await searchIds(name, q, 20);
        if (top.join(',') !== expectedTop.join(',')) failures.push(`search returned ${top.join(',')}`);
        const n = await count(name);
        if (n !== expected.length) failures.push(`count ${n}`);
        reads += 3;
      } catch (e) {
        failures.push(`read failed: ${(e as Error).message}`);
      }
    }
  })();
  try {
    const id = await compact(name);
    await waitCompacted(id);
    await waitServed(name, 1);
    // Past the grace period the sources are released: keep reading through that too.
    const until = Date.now() + GRACE_MS * 3;
    await eventually('sources released under reads', async () => (Date.now() > until ? true : undefined), 60_000);
  } finally {
    stop = true;
    await reader;
  }
  expect(failures.slice(0, 5)).toEqual([]);
  expect(reads).toBeGreaterThan(10);
  // Not even a read the proxy retried internally (a segment released under it, a delegator not serviceable).
  expect((await retries()) - retriesBefore).toBe(0);
});

test('kill -9 in the middle of a compaction: after the restart the plan runs again and no row is lost or doubled', async () => {
  const name = 'cmp_crash';
  expectOk(await client.createCollection({
    collection_name: name, consistency_level: 'Strong',
    fields: [
      { name: 'id', data_type: DataType.Int64, is_primary_key: true },
      { name: 'k', data_type: DataType.Int64 },
      { name: 'vector', data_type: DataType.FloatVector, dim: DIM },
    ],
  }), 'create');
  // HNSW makes the result's index build take a while: the kill lands while the plan executes.
  expectOk(await client.createIndex({ collection_name: name, field_name: 'vector', index_type: 'HNSW', metric_type: 'L2', params: { M: 32, efConstruction: 400 } }), 'index');
  expectOk(await client.loadCollectionSync({ collection_name: name }), 'load');
  const batches = [0, 1, 2].map((b) => makeRows(b * 20_000, 20_000, 700 + b));
  for (const b of batches) {
    for (let i = 0; i < b.length; i += 5000) expectOk((await client.insert({ collection_name: name, data: b.slice(i, i + 5000) as never })).status, 'insert');
    expectOk((await client.flushSync({ collection_names: [name] })).status, 'flush');
  }
  const all = batches.flat();
  const deleted = all.filter((r) => r.id % 4 === 0).map((r) => r.id);
  for (let i = 0; i < deleted.length; i += 5000) {
    expectOk((await client.delete({ collection_name: name, filter: `id in [${deleted.slice(i, i + 5000).join(',')}]` })).status, 'delete');
  }
  expectOk((await client.flushSync({ collection_names: [name] })).status, 'flush deletes');
  const expected = all.filter((r) => r.id % 4 !== 0).map((r) => r.id).sort((a, b) => a - b);
  await waitServed(name, 3);
  const idsNow = async (): Promise<number[]> => {
    const out: number[] = [];
    for (let lo = 0; lo < 60_000; lo += 15_000) out.push(...(await queryIds(name, `id >= ${lo} and id < ${lo + 15_000}`)));
    return out;
  };
  expect(await count(name)).toBe(expected.length);

  const id = await compact(name);
  const s = await client.getCompactionState({ compactionID: id });
  expect(String(s.state)).toBe('Executing');
  await server.kill9();
  await server.restart();
  await client.closeConnection().catch(() => undefined);
  client = new MilvusClient({ address: server.address, timeout: 60_000 });
  await client.connectPromise;

  await waitCompacted(id);
  await waitServed(name, 1);
  expect(await count(name)).toBe(expected.length);
  expect(await idsNow()).toEqual(expected);
  expect(Number((await client.getCollectionStatistics({ collection_name: name })).data.row_count)).toBe(expected.length);
});
