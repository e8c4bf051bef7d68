/**
 * Hybrid search and function_score rerankers through the official Node SDK against `bin/kite standalone`, on a
 * collection with two dense vector fields, each with its own index (FLAT / L2 and HNSW / COSINE), sealed and growing
 * rows in two partitions. Every result is compared with a brute-force run of each sub-search, fused by Milvus's
 * formula here in the test: RRF sum 1 / (k + rank); weighted sum w_i * f_i(score) with f by metric; decay
 * best score x decay factor of a numeric field; ties by primary key; the page [offset, offset + limit).
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { ConsistencyLevelEnum, DataType, FunctionType, MilvusClient, RRFRanker, WeightedRanker, formatNumberPrecision } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { clusteredVectors, expectFailure, expectOk, queriesNear, score, waitIndexBuilt, type Metric } from './helpers';

jest.setTimeout(240_000);

const NAME = 'hybrid_multi_vector';
const DIM_A = 8;
const DIM_B = 12;
const SEALED = 160;
const GROWING = 60;
const f32 = Math.fround;

interface Row {
  id: number;
  grp: number;
  ts: number;
  dense_a: number[];
  dense_b: number[];
  partition: string;
}

const vecA = clusteredVectors(SEALED + GROWING, DIM_A, 11, 6, 0.3);
const vecB = clusteredVectors(SEALED + GROWING, DIM_B, 12, 6, 0.3);
const rows: Row[] = Array.from({ length: SEALED + GROWING }, (_, i) => ({
  id: i + 1,
  grp: i % 4,
  ts: (i * 7) % 200,
  dense_a: vecA[i]!,
  dense_b: vecB[i]!,
  partition: i % 3 === 0 ? 'p1' : '_default',
}));
const byId = new Map(rows.map((r) => [r.id, r]));

const FIELDS: Record<'dense_a' | 'dense_b', Metric> = { dense_a: 'L2', dense_b: 'COSINE' };

let server: Standalone;
let client: MilvusClient;

async function insert(part: Row[]): Promise<void> {
  for (const partition of ['_default', 'p1']) {
    const data = part.filter((r) => r.partition === partition).map(({ partition: _p, ...r }) => r);
    if (!data.length) continue;
    const res = await client.insert({ collection_name: NAME, partition_name: partition, data });
    expectOk(res.status, `insert into ${partition}`);
  }
}

beforeAll(async () => {
  server = await startStandalone();
  client = new MilvusClient({ address: server.address, timeout: 120_000 });
  await client.connectPromise;
  expectOk(
    await client.createCollection({
      collection_name: NAME,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'grp', data_type: DataType.Int32 },
        { name: 'ts', data_type: DataType.Int64 },
        { name: 'dense_a', data_type: DataType.FloatVector, dim: DIM_A },
        { name: 'dense_b', data_type: DataType.FloatVector, dim: DIM_B },
      ],
      consistency_level: 'Strong',
      // Two shards: each sub-search merges the hits of both channels before fusion.
      shards_num: 2,
    }),
    'createCollection',
  );
  expectOk(await client.createPartition({ collection_name: NAME, partition_name: 'p1' }), 'createPartition');
  await insert(rows.slice(0, SEALED));
  await client.flushSync({ collection_names: [NAME] });
  expectOk(await client.createIndex({ collection_name: NAME, field_name: 'dense_a', index_type: 'FLAT', metric_type: 'L2' }), 'createIndex dense_a');
  expectOk(
    await client.createIndex({ collection_name: NAME, field_name: 'dense_b', index_type: 'HNSW', metric_type: 'COSINE', params: { M: 16, efConstruction: 200 } }),
    'createIndex dense_b',
  );
  await waitIndexBuilt(client, NAME, 'dense_a');
  await waitIndexBuilt(client, NAME, 'dense_b');
  expectOk(await client.loadCollectionSync({ collection_name: NAME }), 'loadCollection');
  // Growing rows, searched with the sealed ones (Strong consistency).
  await insert(rows.slice(SEALED));
}, 240_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  if (server && !server.running) console.error(`kite standalone is not running at the end of the suite; log tail:\n${server.logTail(6000)}`);
  await server?.dispose();
});

// ------------------------------------------------------------------ the reference computation

interface Sub {
  field: 'dense_a' | 'dense_b';
  query: number[];
  limit: number;
  keep?: (r: Row) => boolean;
}

interface Hit {
  id: number;
  score: number;
}

/** One sub-search by brute force: its `limit` best rows among those that pass its filter and the partitions. */
function subSearch(sub: Sub, partitions?: string[]): { metric: Metric; hits: Hit[] } {
  const metric = FIELDS[sub.field];
  const hits = rows
    .filter((r) => (!partitions || partitions.includes(r.partition)) && (!sub.keep || sub.keep(r)))
    .map((r) => ({ id: r.id, score: f32(score(metric, sub.query, r[sub.field])) }))
    .sort((a, b) => (metric === 'L2' ? a.score - b.score : b.score - a.score) || a.id - b.id)
    .slice(0, sub.limit);
  return { metric, hits };
}

