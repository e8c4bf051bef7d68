/**
 * Kite standalone end to end through the official Node SDK (@zilliz/milvus2-sdk-node), unchanged. Every expectation
 * is Milvus's documented behaviour; search results are checked against a brute-force computation here.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import {
  CONNECT_STATUS,
  ConsistencyLevelEnum,
  DataType,
  LoadState,
  MilvusClient,
  type FieldType,
  type RowData,
} from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import {
  bruteForce,
  chunks,
  clusteredVectors,
  dynamicValue,
  eventually,
  expectFailure,
  expectOk,
  queriesNear,
  recall,
  rng,
  score,
  waitIndexBuilt,
  type Metric,
} from './helpers';

jest.setTimeout(120_000);

const STRONG = ConsistencyLevelEnum.Strong;

let server: Standalone;
let client: MilvusClient;

beforeAll(async () => {
  server = await startStandalone();
  client = new MilvusClient({ address: server.address, timeout: 60_000 });
  await client.connectPromise;
}, 150_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  if (server && !server.running) {
    // The server died during the run: show why.
    console.error(`kite standalone is not running at the end of the suite; log tail:\n${server.logTail(6000)}`);
  }
  await server?.dispose();
});

/** The server still answers after an error: healthy, and a read on the main collection succeeds. */
async function expectAlive(): Promise<void> {
  expect(server.running).toBe(true);
  const health = await client.checkHealth();
  expect(health.isHealthy).toBe(true);
  const has = await client.hasCollection({ collection_name: MAIN });
  expectOk(has.status, 'hasCollection after an error');
}

// ---------------------------------------------------------------------------------------------------------------
// The main collection: every scalar type, a 32-d float vector, dynamic fields, Int64 primary key without auto id.

const MAIN = 'e2e_main';
const MAIN_DIM = 32;
const MAIN_ROWS = 3000;

interface MainRow {
  id: number;
  f_bool: boolean;
  f_int8: number;
  f_int16: number;
  f_int32: number;
  f_int64: number;
  f_float: number;
  f_double: number;
  f_varchar: string;
  f_json: { k: number; tag: string; nested: { v: number } };
  vector: number[];
  dyn_n: number;
  dyn_s: string;
}

function makeMainRows(n: number, startId: number, seed: number): MainRow[] {
  const next = rng(seed);
  const vectors = clusteredVectors(n, MAIN_DIM, seed + 1);
  const letters = 'abcd';
  return vectors.map((vector, i) => {
    const id = startId + i;
    const len = 2 + Math.floor(next() * 5);
    let s = '';
    for (let c = 0; c < len; c++) s += letters[Math.floor(next() * letters.length)];
    return {
      id,
      f_bool: id % 3 === 0,
      f_int8: (id % 200) - 100,
      f_int16: ((id * 7) % 30000) - 15000,
      f_int32: id,
      f_int64: id * 10_000_000_000 + 7,
      f_float: Math.fround(next()),
      f_double: next(),
      f_varchar: s,
      f_json: { k: id % 50, tag: ['x', 'y', 'z'][id % 3]!, nested: { v: id } },
      vector,
      dyn_n: id % 100,
      dyn_s: `c${id % 5}`,
    };
  });
}

const mainFields: FieldType[] = [
  { name: 'id', data_type: DataType.Int64, is_primary_key: true, autoID: false },
  { name: 'f_bool', data_type: DataType.Bool },
  { name: 'f_int8', data_type: DataType.Int8 },
  { name: 'f_int16', data_type: DataType.Int16 },
  { name: 'f_int32', data_type: DataType.Int32 },
  { name: 'f_int64', data_type: DataType.Int64 },
  { name: 'f_float', data_type: DataType.Float },
  { name: 'f_double', data_type: DataType.Double },
  { name: 'f_varchar', data_type: DataType.VarChar, max_length: 64 },
  { name: 'f_json', data_type: DataType.JSON },
  { name: 'vector', data_type: DataType.FloatVector, dim: MAIN_DIM },
];

/** The rows the server should hold (updated as the tests delete and upsert). */
const mainModel = new Map<string, MainRow>();
for (const row of makeMainRows(MAIN_ROWS, 0, 1)) mainModel.set(String(row.id), row);
const mainQueries = queriesNear([...mainModel.values()].map((r) => r.vector), 5, 99);

/** Filters used in search and query, each with the same predicate in JS. */
const inList = Array.from({ length: 30 }, (_, i) => i * 97 + 5);
const FILTERS: { expr: string; pred: (r: MainRow) => boolean }[] = [
  { expr: 'f_int32 >= 500 and f_int32 < 1500', pred: (r) => r.f_int32 >= 500 && r.f_int32 < 1500 },
  { expr: 'f_varchar like "ab%"', pred: (r) => r.f_varchar.startsWith('ab') },
  {
    expr: `f_int64 in [${inList.map((i) => i * 10_000_000_000 + 7).join(', ')}]`,
    pred: (r) => inList.includes(r.id),
  },
  { expr: 'f_bool == true && f_float < 0.5', pred: (r) => r.f_bool && r.f_float < 0.5 },
  { expr: 'f_json["k"] >= 40', pred: (r) => r.f_json.k >= 40 },
  { expr: 'dyn_n < 10', pred: (r) => r.dyn_n < 10 },
  { expr: 'not (f_int8 > 0) or f_double >= 0.9', pred: (r) => !(r.f_int8 > 0) || r.f_double >= 0.9 },
  { expr: 'f_json["tag"] == "y" and f_int16 != 7', pred: (r) => r.f_json.tag === 'y' && r.f_int16 !== 7 },
];

/** Checks one returned entity (search hit or query row) against the model, for the fields it carries. */
function checkEntity(got: Record<string, unknown>, fields: string[]): void {
  const id = String(got.id);
  const want = mainModel.get(id);
  if (!want) throw new Error(`the server returned id ${id}, which is not (or no longer) in the collection`);
  for (const f of fields) {
    const value = f.startsWith('dyn_') ? dynamicValue(got, f) : got[f];
    const expected = (want as unknown as Record<string, unknown>)[f];
    if (f === 'f_int64') expect(String(value)).toBe(String(expected));
    else if (f === 'f_double') expect(value as number).toBeCloseTo(expected as number, 12);
    else expect(value).toEqual(expected);
  }
}

function hitId(hit: Record<string, unknown>): string {
  return String(hit.id);
}

async function searchMain(req: {
  data: number[][];
  limit: number;
  offset?: number;
  filter?: string;
  output_fields?: string[];
  params?: Record<string, unknown>;
  collection?: string;
}): Promise<Record<string, unknown>[][]> {
  const res = await client.search({
    collection_name: req.collection ?? MAIN,
    data: req.data,
    anns_field: 'vector',
    limit: req.limit,
    offset: req.offset,
    filter: req.filter,
    output_fields: req.output_fields ?? ['id'],
    params: req.params,
    consistency_level: STRONG,
  });
  expectOk(res.status, `search ${JSON.stringify({ ...req, data: `${req.data.length} vectors` })}`);
  // nq = 1 gives a flat list of hits, nq > 1 a list per query.
  return req.data.length === 1
    ? [res.results as unknown as Record<string, unknown>[]]
    : (res.results as unknown as Record<string, unknown>[][]);
}

