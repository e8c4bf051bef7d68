/**
 * SparseFloatVector end to end through the Node SDK on Kite standalone: rows inserted in the SDK's four sparse
 * forms, searched on growing data, after a flush with SPARSE_INVERTED_INDEX and with SPARSE_WAND (both give the
 * brute-force answer), after a kill -9 and restart (sealed segments reloaded, the rest replayed from the WAL), with a
 * filter, with deletes and drop_ratio_search, the sparse field returned in output_fields, and bad input refused
 * with errors naming the field.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { ConsistencyLevelEnum, DataType, LoadState, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { eventually, flushAndWait, expectFailure, expectOk, rng, waitIndexBuilt } from './helpers';

jest.setTimeout(300_000);

const STRONG = ConsistencyLevelEnum.Strong;
const NAME = 'e2e_sparse';
const VOCAB = 300;

let server: Standalone;
let client: MilvusClient;

type Sparse = Map<number, number>;

interface Row {
  id: number;
  tag: number;
  sv: Sparse;
}

/** Rows with 0..12 non-zero dimensions out of VOCAB, float32 values (so the server's copy is ours bit for bit). */
function makeRows(from: number, n: number, seed: number): Row[] {
  const next = rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const sv: Sparse = new Map();
    const nnz = Math.floor(next() * 13);
    while (sv.size < nnz) sv.set(Math.floor(next() * VOCAB), Math.fround(0.05 + next()));
    return { id: from + i, tag: (from + i) % 100, sv };
  });
}

/** The same row in each of the Node SDK's sparse forms in turn: dict, csr, coo and a dense array with holes. */
function sdkForm(sv: Sparse, i: number): unknown {
  const entries = [...sv].sort((a, b) => a[0] - b[0]);
  switch (i % 4) {
    case 0:
      return Object.fromEntries(entries.map(([k, v]) => [String(k), v]));
    case 1:
      return { indices: entries.map(([k]) => k), values: entries.map(([, v]) => v) };
    case 2:
      // coo in descending index order: the server sorts it.
      return entries.reverse().map(([index, value]) => ({ index, value }));
    default: {
      const arr: (number | undefined)[] = [];
      for (const [k, v] of entries) arr[k] = v;
      return arr;
    }
  }
}

function ip(a: Sparse, b: Sparse): { score: number; hit: boolean } {
  let score = 0;
  let hit = false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w !== undefined) {
      hit = true;
      score += v * w;
    }
  }
  return { score, hit };
}

/** Every row sharing a dimension with the query, by inner product, best first. */
function bruteForce(rows: Iterable<Row>, q: Sparse, k: number, keep: (r: Row) => boolean = () => true): { id: number; score: number }[] {
  const out: { id: number; score: number }[] = [];
  for (const r of rows) {
    if (!keep(r)) continue;
    const s = ip(q, r.sv);
    if (s.hit) out.push({ id: r.id, score: s.score });
  }
  return out.sort((a, b) => b.score - a.score || a.id - b.id).slice(0, k);
}

function dropSmallest(q: Sparse, ratio: number): Sparse {
  const entries = [...q].sort((a, b) => a[0] - b[0]);
  const order = entries.map((_, i) => i).sort((a, b) => Math.abs(entries[a]![1]) - Math.abs(entries[b]![1]) || a - b);
  const keep = new Set(order.slice(Math.floor(entries.length * ratio)));
  return new Map(entries.filter((_, i) => keep.has(i)));
}

const live = new Map<number, Row>();

async function insert(rows: Row[]): Promise<void> {
  const res = await client.insert({
    collection_name: NAME,
    data: rows.map((r, i) => ({ id: r.id, tag: r.tag, dense: [r.tag / 100, 1], sv: sdkForm(r.sv, i) as never })),
  });
  expectOk(res.status, 'insert');
  expect(Number(res.insert_cnt)).toBe(rows.length);
  for (const r of rows) live.set(r.id, r);
}

const queries = makeRows(0, 12, 99).map((r) => r.sv).filter((q) => q.size > 0);