const larger = (m: Metric): boolean => m !== 'L2';
const atan01 = (d: number): number => f32(1 - f32(f32(2 * f32(Math.atan(d))) / f32(Math.PI)));
const norm = (m: Metric, s: number): number =>
  m === 'COSINE' ? f32(f32(1 + s) * 0.5) : m === 'IP' ? f32(0.5 + f32(f32(Math.atan(s)) / f32(Math.PI))) : atan01(s);

/** Sums `term` per id over the sub-searches, sorts (ties by id) and returns the page. */
function fuse(lists: { metric: Metric; hits: Hit[] }[], term: (list: number, rank: number, s: number) => number, descending: boolean, limit: number, offset: number): Hit[] {
  const sums = new Map<number, number>();
  lists.forEach((l, i) => l.hits.forEach((h, rank) => sums.set(h.id, sums.has(h.id) ? f32(sums.get(h.id)! + term(i, rank, h.score)) : term(i, rank, h.score))));
  return [...sums.entries()]
    .map(([id, s]) => ({ id, score: s }))
    .sort((a, b) => (a.score === b.score ? a.id - b.id : descending ? b.score - a.score : a.score - b.score))
    .slice(offset, offset + limit);
}

const rrf = (lists: { metric: Metric; hits: Hit[] }[], k: number, limit: number, offset: number): Hit[] =>
  fuse(lists, (_i, rank) => f32(1 / f32(k + rank + 1)), true, limit, offset);

function weighted(lists: { metric: Metric; hits: Hit[] }[], weights: number[], normScore: boolean, limit: number, offset: number): Hit[] {
  const nLarger = lists.filter((l) => larger(l.metric)).length;
  const mixed = nLarger > 0 && nLarger < lists.length;
  const f = (m: Metric, s: number): number => (normScore ? norm(m, s) : mixed && !larger(m) ? atan01(s) : f32(s));
  return fuse(lists, (i, _r, s) => f32(f32(weights[i]!) * f(lists[i]!.metric, s)), normScore || mixed || nLarger === lists.length, limit, offset);
}

interface Returned {
  id: string | number;
  score: number;
  [field: string]: unknown;
}

function expectHits(got: Returned[], want: Hit[], what: string, tolerance = 1e-6): void {
  expect({ what, ids: got.map((h) => Number(h.id)) }).toEqual({ what, ids: want.map((h) => h.id) });
  got.forEach((h, i) => {
    if (Math.abs(h.score - want[i]!.score) > tolerance) throw new Error(`${what}: hit ${i} (id ${h.id}) has score ${h.score}, expected ${want[i]!.score}`);
  });
}

const [qa, qa2] = queriesNear(vecA, 2, 21);
const [qb, qb2] = queriesNear(vecB, 2, 22);
const HNSW = { ef: 512 };

// ------------------------------------------------------------------ tests

describe('multi-vector collection', () => {
  it('describes one index per vector field and searches each field with its own metric', async () => {
    for (const [field, metric] of Object.entries(FIELDS) as ['dense_a' | 'dense_b', Metric][]) {
      const d = await client.describeIndex({ collection_name: NAME, field_name: field });
      expectOk(d.status, `describeIndex ${field}`);
      expect(d.index_descriptions.map((x) => x.field_name)).toEqual([field]);
      const res = await client.search({
        collection_name: NAME, anns_field: field, data: field === 'dense_a' ? qa! : qb!, limit: 7,
        params: field === 'dense_b' ? HNSW : {}, consistency_level: ConsistencyLevelEnum.Strong,
      });
      expectOk(res.status, `search ${field}`);
      expect(res.results.map((h) => Number(h.id))).toEqual(subSearch({ field, query: field === 'dense_a' ? qa! : qb!, limit: 7 }).hits.map((h) => h.id));
      expect(metric).toBe(FIELDS[field]);
    }
  });
});