/** Exactly the brute-force ids, in order, with matching scores (FLAT indexes and growing data are exact). */
function expectExact(hits: Record<string, unknown>[], truth: { id: string; score: number }[]): void {
  expect(hits.map(hitId)).toEqual(truth.map((t) => t.id));
  hits.forEach((h, i) => {
    const want = truth[i]!.score;
    expect(Math.abs((h.score as number) - want)).toBeLessThanOrEqual(1e-3 * Math.max(1, Math.abs(want)));
  });
}

describe('connection', () => {
  test('Connect gives an identifier; GetVersion and CheckHealth answer', async () => {
    expect(client.connectStatus).toBe(CONNECT_STATUS.CONNECTED);
    const version = await client.getVersion();
    expect(typeof version.version).toBe('string');
    expect(version.version.length).toBeGreaterThan(0);
    const health = await client.checkHealth();
    expect(health.isHealthy).toBe(true);
  });
});

describe('main collection: every scalar type, dynamic fields, FLAT/L2', () => {
  test('createCollection, has/describe/show', async () => {
    const res = await client.createCollection({
      collection_name: MAIN,
      fields: mainFields,
      enable_dynamic_field: true,
      consistency_level: 'Strong',
    });
    expectOk(res, 'createCollection(main)');

    const has = await client.hasCollection({ collection_name: MAIN });
    expectOk(has.status, 'hasCollection');
    expect(has.value).toBe(true);
    const hasNot = await client.hasCollection({ collection_name: 'e2e_no_such_collection' });
    expectOk(hasNot.status, 'hasCollection(missing)');
    expect(hasNot.value).toBe(false);

    const desc = await client.describeCollection({ collection_name: MAIN });
    expectOk(desc.status, 'describeCollection');
    expect(desc.schema.enable_dynamic_field).toBe(true);
    const byName = new Map(desc.schema.fields.map((f) => [f.name, f]));
    for (const f of mainFields) {
      const got = byName.get(f.name);
      expect(got).toBeDefined();
      expect(got!.data_type).toBe(DataType[f.data_type as DataType]);
    }
    expect(byName.get('id')!.is_primary_key).toBe(true);
    expect(byName.get('id')!.autoID).toBe(false);
    const dim = byName.get('vector')!.type_params.find((p) => p.key === 'dim');
    expect(String(dim?.value)).toBe(String(MAIN_DIM));
    const maxLen = byName.get('f_varchar')!.type_params.find((p) => p.key === 'max_length');
    expect(String(maxLen?.value)).toBe('64');
    expect(desc.collection_name).toBe(MAIN);
    expect(Number(desc.collectionID)).toBeGreaterThan(0);

    const show = await client.showCollections();
    expectOk(show.status, 'showCollections');
    expect(show.data.map((c) => c.name)).toContain(MAIN);
  });

  test('insert a few thousand rows in batches', async () => {
    const rows = [...mainModel.values()];
    let total = 0;
    for (const batch of chunks(rows, 1000)) {
      const res = await client.insert({ collection_name: MAIN, data: batch.map((r) => ({ ...r })) });
      expectOk(res.status, 'insert');
      expect(Number(res.insert_cnt)).toBe(batch.length);
      const ids = (res.IDs as { int_id?: { data: (string | number)[] } }).int_id?.data ?? [];
      expect(ids.map(String)).toEqual(batch.map((r) => String(r.id)));
      total += batch.length;
    }
    expect(total).toBe(MAIN_ROWS);
  });

  test('flush, getFlushState, getCollectionStatistics row_count', async () => {
    const flush = await client.flush({ collection_names: [MAIN] });
    expectOk(flush.status, 'flush');
    const segIDs: string[] = [];
    for (const v of Object.values(flush.coll_segIDs as Record<string, { data: string[] }>)) segIDs.push(...v.data);
    await eventually('getFlushState flushed', async () => {
      const state = await client.getFlushState({ segmentIDs: segIDs as unknown as number[] });
      expectOk(state.status, 'getFlushState');
      return state.flushed ? true : undefined;
    });
    const stats = await client.getCollectionStatistics({ collection_name: MAIN });
    expectOk(stats.status, 'getCollectionStatistics');
    expect(Number(stats.data.row_count)).toBe(MAIN_ROWS);
  });

  test('createIndex FLAT/L2, describeIndex', async () => {
    const res = await client.createIndex({
      collection_name: MAIN,
      field_name: 'vector',
      index_name: 'vec_idx',
      index_type: 'FLAT',
      metric_type: 'L2',
      params: {},
    });
    expectOk(res, 'createIndex(FLAT)');
    const desc = await client.describeIndex({ collection_name: MAIN, field_name: 'vector' });
    expectOk(desc.status, 'describeIndex');
    expect(desc.index_descriptions).toHaveLength(1);
    const d = desc.index_descriptions[0]!;
    expect(d.index_name).toBe('vec_idx');
    expect(d.field_name).toBe('vector');
    const params = Object.fromEntries(d.params.map((p) => [p.key, p.value]));
    expect(params.index_type).toBe('FLAT');
    expect(params.metric_type).toBe('L2');
    await waitIndexBuilt(client, MAIN, 'vector');
  });

  test('search before load is an error', async () => {
    const out = await expectFailure('search on an unloaded collection', () =>
      client.search({ collection_name: MAIN, data: [mainQueries[0]!], limit: 3, consistency_level: STRONG }),
    );
    expect(out.message.length).toBeGreaterThan(0);
    await expectAlive();
  });

  test('loadCollection (async) then getLoadState/getLoadingProgress; getReplicas', async () => {
    const res = await client.loadCollectionAsync({ collection_name: MAIN });
    expectOk(res, 'loadCollectionAsync');
    await eventually('main loaded', async () => {
      const st = await client.getLoadState({ collection_name: MAIN });
      expectOk(st.status, 'getLoadState');
      return st.state === LoadState.LoadStateLoaded ? true : undefined;
    });
    const progress = await client.getLoadingProgress({ collection_name: MAIN });
    expectOk(progress.status, 'getLoadingProgress');
    expect(Number(progress.progress)).toBe(100);

    const desc = await client.describeCollection({ collection_name: MAIN });
    const replicas = await client.getReplicas({ collectionID: desc.collectionID as unknown as number });
    expectOk(replicas.status, 'getReplicas');
    expect(replicas.replicas.length).toBeGreaterThanOrEqual(1);
    const r = replicas.replicas[0]!;
    expect(String(r.collectionID)).toBe(String(desc.collectionID));
    expect(r.shard_replicas.length).toBeGreaterThanOrEqual(1);
    expect(r.node_ids.length).toBeGreaterThanOrEqual(1);
  });

  test('search: several query vectors, exact against brute force (FLAT)', async () => {
    const results = await searchMain({ data: mainQueries, limit: 10 });
    expect(results).toHaveLength(mainQueries.length);
    results.forEach((hits, q) => {
      expectExact(hits, bruteForce('L2', mainModel.values(), mainQueries[q]!, 10));
    });
  });

  test('search with offset', async () => {
    const results = await searchMain({ data: mainQueries.slice(0, 3), limit: 10, offset: 5 });
    results.forEach((hits, q) => {
      expectExact(hits, bruteForce('L2', mainModel.values(), mainQueries[q]!, 10, 5));
    });
  });

  test('search with one query vector (nq = 1)', async () => {
    const [hits] = await searchMain({ data: [mainQueries[1]!], limit: 7 });
    expectExact(hits!, bruteForce('L2', mainModel.values(), mainQueries[1]!, 7));
  });

  test.each(FILTERS.map((f) => [f.expr, f] as const))('search with filter %s', async (_expr, f) => {
    const results = await searchMain({
      data: mainQueries.slice(0, 2),
      limit: 10,
      filter: f.expr,
      output_fields: ['id', 'f_int8', 'f_int16', 'f_int32', 'f_int64', 'f_bool', 'f_float', 'f_double', 'f_varchar', 'f_json', 'dyn_n'],
    });
    results.forEach((hits, q) => {
      for (const h of hits) {
        const row = mainModel.get(hitId(h));
        expect(row).toBeDefined();
        if (!f.pred(row!)) throw new Error(`hit ${hitId(h)} does not satisfy ${f.expr}: ${JSON.stringify(h)}`);
        checkEntity(h, ['f_int32', 'f_bool', 'f_float', 'f_varchar', 'f_json', 'f_int64', 'dyn_n']);
      }
      const truth = bruteForce('L2', mainModel.values(), mainQueries[q]!, 10, 0, f.pred);
      expectExact(hits, truth);
    });
  });

  test("output_fields ['*'] returns every scalar field and the dynamic keys", async () => {
    const [hits] = await searchMain({ data: [mainQueries[2]!], limit: 5, output_fields: ['*'] });
    expect(hits!.length).toBe(5);
    for (const h of hits!) {
      checkEntity(h, ['f_bool', 'f_int8', 'f_int16', 'f_int32', 'f_int64', 'f_float', 'f_double', 'f_varchar', 'f_json', 'dyn_n', 'dyn_s']);
    }
  });

  test('output_fields with the vector and named dynamic keys', async () => {
    const [hits] = await searchMain({ data: [mainQueries[3]!], limit: 4, output_fields: ['id', 'vector', 'dyn_s', 'f_json'] });
    for (const h of hits!) checkEntity(h, ['vector', 'dyn_s', 'f_json']);
  });

  test('round_decimal is accepted and keeps the ranking', async () => {
    // The Node SDK also cuts the decimals itself (by truncating the float32 score's text, so 0.06f reads 0.05):
    // the server's rounding is checked exactly by the Python test, which shows scores as the server sent them.
    const [hits] = await searchMain({ data: [mainQueries[0]!], limit: 5, params: { round_decimal: 2 } });
    const truth = bruteForce('L2', mainModel.values(), mainQueries[0]!, 5);
    expect(hits!.map(hitId)).toEqual(truth.map((t) => t.id));
    hits!.forEach((h, i) => {
      const s = h.score as number;
      expect(Math.abs(s - truth[i]!.score)).toBeLessThanOrEqual(0.0151);
      expect(Math.abs(s * 100 - Math.round(s * 100))).toBeLessThan(1e-3);
    });
  });

  test.each(FILTERS.map((f) => [f.expr, f] as const))('query with filter %s', async (_expr, f) => {
    const res = await client.query({
      collection_name: MAIN,
      filter: f.expr,
      output_fields: ['id', 'f_int32', 'f_varchar', 'f_json', 'f_bool', 'dyn_n'],
      consistency_level: STRONG,
    });
    expectOk(res.status, `query ${f.expr}`);
    const want = [...mainModel.values()].filter(f.pred).map((r) => String(r.id)).sort();
    expect(res.data.map((r) => String(r.id)).sort()).toEqual(want);
    for (const r of res.data) checkEntity(r, ['f_int32', 'f_varchar', 'f_json', 'f_bool', 'dyn_n']);
  });

  test('query with limit and offset pages through disjoint rows that satisfy the filter', async () => {
    const expr = 'f_int32 >= 1000';
    const page = async (offset: number): Promise<string[]> => {
      const res = await client.query({
        collection_name: MAIN,
        filter: expr,
        output_fields: ['id', 'f_int32'],
        limit: 50,
        offset,
        consistency_level: STRONG,
      });
      expectOk(res.status, `query limit 50 offset ${offset}`);
      for (const r of res.data) expect(Number(r.f_int32)).toBeGreaterThanOrEqual(1000);
      return res.data.map((r) => String(r.id));
    };
    const first = await page(0);
    const second = await page(50);
    expect(first).toHaveLength(50);
    expect(second).toHaveLength(50);
    expect(new Set([...first, ...second]).size).toBe(100);
  });

  test("query output_fields ['*'] and an empty filter with a limit", async () => {
    const res = await client.query({ collection_name: MAIN, filter: '', limit: 20, output_fields: ['*'], consistency_level: STRONG });
    expectOk(res.status, 'query *');
    expect(res.data).toHaveLength(20);
    for (const r of res.data) {
      checkEntity(r, ['f_bool', 'f_int8', 'f_int16', 'f_int32', 'f_int64', 'f_float', 'f_double', 'f_varchar', 'f_json', 'vector', 'dyn_n', 'dyn_s']);
    }
  });

  test('count(*) with and without a filter', async () => {
    const all = await client.query({ collection_name: MAIN, filter: '', output_fields: ['count(*)'], consistency_level: STRONG });
    expectOk(all.status, 'query count(*)');
    expect(Number(all.data[0]?.['count(*)'])).toBe(mainModel.size);
    const f = FILTERS[0]!;
    const some = await client.query({ collection_name: MAIN, filter: f.expr, output_fields: ['count(*)'], consistency_level: STRONG });
    expectOk(some.status, 'query count(*) with filter');
    expect(Number(some.data[0]?.['count(*)'])).toBe([...mainModel.values()].filter(f.pred).length);
  });

  test('get by ids', async () => {
    const ids = [3, 1500, 2999];
    const res = await client.get({ collection_name: MAIN, ids, output_fields: ['id', 'f_varchar', 'dyn_s'], consistency_level: STRONG });
    expectOk(res.status, 'get');
    expect(res.data.map((r) => String(r.id)).sort()).toEqual(ids.map(String).sort());
    for (const r of res.data) checkEntity(r, ['f_varchar', 'dyn_s']);
  });

  test('delete by expression is visible to the next Strong search and query', async () => {
    const victims = [...mainModel.values()].filter((r) => r.f_int32 < 20);
    const res = await client.delete({ collection_name: MAIN, filter: 'f_int32 < 20' });
    expectOk(res.status, 'delete by expression');
    expect(Number(res.delete_cnt)).toBe(victims.length);
    for (const v of victims) mainModel.delete(String(v.id));

    const q = await client.query({ collection_name: MAIN, filter: 'f_int32 < 20', output_fields: ['id'], consistency_level: STRONG });
    expectOk(q.status, 'query deleted rows');
    expect(q.data).toEqual([]);
    // The deleted rows' own vectors must not find them.
    const results = await searchMain({ data: victims.slice(0, 3).map((v) => v.vector), limit: 5 });
    results.forEach((hits, i) => {
      expect(hits.map(hitId)).not.toContain(String(victims[i]!.id));
      expectExact(hits, bruteForce('L2', mainModel.values(), victims[i]!.vector, 5));
    });
  });

  test('delete by ids', async () => {
    const ids = [100, 101, 102];
    const res = await client.delete({ collection_name: MAIN, ids });
    expectOk(res.status, 'delete by ids');
    for (const id of ids) mainModel.delete(String(id));
    const q = await client.get({ collection_name: MAIN, ids, output_fields: ['id'], consistency_level: STRONG });
    expectOk(q.status, 'get deleted ids');
    expect(q.data).toEqual([]);
    const count = await client.query({ collection_name: MAIN, filter: '', output_fields: ['count(*)'], consistency_level: STRONG });
    expect(Number(count.data[0]?.['count(*)'])).toBe(mainModel.size);
  });

  test('upsert replaces existing rows and adds new ones, visible to the next Strong search', async () => {
    const fresh = makeMainRows(10, 200, 777); // ids 200..209 exist: replaced with new values and vectors
    const added = makeMainRows(5, 100_000, 778); // new ids
    const rows = [...fresh, ...added].map((r) => ({ ...r, f_varchar: `up${r.id}`, dyn_s: 'upserted' }));
    const res = await client.upsert({ collection_name: MAIN, data: rows.map((r) => ({ ...r })) });
    expectOk(res.status, 'upsert');
    expect(Number(res.upsert_cnt)).toBe(rows.length);
    for (const r of rows) mainModel.set(String(r.id), r);

    const q = await client.query({
      collection_name: MAIN,
      filter: 'id in [200, 201, 209, 100000, 100004]',
      output_fields: ['id', 'f_varchar', 'f_float', 'vector', 'dyn_s'],
      consistency_level: STRONG,
    });
    expectOk(q.status, 'query upserted');
    expect(q.data).toHaveLength(5);
    for (const r of q.data) checkEntity(r, ['f_varchar', 'f_float', 'vector', 'dyn_s']);

    const count = await client.count({ collection_name: MAIN });
    expectOk(count.status, 'count');
    expect(count.data).toBe(mainModel.size);

    const results = await searchMain({ data: rows.slice(0, 3).map((r) => r.vector), limit: 3 });
    results.forEach((hits, i) => {
      expect(hitId(hits[0]!)).toBe(String(rows[i]!.id));
      expect(hits[0]!.score as number).toBeLessThan(1e-4);
      expectExact(hits, bruteForce('L2', mainModel.values(), rows[i]!.vector, 3));
    });
  });
});