async function search(q: Sparse[], k: number, extra: Record<string, unknown> = {}): Promise<{ id: number; score: number; row: Record<string, unknown> }[][]> {
  const res = await client.search({
    collection_name: NAME,
    anns_field: 'sv',
    data: q.map((m) => Object.fromEntries([...m].map(([kk, v]) => [String(kk), v]))),
    limit: k,
    output_fields: ['id'],
    consistency_level: STRONG,
    ...extra,
  } as never);
  expectOk(res.status, 'search');
  const results = (q.length === 1 ? [res.results] : res.results) as unknown as Record<string, unknown>[][];
  return results.map((hits) => hits.map((h) => ({ id: Number(h.id), score: Number(h.score), row: h })));
}

async function expectBruteForce(what: string, k = 10, keep?: (r: Row) => boolean, filter?: string, ratio = 0): Promise<void> {
  const got = await search(queries, k, { ...(filter ? { filter } : {}), ...(ratio ? { params: { drop_ratio_search: ratio } } : {}) });
  queries.forEach((q, i) => {
    const want = bruteForce(live.values(), ratio ? dropSmallest(q, ratio) : q, k, keep);
    expect({ what, q: i, ids: got[i]!.map((h) => h.id) }).toEqual({ what, q: i, ids: want.map((h) => h.id) });
    got[i]!.forEach((h, j) => expect(h.score).toBeCloseTo(want[j]!.score, 4));
  });
}

beforeAll(async () => {
  server = await startStandalone();
  client = new MilvusClient({ address: server.address, timeout: 60_000 });
  await client.connectPromise;
}, 150_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  await server?.dispose();
});

test('schema rules: a sparse field has no dim and cannot be the primary key', async () => {
  const pk = await expectFailure('sparse primary key', () =>
    client.createCollection({
      collection_name: 'e2e_sparse_bad',
      fields: [
        { name: 'sv', data_type: DataType.SparseFloatVector, is_primary_key: true },
        { name: 'v', data_type: DataType.FloatVector, dim: 2 },
      ],
    }),
  );
  // The Node SDK refuses it before sending; the server's own check answers `primary key field "sv" must be Int64 or VarChar`.
  expect(pk.message).toMatch(/primary key/);
  // A collection whose only vector field is sparse is fine.
  expectOk(
    await client.createCollection({
      collection_name: 'e2e_sparse_only',
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'sv', data_type: DataType.SparseFloatVector },
      ],
    }),
    'createCollection sparse only',
  );
  const d = await client.describeCollection({ collection_name: 'e2e_sparse_only' });
  expectOk(d.status, 'describeCollection');
  const f = d.schema.fields.find((x) => x.name === 'sv')!;
  expect(f.data_type).toBe('SparseFloatVector');
  expect(f.type_params.find((p) => p.key === 'dim')).toBeUndefined();
  const badMetric = await expectFailure('sparse index with L2', () =>
    client.createIndex({ collection_name: 'e2e_sparse_only', field_name: 'sv', index_type: 'SPARSE_INVERTED_INDEX', metric_type: 'L2' }),
  );
  expect(badMetric.message).toMatch(/metric type L2 not found or not supported for SparseFloatVector field sv, supported: \[IP\]/);
  const badType = await expectFailure('HNSW on a sparse field', () =>
    client.createIndex({ collection_name: 'e2e_sparse_only', field_name: 'sv', index_type: 'HNSW', metric_type: 'IP' }),
  );
  expect(badType.message).toMatch(/index_type "HNSW" is not supported for SparseFloatVector field sv/);
  const badRatio = await expectFailure('drop_ratio_build 1', () =>
    client.createIndex({ collection_name: 'e2e_sparse_only', field_name: 'sv', index_type: 'SPARSE_WAND', metric_type: 'IP', params: { drop_ratio_build: 1 } }),
  );
  expect(badRatio.message).toMatch(/drop_ratio_build .* must be in range \[0, 1\)/);
  // AUTOINDEX on a sparse field is the inverted index, with IP.
  expectOk(await client.createIndex({ collection_name: 'e2e_sparse_only', field_name: 'sv', index_type: 'AUTOINDEX', metric_type: 'IP' }), 'AUTOINDEX');
  const idx = await client.describeIndex({ collection_name: 'e2e_sparse_only', field_name: 'sv' });
  expectOk(idx.status, 'describeIndex');
  expect(idx.index_descriptions[0]!.params.find((p) => p.key === 'metric_type')?.value).toBe('IP');
  expectOk(await client.dropCollection({ collection_name: 'e2e_sparse_only' }), 'drop');
});