describe('multi-vector collection without every index', () => {
  it('refuses to load until each vector field has an index, naming the field', async () => {
    const name = 'hybrid_one_index';
    expectOk(
      await client.createCollection({
        collection_name: name,
        fields: [
          { name: 'id', data_type: DataType.Int64, is_primary_key: true },
          { name: 'dense_a', data_type: DataType.FloatVector, dim: DIM_A },
          { name: 'dense_b', data_type: DataType.FloatVector, dim: DIM_B },
        ],
      }),
      'createCollection',
    );
    expectOk(await client.createIndex({ collection_name: name, field_name: 'dense_a', index_type: 'FLAT', metric_type: 'IP' }), 'createIndex dense_a');
    const failure = await expectFailure('load with dense_b unindexed', () => client.loadCollection({ collection_name: name }));
    expect(failure.message).toMatch(/dense_b/);
    const all = await client.describeIndex({ collection_name: name });
    expect(all.index_descriptions.map((d) => d.field_name)).toEqual(['dense_a']);
    expectOk(await client.dropCollection({ collection_name: name }), 'dropCollection');
  });
});

describe('hybrid search', () => {
  it('RRFRanker(k) fuses two fields with their own filters and limits, then pages by offset and limit', async () => {
    const subs: Sub[] = [
      { field: 'dense_a', query: qa!, limit: 12, keep: (r) => r.grp !== 3 },
      { field: 'dense_b', query: qb!, limit: 9, keep: (r) => r.ts >= 40 },
    ];
    const res = await client.hybridSearch({
      collection_name: NAME,
      data: [
        { data: qa!, anns_field: 'dense_a', params: {}, expr: 'grp != 3', limit: 12 },
        { data: qb!, anns_field: 'dense_b', params: HNSW, expr: 'ts >= {lo}', exprValues: { lo: 40 }, limit: 9 },
      ],
      rerank: RRFRanker(30),
      limit: 6,
      offset: 2,
      output_fields: ['grp', 'ts'],
      consistency_level: ConsistencyLevelEnum.Strong,
    });
    expectOk(res.status, 'hybridSearch rrf');
    const want = rrf(subs.map((s) => subSearch(s)), 30, 6, 2);
    expectHits(res.results as Returned[], want, 'rrf k=30');
    for (const h of res.results as Returned[]) {
      const row = byId.get(Number(h.id))!;
      expect({ id: Number(h.id), grp: h.grp, ts: Number(h.ts) }).toEqual({ id: row.id, grp: row.grp, ts: row.ts });
    }
  });

  it('weighted ranking with norm_score normalises each metric (L2 atan, COSINE (1 + s) / 2)', async () => {
    const subs: Sub[] = [
      { field: 'dense_a', query: qa!, limit: 15 },
      { field: 'dense_b', query: qb!, limit: 15 },
    ];
    const res = await client.hybridSearch({
      collection_name: NAME,
      data: [
        { data: qa!, anns_field: 'dense_a', params: {}, limit: 15 },
        { data: qb!, anns_field: 'dense_b', params: HNSW, limit: 15 },
      ],
      rerank: { strategy: 'weighted', params: { weights: [0.3, 0.8], norm_score: true } },
      limit: 10,
      consistency_level: ConsistencyLevelEnum.Strong,
    });
    expectOk(res.status, 'hybridSearch weighted norm');
    expectHits(res.results as Returned[], weighted(subs.map((s) => subSearch(s)), [0.3, 0.8], true, 10, 0), 'weighted norm_score');
  });

  it("the Node SDK's WeightedRanker (no norm_score): mixed L2 and COSINE turn the distances around", async () => {
    const subs: Sub[] = [
      { field: 'dense_a', query: qa!, limit: 10 },
      { field: 'dense_b', query: qb!, limit: 10 },
    ];
    const res = await client.hybridSearch({
      collection_name: NAME,
      data: [
        { data: qa!, anns_field: 'dense_a', params: {}, limit: 10 },
        { data: qb!, anns_field: 'dense_b', params: HNSW, limit: 10 },
      ],
      rerank: WeightedRanker([0.6, 0.4]),
      limit: 8,
      consistency_level: ConsistencyLevelEnum.Strong,
    });
    expectOk(res.status, 'hybridSearch weighted');
    expectHits(res.results as Returned[], weighted(subs.map((s) => subSearch(s)), [0.6, 0.4], false, 8, 0), 'weighted without norm');
  });

  it('partitions, round_decimal and several query vectors', async () => {
    const parts = ['p1'];
    const res = await client.hybridSearch({
      collection_name: NAME,
      partition_names: parts,
      data: [
        { data: [qa!, qa2!], anns_field: 'dense_a', params: { round_decimal: 3 }, limit: 8 },
        { data: [qb!, qb2!], anns_field: 'dense_b', params: { ...HNSW, round_decimal: 3 }, limit: 8 },
      ],
      rerank: RRFRanker(),
      limit: 5,
      params: { round_decimal: 3 },
      output_fields: ['id'],
      consistency_level: ConsistencyLevelEnum.Strong,
    });
    expectOk(res.status, 'hybridSearch partitions');
    const perQuery = res.results as unknown as Returned[][];
    expect(perQuery).toHaveLength(2);
    [[qa!, qb!], [qa2!, qb2!]].forEach(([a, b], qi) => {
      const want = rrf([subSearch({ field: 'dense_a', query: a!, limit: 8 }, parts), subSearch({ field: 'dense_b', query: b!, limit: 8 }, parts)], 60, 5, 0);
      expect(perQuery[qi]!.map((h) => Number(h.id))).toEqual(want.map((h) => h.id));
      // The server rounds to 3 places (float32); the Node SDK then cuts the digits of that float32 after 3 places.
      perQuery[qi]!.forEach((h, i) => expect(h.score).toBe(formatNumberPrecision(f32(Math.floor(want[i]!.score * 1000 + 0.5) / 1000), 3)));
      for (const h of perQuery[qi]!) expect(byId.get(Number(h.id))!.partition).toBe('p1');
    });
  });

  it('a Function ranker (rrf) in function_score', async () => {
    const subs: Sub[] = [
      { field: 'dense_a', query: qa!, limit: 10 },
      { field: 'dense_b', query: qb!, limit: 10 },
    ];
    const res = await client.hybridSearch({
      collection_name: NAME,
      data: [
        { data: qa!, anns_field: 'dense_a', params: {}, limit: 10 },
        { data: qb!, anns_field: 'dense_b', params: HNSW, limit: 10 },
      ],
      rerank: { name: 'fused', type: FunctionType.RERANK, input_field_names: [], params: { reranker: 'rrf', k: 10 } },
      limit: 7,
      consistency_level: ConsistencyLevelEnum.Strong,
    });
    expectOk(res.status, 'hybridSearch function rrf');
    expectHits(res.results as Returned[], rrf(subs.map((s) => subSearch(s)), 10, 7, 0), 'function rrf');
  });

  it('decay on a numeric field, in a hybrid search and in a plain search', async () => {
    const decay = { reranker: 'decay', function: 'gauss', origin: 100, scale: 40, offset: 5, decay: 0.5 };
    const factor = (ts: number): number => {
      const d = Math.max(0, Math.abs(ts - decay.origin) - decay.offset);
      return Math.exp((d * d) / ((decay.scale * decay.scale) / Math.log(decay.decay)));
    };
    const decayFuse = (lists: { metric: Metric; hits: Hit[] }[], limit: number): Hit[] => {
      const best = new Map<number, number>();
      for (const l of lists) for (const h of l.hits) {
        const s = larger(l.metric) ? h.score : atan01(h.score);
        best.set(h.id, Math.max(best.get(h.id) ?? -Infinity, s));
      }
      return [...best.entries()]
        .map(([id, s]) => ({ id, score: f32(f32(factor(byId.get(id)!.ts)) * s) }))
        .sort((a, b) => (a.score === b.score ? a.id - b.id : b.score - a.score))
        .slice(0, limit);
    };
    const fn = { name: 'recent', type: FunctionType.RERANK, input_field_names: ['ts'], params: decay };
    const hybrid = await client.hybridSearch({
      collection_name: NAME,
      data: [
        { data: qa!, anns_field: 'dense_a', params: {}, limit: 20 },
        { data: qb!, anns_field: 'dense_b', params: HNSW, limit: 20 },
      ],
      rerank: fn,
      limit: 8,
      consistency_level: ConsistencyLevelEnum.Strong,
    });
    expectOk(hybrid.status, 'hybridSearch decay');
    expectHits(hybrid.results as Returned[], decayFuse([subSearch({ field: 'dense_a', query: qa!, limit: 20 }), subSearch({ field: 'dense_b', query: qb!, limit: 20 })], 8), 'hybrid decay', 1e-5);

    const plain = await client.search({
      collection_name: NAME, anns_field: 'dense_a', data: qa!, limit: 6, offset: 3, rerank: fn, output_fields: ['ts'],
      consistency_level: ConsistencyLevelEnum.Strong,
    });
    expectOk(plain.status, 'search decay');
    // Milvus reranks the first limit + offset hits, then pages.
    const want = decayFuse([subSearch({ field: 'dense_a', query: qa!, limit: 9 })], 9).slice(3);
    expectHits(plain.results as Returned[], want, 'search decay', 1e-5);
    for (const h of plain.results as Returned[]) expect(Number(h.ts)).toBe(byId.get(Number(h.id))!.ts);
  });

  it('VarChar primary keys: two searches of one field with their own filters, ties broken by key', async () => {
    const name = 'hybrid_varchar_pk';
    expectOk(
      await client.createCollection({
        collection_name: name,
        fields: [
          { name: 'pk', data_type: DataType.VarChar, max_length: 32, is_primary_key: true },
          { name: 'n', data_type: DataType.Int64 },
          { name: 'v', data_type: DataType.FloatVector, dim: DIM_A },
        ],
        consistency_level: 'Strong',
      }),
      'createCollection varchar',
    );
    const data = vecA.slice(0, 80).map((v, i) => ({ pk: `k${(i * 37) % 101}`, n: i, v }));
    expectOk((await client.insert({ collection_name: name, data })).status, 'insert varchar');
    expectOk(await client.createIndex({ collection_name: name, field_name: 'v', index_type: 'FLAT', metric_type: 'IP' }), 'createIndex varchar');
    await client.loadCollectionSync({ collection_name: name });
    const res = await client.hybridSearch({
      collection_name: name,
      data: [
        { data: qa!, anns_field: 'v', params: {}, expr: 'n % 2 == 0', limit: 6 },
        { data: qa!, anns_field: 'v', params: {}, expr: 'n % 2 == 1', limit: 6 },
      ],
      rerank: RRFRanker(60),
      limit: 8,
      consistency_level: ConsistencyLevelEnum.Strong,
    });
    expectOk(res.status, 'hybridSearch varchar');
    const top = (keep: (n: number) => boolean): string[] =>
      data.filter((r) => keep(r.n)).map((r) => ({ pk: r.pk, s: f32(score('IP', qa!, r.v)) })).sort((a, b) => b.s - a.s).slice(0, 6).map((r) => r.pk);
    const even = top((n) => n % 2 === 0);
    const odd = top((n) => n % 2 === 1);
    // Disjoint lists: rank r of each list scores 1 / (60 + r); the two hits of one rank tie, the smaller key first.
    const want = even.flatMap((e, r) => [e, odd[r]!].sort()).slice(0, 8);
    expect((res.results as Returned[]).map((h) => h.pk)).toEqual(want);
    expectOk(await client.dropCollection({ collection_name: name }), 'dropCollection varchar');
  });

  it('refuses bad rankers naming the parameter', async () => {
    const data = [
      { data: qa!, anns_field: 'dense_a', params: {}, limit: 5 },
      { data: qb!, anns_field: 'dense_b', params: HNSW, limit: 5 },
    ];
    const base = { collection_name: NAME, data, limit: 5 };
    const cases: [string, object, RegExp][] = [
      ['three weights for two requests', { rerank: WeightedRanker([0.2, 0.3, 0.5]) }, /weights.*mismatch|mismatch.*weights/i],
      ['a weight above 1', { rerank: WeightedRanker([0.2, 1.5]) }, /weights\[1\]/],
      ['an unknown strategy', { rerank: { strategy: 'borda', params: {} } }, /strategy|rank type/],
      ['k = 0', { rerank: RRFRanker(0) }, /\bk\b/],
      ['k = 20000', { rerank: RRFRanker(20000) }, /\bk\b/],
      ['a model reranker', { rerank: { name: 'm', type: FunctionType.RERANK, input_field_names: ['ts'], params: { reranker: 'model', provider: 'tei' } } }, /model/],
      ['an unknown decay param', { rerank: { name: 'd', type: FunctionType.RERANK, input_field_names: ['ts'], params: { reranker: 'decay', function: 'exp', origin: 1, scale: 2, sigma: 3 } } }, /sigma/],
      ['a bad filter in the second request', { data: [data[0], { ...data[1], expr: 'ts >' }] }, /search request 1 \(anns_field dense_b\)/],
      ['a wrong dimension in the first request', { data: [{ ...data[0], data: [1, 2, 3] }, data[1]] }, /search request 0 \(anns_field dense_a\).*dim/],
      ['decay on a vector field', { rerank: { name: 'd', type: FunctionType.RERANK, input_field_names: ['dense_a'], params: { reranker: 'decay', function: 'exp', origin: 1, scale: 2 } } }, /dense_a/],
    ];
    for (const [what, extra, pattern] of cases) {
      const failure = await expectFailure(what, () => client.hybridSearch({ ...base, ...extra } as never));
      expect({ what, message: failure.message }).toEqual({ what, message: expect.stringMatching(pattern) });
    }
  });
});