describe('aliases', () => {
  const OTHER = 'e2e_alias_target';
  test('create/describe/list/alter/drop, search via alias', async () => {
    const created = await client.createCollection({
      collection_name: OTHER,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'vector', data_type: DataType.FloatVector, dim: MAIN_DIM },
      ],
      consistency_level: 'Strong',
    });
    expectOk(created, 'createCollection(alias target)');
    const otherRows = clusteredVectors(50, MAIN_DIM, 5).map((vector, i) => ({ id: 900_000 + i, vector }));
    expectOk((await client.insert({ collection_name: OTHER, data: otherRows })).status, 'insert(alias target)');
    expectOk(
      await client.createIndex({ collection_name: OTHER, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }),
      'createIndex(alias target)',
    );
    await client.loadCollectionSync({ collection_name: OTHER });

    expectOk(await client.createAlias({ collection_name: MAIN, alias: 'e2e_alias' }), 'createAlias');
    const desc = await client.describeAlias({ alias: 'e2e_alias', collection_name: MAIN });
    expectOk(desc.status, 'describeAlias');
    expect(desc.collection).toBe(MAIN);
    const list = await client.listAliases({ collection_name: MAIN });
    expectOk(list.status, 'listAliases');
    expect(list.aliases).toContain('e2e_alias');
    const coll = await client.describeCollection({ collection_name: MAIN });
    expect(coll.aliases).toContain('e2e_alias');

    const viaAlias = await searchMain({ data: mainQueries.slice(0, 2), limit: 10, collection: 'e2e_alias' });
    viaAlias.forEach((hits, q) => expectExact(hits, bruteForce('L2', mainModel.values(), mainQueries[q]!, 10)));

    expectOk(await client.alterAlias({ collection_name: OTHER, alias: 'e2e_alias' }), 'alterAlias');
    const moved = await client.describeAlias({ alias: 'e2e_alias', collection_name: OTHER });
    expectOk(moved.status, 'describeAlias after alter');
    expect(moved.collection).toBe(OTHER);
    const q = await client.query({ collection_name: 'e2e_alias', filter: '', output_fields: ['count(*)'], consistency_level: STRONG });
    expectOk(q.status, 'count(*) via the altered alias');
    expect(Number(q.data[0]?.['count(*)'])).toBe(otherRows.length);

    expectOk(await client.dropAlias({ alias: 'e2e_alias' }), 'dropAlias');
    await expectFailure('describeAlias after drop', () => client.describeAlias({ alias: 'e2e_alias', collection_name: OTHER }));
    await expectAlive();
  });

});
describe('primary keys', () => {
  test('Int64 with auto_id: the server assigns unique ids that query and get find', async () => {
    const name = 'e2e_autoid';
    expectOk(
      await client.createCollection({
        collection_name: name,
        fields: [
          { name: 'pk', data_type: DataType.Int64, is_primary_key: true, autoID: true },
          { name: 'n', data_type: DataType.Int32 },
          { name: 'vector', data_type: DataType.FloatVector, dim: 48 },
        ],
        consistency_level: 'Strong',
      }),
      'createCollection(auto_id)',
    );
    const desc = await client.describeCollection({ collection_name: name });
    expect(desc.schema.fields.find((f) => f.name === 'pk')!.autoID).toBe(true);
    const vectors = clusteredVectors(1000, 48, 11);
    const res = await client.insert({ collection_name: name, data: vectors.map((vector, n) => ({ n, vector })) });
    expectOk(res.status, 'insert(auto_id)');
    const ids = ((res.IDs as { int_id?: { data: string[] } }).int_id?.data ?? []).map(String);
    expect(ids).toHaveLength(1000);
    expect(new Set(ids).size).toBe(1000);

    expectOk(
      await client.createIndex({ collection_name: name, field_name: 'vector', index_type: 'HNSW', metric_type: 'L2', params: { M: 8, efConstruction: 64 } }),
      'createIndex(auto_id)',
    );
    await client.loadCollectionSync({ collection_name: name });
    const picked = [0, 1, 500, 999];
    const got = await client.get({ collection_name: name, ids: picked.map((i) => ids[i]!), output_fields: ['pk', 'n'], consistency_level: STRONG });
    expectOk(got.status, 'get(auto_id)');
    const byId = new Map(got.data.map((r) => [String(r.pk), Number(r.n)]));
    for (const i of picked) expect(byId.get(ids[i]!)).toBe(i);

    const search = await client.search({ collection_name: name, data: [vectors[500]!], limit: 1, output_fields: ['pk', 'n'], params: { ef: 32 }, consistency_level: STRONG });
    expectOk(search.status, 'search(auto_id)');
    const hit = (search.results as unknown as Record<string, unknown>[])[0]!;
    expect(String(hit.pk)).toBe(ids[500]);
    expect(Number(hit.n)).toBe(500);
  });

  test('VarChar primary key: insert, query, search, delete by ids', async () => {
    const name = 'e2e_varchar_pk';
    expectOk(
      await client.createCollection({
        collection_name: name,
        fields: [
          { name: 'key', data_type: DataType.VarChar, is_primary_key: true, max_length: 64 },
          { name: 'n', data_type: DataType.Int32 },
          { name: 'vector', data_type: DataType.FloatVector, dim: MAIN_DIM },
        ],
        consistency_level: 'Strong',
      }),
      'createCollection(varchar pk)',
    );
    const rows = clusteredVectors(600, MAIN_DIM, 21).map((vector, n) => ({ key: `k-${n}`, n, vector, id: `k-${n}` }));
    const res = await client.insert({ collection_name: name, data: rows.map(({ key, n, vector }) => ({ key, n, vector })) });
    expectOk(res.status, 'insert(varchar pk)');
    expect((res.IDs as { str_id?: { data: string[] } }).str_id?.data).toEqual(rows.map((r) => r.key));
    expectOk(
      await client.createIndex({ collection_name: name, field_name: 'vector', index_type: 'IVF_FLAT', metric_type: 'COSINE', params: { nlist: 16 } }),
      'createIndex(varchar pk)',
    );
    await client.loadCollectionSync({ collection_name: name });

    const q = await client.query({ collection_name: name, filter: 'key in ["k-1", "k-42", "nope"]', output_fields: ['key', 'n'], consistency_level: STRONG });
    expectOk(q.status, 'query(varchar pk)');
    expect(q.data.map((r) => `${r.key}:${r.n}`).sort()).toEqual(['k-1:1', 'k-42:42']);

    const queries = queriesNear(rows.map((r) => r.vector), 3, 22);
    const s = await client.search({ collection_name: name, data: queries, limit: 10, output_fields: ['key'], params: { nprobe: 16 }, consistency_level: STRONG });
    expectOk(s.status, 'search(varchar pk)');
    (s.results as unknown as Record<string, unknown>[][]).forEach((hits, i) => {
      const truth = bruteForce('COSINE', rows, queries[i]!, 10);
      expect(hits.map((h) => String(h.key))).toEqual(truth.map((t) => t.id));
    });

    const del = await client.delete({ collection_name: name, ids: ['k-1', 'k-2'] });
    expectOk(del.status, 'delete(varchar pk)');
    const after = await client.get({ collection_name: name, ids: ['k-1', 'k-2', 'k-3'], output_fields: ['key'], consistency_level: STRONG });
    expectOk(after.status, 'get after delete(varchar pk)');
    expect(after.data.map((r) => String(r.key))).toEqual(['k-3']);
  });
});