test('insert, search growing and sealed (both index types), filters, deletes, drop_ratio_search, output, restart', async () => {
  expectOk(
    await client.createCollection({
      collection_name: NAME,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'tag', data_type: DataType.Int32 },
        { name: 'dense', data_type: DataType.FloatVector, dim: 2 },
        { name: 'sv', data_type: DataType.SparseFloatVector },
      ],
      consistency_level: 'Strong',
    }),
    'createCollection',
  );
  expectOk(await client.createIndex({ collection_name: NAME, field_name: 'dense', index_type: 'FLAT', metric_type: 'L2' }), 'dense index');
  expectOk(await client.createIndex({ collection_name: NAME, field_name: 'sv', index_type: 'SPARSE_INVERTED_INDEX', metric_type: 'IP' }), 'sparse index');
  await client.loadCollectionSync({ collection_name: NAME });

  // Growing rows.
  await insert(makeRows(0, 600, 1));
  await insert([{ id: 600, tag: 0, sv: new Map() }]); // an empty row: stored, never a hit
  await expectBruteForce('growing');
  await expectBruteForce('growing, filtered', 10, (r) => r.tag < 30, 'tag < 30');

  // The sparse field comes back as the SDK reads it (a dict of index -> value).
  const out = await search([queries[0]!], 5, { output_fields: ['id', 'sv'] });
  for (const h of out[0]!) {
    const sv = h.row.sv as Record<string, number>;
    expect(new Map(Object.entries(sv).map(([k, v]) => [Number(k), v]))).toEqual(live.get(h.id)!.sv);
  }
  const q = await client.query({ collection_name: NAME, filter: 'id in [600, 7]', output_fields: ['id', 'sv'], consistency_level: STRONG });
  expectOk(q.status, 'query');
  const byId = new Map(q.data.map((r) => [Number(r.id), r.sv as Record<string, number>]));
  expect(Object.keys(byId.get(600)!)).toEqual([]);
  expect(new Map(Object.entries(byId.get(7)!).map(([k, v]) => [Number(k), v]))).toEqual(live.get(7)!.sv);

  // Sealed and indexed.
  await flushAndWait(client, NAME);
  await waitIndexBuilt(client, NAME, 'sv');
  await insert(makeRows(1000, 300, 2)); // growing again, next to the sealed segment
  await expectBruteForce('sealed (SPARSE_INVERTED_INDEX) + growing');
  await expectBruteForce('sealed, filtered', 15, (r) => r.tag % 3 === 0, 'tag % 3 == 0');

  // Deletes, in sealed and growing rows.
  const gone = [...live.keys()].filter((id) => id % 7 === 0);
  expectOk((await client.delete({ collection_name: NAME, ids: gone })).status, 'delete');
  for (const id of gone) live.delete(id);
  await expectBruteForce('after deletes');
  await expectBruteForce('drop_ratio_search 0.5', 10, undefined, undefined, 0.5);
  const badDrop = await expectFailure('drop_ratio_search 1.5', () => search([queries[0]!], 3, { params: { drop_ratio_search: 1.5 } }));
  expect(badDrop.message).toMatch(/drop_ratio_search 1.5 for field sv is invalid: it must be in range \[0, 1\)/);
  const badMetric = await expectFailure('search with L2', () => search([queries[0]!], 3, { metric_type: 'L2' }));
  expect(badMetric.message).toMatch(/metric type not match: invalid parameter\[expected=IP\]\[actual=L2\]/);

  // SPARSE_WAND gives the same answer.
  await client.releaseCollection({ collection_name: NAME });
  expectOk(await client.dropIndex({ collection_name: NAME, field_name: 'sv' }), 'dropIndex');
  expectOk(await client.createIndex({ collection_name: NAME, field_name: 'sv', index_type: 'SPARSE_WAND', metric_type: 'IP' }), 'SPARSE_WAND');
  await client.loadCollectionSync({ collection_name: NAME });
  await flushAndWait(client, NAME);
  await waitIndexBuilt(client, NAME, 'sv');
  await expectBruteForce('SPARSE_WAND');
  await expectBruteForce('SPARSE_WAND, filtered', 10, (r) => r.tag >= 50, 'tag >= 50');

  // A partition: searched alone, and as part of the whole collection.
  expectOk(await client.createPartition({ collection_name: NAME, partition_name: 'p1' }), 'createPartition');
  await client.loadPartitions({ collection_name: NAME, partition_names: ['p1'] });
  const inP1 = makeRows(3000, 80, 4);
  const pres = await client.insert({ collection_name: NAME, partition_name: 'p1', data: inP1.map((r) => ({ id: r.id, tag: r.tag, dense: [0, 1], sv: sdkForm(r.sv, 0) as never })) });
  expectOk(pres.status, 'insert into p1');
  for (const r of inP1) live.set(r.id, r);
  const p1Ids = new Set(inP1.map((r) => r.id));
  const onlyP1 = await search(queries, 10, { partition_names: ['p1'] });
  queries.forEach((q, i) => expect(onlyP1[i]!.map((h) => h.id)).toEqual(bruteForce(live.values(), q, 10, (r) => p1Ids.has(r.id)).map((h) => h.id)));
  await expectBruteForce('whole collection with a partition');

  // Rows only in the WAL at the crash come back by replay; sealed ones are reloaded with their index.
  await insert(makeRows(2000, 200, 3));
  expectOk((await client.delete({ collection_name: NAME, ids: [2001, 2002, 5] })).status, 'delete before crash');
  for (const id of [2001, 2002, 5]) live.delete(id);
  await client.closeConnection();
  await server.kill9();
  await server.restart();
  client = new MilvusClient({ address: server.address, timeout: 60_000 });
  await client.connectPromise;
  await eventually('loaded again after the restart', async () => {
    const st = await client.getLoadState({ collection_name: NAME });
    return st.state === LoadState.LoadStateLoaded ? true : undefined;
  }, 120_000);
  await eventually('all rows served after the restart', async () => {
    const res = await client.query({ collection_name: NAME, filter: '', output_fields: ['count(*)'], consistency_level: STRONG });
    return Number(res.data[0]?.['count(*)']) === live.size ? true : undefined;
  }, 60_000);
  await expectBruteForce('after restart');
});

test('bad sparse input is refused naming the field', async () => {
  const dup = await expectFailure('a repeated index', () =>
    client.insert({ collection_name: NAME, data: [{ id: 9001, tag: 1, dense: [0, 0], sv: [{ index: 3, value: 1 }, { index: 3, value: 2 }] }] }),
  );
  expect(dup.message).toMatch(/field "sv": row 0: unsorted or same indices in sparse float vector: index 3 appears more than once/);
  const inf = await expectFailure('an infinite value', () =>
    client.insert({ collection_name: NAME, data: [{ id: 9002, tag: 1, dense: [0, 0], sv: { 4: Infinity } }] }),
  );
  expect(inf.message).toMatch(/field "sv": row 0: the value at index 4 is Infinity/);
  const max = await expectFailure('index 2^32-1', () =>
    client.insert({ collection_name: NAME, data: [{ id: 9003, tag: 1, dense: [0, 0], sv: { indices: [4294967295], values: [1] } }] }),
  );
  // The Node SDK refuses this one itself; the server refuses it too (see the Python test, which sends raw bytes).
  expect(max.message).toMatch(/2\^32-1/);
});