describe('query iterator', () => {
  // The SDK pages with `pk > last` and a limit, and sends nothing else: a limited query must return the smallest
  // keys in key order (Milvus's behaviour), or rows repeat and others are skipped.
  test.each([
    { kind: 'VarChar', type: DataType.VarChar, shards: 2 },
    { kind: 'Int64', type: DataType.Int64, shards: 3 },
  ] as const)('queryIterator over $kind keys in $shards shards returns every row once', async ({ type, shards }) => {
    const name = `e2e_iter_${type}`;
    const pk = type === DataType.VarChar ? { name: 'pk', data_type: type, is_primary_key: true, max_length: 32 } : { name: 'pk', data_type: type, is_primary_key: true };
    expectOk(await client.createCollection({
      collection_name: name, shards_num: shards, consistency_level: 'Strong',
      fields: [pk, { name: 'n', data_type: DataType.Int32 }, { name: 'vector', data_type: DataType.FloatVector, dim: 4 }],
    }), `createCollection(${name})`);
    const next = rng(shards);
    const order = Array.from({ length: 600 }, (_, i) => i).sort(() => next() - 0.5);
    const key = (i: number): string | number => (type === DataType.VarChar ? `k${(i * 7919) % 10007}` : i * 31 - 9000);
    const rows = order.map((i) => ({ pk: key(i), n: i, vector: [next(), next(), next(), next()] }));
    expectOk((await client.insert({ collection_name: name, data: rows.slice(0, 300) })).status, 'insert first half');
    expectOk((await client.flush({ collection_names: [name] })).status, 'flush');
    expectOk((await client.insert({ collection_name: name, data: rows.slice(300) })).status, 'insert second half');
    expectOk(await client.createIndex({ collection_name: name, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2', params: {} }), 'createIndex');
    await client.loadCollectionSync({ collection_name: name });
    const it = await client.queryIterator({ collection_name: name, batchSize: 37, expr: 'n >= 0', output_fields: ['pk'], consistency_level: STRONG });
    const seen: string[] = [];
    for await (const page of it) seen.push(...(page as { pk: string | number }[]).map((r) => String(r.pk)));
    expect(seen.length - new Set(seen).size).toBe(0);
    expect(new Set(seen)).toEqual(new Set(rows.map((r) => String(r.pk))));
  });
});

describe('partitions', () => {
  const name = 'e2e_partitions';
  const dim = 32;
  const p1Rows = clusteredVectors(400, dim, 31).map((vector, i) => ({ id: i, vector }));
  const p2Rows = clusteredVectors(300, dim, 32).map((vector, i) => ({ id: 10_000 + i, vector }));

  test('create/show/has partitions, insert into them', async () => {
    expectOk(
      await client.createCollection({
        collection_name: name,
        fields: [
          { name: 'id', data_type: DataType.Int64, is_primary_key: true },
          { name: 'vector', data_type: DataType.FloatVector, dim },
        ],
        consistency_level: 'Strong',
      }),
      'createCollection(partitions)',
    );
    expectOk(await client.createPartition({ collection_name: name, partition_name: 'p1' }), 'createPartition p1');
    expectOk(await client.createPartition({ collection_name: name, partition_name: 'p2' }), 'createPartition p2');
    const show = await client.showPartitions({ collection_name: name });
    expectOk(show.status, 'showPartitions');
    expect([...show.partition_names].sort()).toEqual(['_default', 'p1', 'p2']);
    const has = await client.hasPartition({ collection_name: name, partition_name: 'p1' });
    expectOk(has.status, 'hasPartition');
    expect(has.value).toBe(true);
    const hasNot = await client.hasPartition({ collection_name: name, partition_name: 'p9' });
    expectOk(hasNot.status, 'hasPartition(missing)');
    expect(hasNot.value).toBe(false);

    expectOk((await client.insert({ collection_name: name, partition_name: 'p1', data: p1Rows })).status, 'insert p1');
    expectOk((await client.insert({ collection_name: name, partition_name: 'p2', data: p2Rows })).status, 'insert p2');
    expectOk(
      await client.createIndex({ collection_name: name, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }),
      'createIndex(partitions)',
    );
  });

  test('load one partition: search and query see only it', async () => {
    expectOk(await client.loadPartitions({ collection_name: name, partition_names: ['p1'] }), 'loadPartitions p1');
    await eventually('p1 loaded', async () => {
      const st = await client.getLoadState({ collection_name: name, partition_names: ['p1'] });
      expectOk(st.status, 'getLoadState(p1)');
      return st.state === LoadState.LoadStateLoaded ? true : undefined;
    });
    const q = p2Rows[0]!.vector; // a p2 vector: a search over p1 must not return p2 rows
    const s = await client.search({ collection_name: name, partition_names: ['p1'], data: [q], limit: 10, output_fields: ['id'], consistency_level: STRONG });
    expectOk(s.status, 'search p1');
    const hits = s.results as unknown as Record<string, unknown>[];
    expect(hits.map((h) => String(h.id))).toEqual(bruteForce('L2', p1Rows, q, 10).map((t) => t.id));

    const count = await client.query({ collection_name: name, partition_names: ['p1'], filter: '', output_fields: ['count(*)'], consistency_level: STRONG });
    expectOk(count.status, 'count(*) p1');
    expect(Number(count.data[0]?.['count(*)'])).toBe(p1Rows.length);

  });

  test('search and query in a partition that is not loaded are errors', async () => {
    const q = p2Rows[0]!.vector;
    const problems: string[] = [];
    await expectFailure('search in an unloaded partition', () =>
      client.search({ collection_name: name, partition_names: ['p2'], data: [q], limit: 3, consistency_level: STRONG }),
    ).catch((err: Error) => problems.push(err.message.slice(0, 300)));
    await expectFailure('query in an unloaded partition', () =>
      client.query({ collection_name: name, partition_names: ['p2'], filter: 'id >= 0', output_fields: ['id'], consistency_level: STRONG }),
    ).catch((err: Error) => problems.push(err.message.slice(0, 300)));
    // Without partition_names a search covers the loaded partitions only.
    const all = await client.search({ collection_name: name, data: [q], limit: 10, output_fields: ['id'], consistency_level: STRONG });
    expectOk(all.status, 'search without partition_names');
    const ids = (all.results as unknown as Record<string, unknown>[]).map((h) => String(h.id));
    const want = bruteForce('L2', p1Rows, q, 10).map((t) => t.id);
    if (JSON.stringify(ids) !== JSON.stringify(want)) {
      problems.push(`search without partition_names returned ${ids.join(',')}; the loaded partition p1 gives ${want.join(',')}`);
    }
    await expectAlive();
    expect(problems).toEqual([]);
  });

  test('release the partition, drop the other', async () => {
    expectOk(await client.releasePartitions({ collection_name: name, partition_names: ['p1'] }), 'releasePartitions');
    await eventually('p1 released', async () => {
      const st = await client.getLoadState({ collection_name: name, partition_names: ['p1'] });
      expectOk(st.status, 'getLoadState after release');
      return st.state === LoadState.LoadStateNotLoad ? true : undefined;
    });
    expectOk(await client.dropPartition({ collection_name: name, partition_name: 'p2' }), 'dropPartition p2');
    const has = await client.hasPartition({ collection_name: name, partition_name: 'p2' });
    expect(has.value).toBe(false);
    const show = await client.showPartitions({ collection_name: name });
    expect([...show.partition_names].sort()).toEqual(['_default', 'p1']);
    await expectAlive();
  });
});

interface IndexSpec {
  index_type: string;
  metric: Metric;
  dim: number;
  params: Record<string, number>;
  search: Record<string, number>;
  exact: boolean;
  /** Scores are the true distances (not quantized approximations). */
  trueScores: boolean;
}

const INDEX_SPECS: IndexSpec[] = [
  { index_type: 'FLAT', metric: 'IP', dim: 32, params: {}, search: {}, exact: true, trueScores: true },
  { index_type: 'FLAT', metric: 'COSINE', dim: 40, params: {}, search: {}, exact: true, trueScores: true },
  { index_type: 'IVF_FLAT', metric: 'L2', dim: 64, params: { nlist: 32 }, search: { nprobe: 16 }, exact: false, trueScores: true },
  { index_type: 'IVF_SQ8', metric: 'IP', dim: 64, params: { nlist: 32 }, search: { nprobe: 16 }, exact: false, trueScores: false },
  // m = dim: one dimension per sub-quantizer, so PQ's error stays small enough for recall@10 >= 0.9.
  { index_type: 'IVF_PQ', metric: 'L2', dim: 64, params: { nlist: 32, m: 64, nbits: 8 }, search: { nprobe: 16 }, exact: false, trueScores: false },
  { index_type: 'HNSW', metric: 'COSINE', dim: 128, params: { M: 16, efConstruction: 128 }, search: { ef: 64 }, exact: false, trueScores: true },
  { index_type: 'HNSW', metric: 'L2', dim: 64, params: { M: 16, efConstruction: 128 }, search: { ef: 64 }, exact: false, trueScores: true },
  { index_type: 'AUTOINDEX', metric: 'IP', dim: 64, params: {}, search: {}, exact: false, trueScores: false },
];

describe('vector indexes against brute force', () => {
  const ROWS = 2000;
  test.each(INDEX_SPECS.map((s) => [`${s.index_type}/${s.metric} dim ${s.dim}`, s] as const))('%s', async (_label, spec) => {
    const name = `e2e_idx_${spec.index_type.toLowerCase()}_${spec.metric.toLowerCase()}`;
    expectOk(
      await client.createCollection({
        collection_name: name,
        fields: [
          { name: 'id', data_type: DataType.Int64, is_primary_key: true },
          { name: 'vector', data_type: DataType.FloatVector, dim: spec.dim },
        ],
        consistency_level: 'Strong',
      }),
      `createCollection(${name})`,
    );
    const rows = clusteredVectors(ROWS, spec.dim, spec.dim * 7 + spec.index_type.length).map((vector, i) => ({ id: i, vector }));
    for (const batch of chunks(rows, 1000)) {
      expectOk((await client.insert({ collection_name: name, data: batch })).status, `insert(${name})`);
    }
    expectOk((await client.flush({ collection_names: [name] })).status, `flush(${name})`);
    expectOk(
      await client.createIndex({ collection_name: name, field_name: 'vector', index_type: spec.index_type, metric_type: spec.metric, params: spec.params }),
      `createIndex(${spec.index_type}/${spec.metric})`,
    );
    const desc = await client.describeIndex({ collection_name: name, field_name: 'vector' });
    expectOk(desc.status, 'describeIndex');
    const params = Object.fromEntries(desc.index_descriptions[0]!.params.map((p) => [p.key, p.value]));
    expect(params.index_type).toBe(spec.index_type);
    expect(params.metric_type).toBe(spec.metric);
    // Milvus 2.4+ returns each build parameter the user set as its own key, its value a string.
    for (const [k, v] of Object.entries(spec.params ?? {})) expect(params[k]).toBe(String(v));
    expect(params.params).toBeUndefined();
    await waitIndexBuilt(client, name, 'vector');
    await client.loadCollectionSync({ collection_name: name });

    const queries = queriesNear(rows.map((r) => r.vector), 10, spec.dim + 3);
    const res = await client.search({
      collection_name: name,
      data: queries,
      limit: 10,
      output_fields: ['id'],
      params: spec.search,
      consistency_level: STRONG,
    });
    expectOk(res.status, `search(${spec.index_type}/${spec.metric})`);
    const results = res.results as unknown as Record<string, unknown>[][];
    expect(results).toHaveLength(queries.length);
    let total = 0;
    results.forEach((hits, q) => {
      const truth = bruteForce(spec.metric, rows, queries[q]!, 10);
      expect(hits).toHaveLength(10);
      const ids = hits.map((h) => String(h.id));
      expect(new Set(ids).size).toBe(ids.length);
      if (spec.exact) expect(ids).toEqual(truth.map((t) => t.id));
      total += recall(ids, truth.map((t) => t.id));
      // Hits come best first.
      for (let i = 1; i < hits.length; i++) {
        const prev = hits[i - 1]!.score as number;
        const cur = hits[i]!.score as number;
        expect(spec.metric === 'L2' ? cur >= prev - 1e-6 : cur <= prev + 1e-6).toBe(true);
      }
      if (spec.trueScores) {
        for (const h of hits) {
          const want = score(spec.metric, queries[q]!, rows[Number(h.id)]!.vector);
          expect(Math.abs((h.score as number) - want)).toBeLessThanOrEqual(2e-3 * Math.max(1, Math.abs(want)));
        }
      }
    });
    const meanRecall = total / results.length;
    if (meanRecall < 0.9) throw new Error(`${spec.index_type}/${spec.metric}: recall@10 ${meanRecall.toFixed(3)} < 0.9`);

    // Done with it: release and drop (also covers dropCollection).
    expectOk(await client.releaseCollection({ collection_name: name }), `releaseCollection(${name})`);
    expectOk(await client.dropCollection({ collection_name: name }), `dropCollection(${name})`);
    const has = await client.hasCollection({ collection_name: name });
    expect(has.value).toBe(false);
    const show = await client.showCollections();
    expect(show.data.map((c) => c.name)).not.toContain(name);
  });
});

describe('index and load lifecycle', () => {
  const name = 'e2e_lifecycle';
  test('load, release, dropIndex, re-index, load again', async () => {
    expectOk(
      await client.createCollection({
        collection_name: name,
        fields: [
          { name: 'id', data_type: DataType.Int64, is_primary_key: true },
          { name: 'vector', data_type: DataType.FloatVector, dim: 32 },
        ],
        consistency_level: 'Strong',
      }),
      'createCollection(lifecycle)',
    );
    const rows = clusteredVectors(500, 32, 41).map((vector, i) => ({ id: i, vector }));
    expectOk((await client.insert({ collection_name: name, data: rows })).status, 'insert(lifecycle)');
    expectOk(
      await client.createIndex({ collection_name: name, field_name: 'vector', index_name: 'first', index_type: 'HNSW', metric_type: 'L2', params: { M: 8, efConstruction: 64 } }),
      'createIndex HNSW',
    );
    await client.loadCollectionSync({ collection_name: name });
    const st = await client.getLoadState({ collection_name: name });
    expect(st.state).toBe(LoadState.LoadStateLoaded);

    expectOk(await client.releaseCollection({ collection_name: name }), 'releaseCollection');
    const released = await client.getLoadState({ collection_name: name });
    expectOk(released.status, 'getLoadState after release');
    expect(released.state).toBe(LoadState.LoadStateNotLoad);
    await expectFailure('search after release', () =>
      client.search({ collection_name: name, data: [rows[0]!.vector], limit: 3, consistency_level: STRONG }),
    );

    expectOk(await client.dropIndex({ collection_name: name, field_name: 'vector', index_name: 'first' }), 'dropIndex');
    await expectFailure('describeIndex after dropIndex', () => client.describeIndex({ collection_name: name, field_name: 'vector' }));

    expectOk(
      await client.createIndex({ collection_name: name, field_name: 'vector', index_name: 'second', index_type: 'IVF_FLAT', metric_type: 'IP', params: { nlist: 8 } }),
      'createIndex IVF_FLAT after drop',
    );
    await client.loadCollectionSync({ collection_name: name });
    const res = await client.search({ collection_name: name, data: [rows[7]!.vector], limit: 5, output_fields: ['id'], params: { nprobe: 8 }, consistency_level: STRONG });
    expectOk(res.status, 'search after re-index');
    const hits = res.results as unknown as Record<string, unknown>[];
    expect(hits.map((h) => String(h.id))).toEqual(bruteForce('IP', rows, rows[7]!.vector, 5).map((t) => t.id));
    await expectAlive();
  });
});

describe('errors are statuses, and the server keeps answering', () => {
  /** Messages that say where in the expression the problem is ("line 1:7", "position 7", "column 7", ...). */
  const POSITION = /(line\s*\d+\s*:\s*\d+|\d+:\d+|position\s*:?\s*\d+|col(umn)?\s*:?\s*\d+|offset\s*:?\s*\d+|at\s+(char(acter)?\s+)?\d+)/i;
  const row = (overrides: RowData): RowData => ({ ...(makeMainRows(1, 500_000, 5)[0]! as unknown as RowData), ...overrides });

  test('unknown collection', async () => {
    const missing = 'e2e_does_not_exist';
    await expectFailure('describeCollection(missing)', () => client.describeCollection({ collection_name: missing }));
    await expectFailure('getCollectionStatistics(missing)', () => client.getCollectionStatistics({ collection_name: missing }));
    await expectFailure('loadCollectionAsync(missing)', () => client.loadCollectionAsync({ collection_name: missing }));
    await expectFailure('query(missing)', () => client.query({ collection_name: missing, filter: 'id > 0', consistency_level: STRONG }));
    await expectFailure('insert(missing)', () => client.insert({ collection_name: missing, data: [{ id: 1, vector: [1, 2] }] }));
    await expectFailure('createIndex(missing)', () =>
      client.createIndex({ collection_name: missing, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }),
    );
    await expectAlive();
  });

  test('wrong dimension in insert and in search', async () => {
    const short = mainQueries[0]!.slice(0, MAIN_DIM - 1);
    const out = await expectFailure('insert with a 31-d vector into a 32-d field', () =>
      client.insert({ collection_name: MAIN, data: [row({ vector: short })] }),
    );
    expect(out.kind).toBe('server');
    await expectFailure('insert with a 33-d vector (two rows)', () =>
      client.insert({ collection_name: MAIN, data: [row({ id: 500_001, vector: [...mainQueries[0]!, 0.5] }), row({ id: 500_002 })] }),
    );
    const s = await expectFailure('search with a 31-d query vector', () =>
      client.search({ collection_name: MAIN, data: [short], limit: 3, consistency_level: STRONG }),
    );
    expect(s.kind).toBe('server');
    await expectAlive();
    const gone = await client.get({ collection_name: MAIN, ids: [500_000, 500_001, 500_002], output_fields: ['id'], consistency_level: STRONG });
    expectOk(gone.status, 'get rejected rows');
    expect(gone.data).toEqual([]);
  });

  test('missing field', async () => {
    const noInt32 = { ...row({}) };
    delete noInt32.f_int32;
    const a = await expectFailure('insert without f_int32', () => client.insert({ collection_name: MAIN, data: [noInt32] }));
    expect(a.kind).toBe('server');
    const noVector = { ...row({}) };
    delete noVector.vector;
    const b = await expectFailure('insert without the vector', () => client.insert({ collection_name: MAIN, data: [noVector] }));
    expect(b.kind).toBe('server');
    await expectAlive();
  });

  test('mistyped values: out of range Int8, too long VarChar, NaN in a vector', async () => {
    // The SDK's protobuf encoder coerces a string in an Int32 field to 0, so a wrong JS type never reaches the
    // server; these are the type violations that do.
    const ids = [500_010, 500_011, 500_012];
    try {
      const a = await expectFailure('insert Int8 = 1000', () =>
        client.insert({ collection_name: MAIN, data: [row({ id: ids[0]!, f_int8: 1000 })] }),
      );
      expect(a.kind).toBe('server');
      const b = await expectFailure('insert VarChar longer than max_length', () =>
        client.insert({ collection_name: MAIN, data: [row({ id: ids[1]!, f_varchar: 'x'.repeat(65) })] }),
      );
      expect(b.kind).toBe('server');
      // The Node SDK turns NaN into 0 on its own for collections with the dynamic field (it round-trips such rows
      // through JSON), so the NaN check uses a collection without one, where NaN reaches the server.
      const plain = 'e2e_nan';
      await client.createCollection({
        collection_name: plain,
        fields: [
          { name: 'id', data_type: DataType.Int64, is_primary_key: true },
          { name: 'vector', data_type: DataType.FloatVector, dim: MAIN_DIM },
        ],
      });
      const nan = [...mainQueries[0]!];
      nan[3] = Number.NaN;
      const c = await expectFailure('insert a vector with NaN', () =>
        client.insert({ collection_name: plain, data: [{ id: ids[2]!, vector: nan }] }),
      );
      expect(c.kind).toBe('server');
      expect(c.message).toMatch(/NaN/);
      await client.dropCollection({ collection_name: plain });
      await expectAlive();
    } finally {
      // A row the server wrongly accepted must not skew the counts checked by later tests.
      await client.delete({ collection_name: MAIN, ids });
    }
  });

  test('bad expressions: the message carries a position', async () => {
    const q = await expectFailure('query with a syntax error', () =>
      client.query({ collection_name: MAIN, filter: 'f_int32 >>> 5', output_fields: ['id'], consistency_level: STRONG }),
    );
    expect(q.kind).toBe('server');
    expect(q.message).toMatch(POSITION);
    const s = await expectFailure('search with a syntax error', () =>
      client.search({ collection_name: MAIN, data: [mainQueries[0]!], limit: 3, filter: 'f_int32 in [1, 2', consistency_level: STRONG }),
    );
    expect(s.kind).toBe('server');
    expect(s.message).toMatch(POSITION);
    const d = await expectFailure('delete with a syntax error', () => client.delete({ collection_name: MAIN, filter: 'id == == 3' }));
    expect(d.kind).toBe('server');
    await expectFailure('comparing a VarChar field with a number', () =>
      client.query({ collection_name: MAIN, filter: 'f_varchar > 5', output_fields: ['id'], consistency_level: STRONG }),
    );
    await expectFailure('query with an empty filter and no limit', () =>
      client.query({ collection_name: MAIN, filter: '', output_fields: ['id'], consistency_level: STRONG }),
    );
    await expectAlive();
    const count = await client.count({ collection_name: MAIN });
    expect(count.data).toBe(mainModel.size);
  });

  test('duplicate collection: another schema fails, the same schema is accepted', async () => {
    const other = await expectFailure('createCollection(main) with another schema', () =>
      client.createCollection({
        collection_name: MAIN,
        fields: [
          { name: 'id', data_type: DataType.Int64, is_primary_key: true },
          { name: 'vector', data_type: DataType.FloatVector, dim: 16 },
        ],
      }),
    );
    expect(other.kind).toBe('server');
    const same = await client.createCollection({ collection_name: MAIN, fields: mainFields, enable_dynamic_field: true, consistency_level: 'Strong' });
    expectOk(same, 'createCollection(main) again with the same schema');
    const desc = await client.describeCollection({ collection_name: MAIN });
    expect(desc.schema.fields.find((f) => f.name === 'vector')!.type_params.find((p) => p.key === 'dim')?.value).toBe(String(MAIN_DIM));
    await expectAlive();
  });

  test('index on a missing field', async () => {
    const out = await expectFailure('createIndex on a missing field', () =>
      client.createIndex({ collection_name: MAIN, field_name: 'no_such_field', index_type: 'HNSW', metric_type: 'L2', params: { M: 8, efConstruction: 32 } }),
    );
    expect(out.kind).toBe('server');
    await expectAlive();
  });

  test('search and query on a collection that was never loaded', async () => {
    const name = 'e2e_never_loaded';
    expectOk(
      await client.createCollection({
        collection_name: name,
        fields: [
          { name: 'id', data_type: DataType.Int64, is_primary_key: true },
          { name: 'vector', data_type: DataType.FloatVector, dim: 32 },
        ],
      }),
      'createCollection(never loaded)',
    );
    expectOk((await client.insert({ collection_name: name, data: [{ id: 1, vector: mainQueries[0]! }] })).status, 'insert(never loaded)');
    expectOk(
      await client.createIndex({ collection_name: name, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }),
      'createIndex(never loaded)',
    );
    const st = await client.getLoadState({ collection_name: name });
    expectOk(st.status, 'getLoadState(never loaded)');
    expect(st.state).toBe(LoadState.LoadStateNotLoad);
    const s = await expectFailure('search before load', () =>
      client.search({ collection_name: name, data: [mainQueries[0]!], limit: 1, consistency_level: STRONG }),
    );
    expect(s.kind).toBe('server');
    await expectFailure('query before load', () => client.query({ collection_name: name, filter: 'id > 0', consistency_level: STRONG }));
    await expectAlive();
  });
});
