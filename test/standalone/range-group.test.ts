/**
 * Range search, grouping search and search by primary keys through the official Node SDK against
 * `bin/kite standalone`, compared with brute force: two shards, sealed and growing rows, deletes.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { ConsistencyLevelEnum, DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { bruteForce, clusteredVectors, expectFailure, expectOk, queriesNear, recall, type Metric } from './helpers';

jest.setTimeout(180_000);

const STRONG = ConsistencyLevelEnum.Strong;
const DIM = 8;
const N = 1000;
const vectors = clusteredVectors(N, DIM, 41);
const deleted = new Set(Array.from({ length: N }, (_, i) => i).filter((i) => i % 11 === 4));
const rows = vectors.map((vector, id) => ({ id, g: id % 23, tag: `t${id % 7}`, flag: id % 3 === 0, f: id / 2, vector }));
const alive = rows.filter((r) => !deleted.has(r.id));

let server: Standalone;
let client: MilvusClient;

async function makeCollection(name: string, indexType: string, metric: Metric, params: Record<string, number> = {}): Promise<void> {
  expectOk(await client.createCollection({
    collection_name: name, shards_num: 2, consistency_level: 'Strong',
    fields: [
      { name: 'id', data_type: DataType.Int64, is_primary_key: true },
      { name: 'g', data_type: DataType.Int64 },
      { name: 'tag', data_type: DataType.VarChar, max_length: 16 },
      { name: 'flag', data_type: DataType.Bool },
      { name: 'f', data_type: DataType.Float },
      { name: 'vector', data_type: DataType.FloatVector, dim: DIM },
    ],
  }), `createCollection(${name})`);
  expectOk((await client.insert({ collection_name: name, data: rows.slice(0, N / 2) })).status, 'insert sealed half');
  expectOk((await client.flush({ collection_names: [name] })).status, 'flush');
  expectOk((await client.insert({ collection_name: name, data: rows.slice(N / 2) })).status, 'insert growing half');
  expectOk((await client.delete({ collection_name: name, ids: [...deleted] })).status, 'delete');
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

type Hit = { id: string; score: number } & Record<string, unknown>;

async function search(name: string, req: Record<string, unknown>): Promise<Hit[]> {
  const res = await client.search({ collection_name: name, consistency_level: STRONG, ...req } as never);
  expectOk(res.status, `search(${name})`);
  return res.results as unknown as Hit[];
}

/** A threshold halfway between the scores ranked `at` and `at + 1` (so float rounding cannot move a row across). */
const between = (ranked: { score: number }[], at: number): number => (ranked[at]!.score + ranked[at + 1]!.score) / 2;

interface Case {
  index: string;
  metric: Metric;
  params: Record<string, number>;
  search: Record<string, number>;
  exact: boolean;
}

describe.each<Case>([
  { index: 'FLAT', metric: 'L2' as Metric, params: {}, search: {}, exact: true },
  { index: 'FLAT', metric: 'IP' as Metric, params: {}, search: {}, exact: true },
  { index: 'FLAT', metric: 'COSINE' as Metric, params: {}, search: {}, exact: true },
  { index: 'HNSW', metric: 'L2' as Metric, params: { M: 16, efConstruction: 200 }, search: { ef: 64 }, exact: false },
  { index: 'IVF_FLAT', metric: 'IP' as Metric, params: { nlist: 16 }, search: { nprobe: 16 }, exact: true },
])('range search on $index $metric', ({ index, metric, params, search: sp, exact }) => {
  const name = `range_${index}_${metric}`.toLowerCase();
  beforeAll(() => makeCollection(name, index, metric, params));

  test('returns the hits inside [range_filter, radius) best first, as brute force', async () => {
    for (const q of queriesNear(vectors, 3, 5, 0.2)) {
      const ranked = bruteForce(metric, alive, q, N);
      const rangeFilter = between(ranked, 14);
      const radius = between(ranked, 119);
      const want = ranked.slice(15, 120).map((h) => h.id);
      for (const limit of [10, 105, 300]) {
        const hits = await search(name, { data: [q], limit, output_fields: ['g'], params: { radius, range_filter: rangeFilter, ...sp } });
        for (const h of hits) {
          if (metric === 'L2') expect(h.score >= rangeFilter && h.score < radius).toBe(true);
          else expect(h.score > radius && h.score <= rangeFilter).toBe(true);
          expect(deleted.has(Number(h.id))).toBe(false);
        }
        const scores = hits.map((h) => h.score);
        expect(scores).toEqual([...scores].sort((a, b) => (metric === 'L2' ? a - b : b - a)));
        const expected = want.slice(0, limit);
        if (exact) expect(hits.map((h) => h.id)).toEqual(expected);
        else expect(recall(hits.map((h) => h.id), expected)).toBeGreaterThanOrEqual(0.8);
      }
    }
  });

  test('refuses range_filter on the wrong side of radius, naming both', async () => {
    const bad = metric === 'L2' ? { radius: 1, range_filter: 2 } : { radius: 0.5, range_filter: 0.1 };
    const f = await expectFailure('bad range', () => client.search({ collection_name: name, data: [vectors[0]!], limit: 5, params: bad }));
    expect(f.message).toContain(metric === 'L2' ? 'range_filter must be less than radius' : 'range_filter must be greater than radius');
  });
});

describe('grouping search', () => {
  const name = 'group_flat_l2';
  beforeAll(() => makeCollection(name, 'FLAT', 'L2'));

  const groupsOf = (q: number[], field: 'g' | 'tag' | 'flag', limit: number, size: number, offset = 0): [unknown, string[]][] => {
    const groups = new Map<unknown, string[]>();
    for (const h of bruteForce('L2', alive, q, N)) {
      const v = rows[Number(h.id)]![field];
      let list = groups.get(v);
      if (!list) {
        if (groups.size >= limit + offset) continue;
        list = [];
        groups.set(v, list);
      }
      if (list.length < size) list.push(h.id);
    }
    return [...groups.entries()].slice(offset);
  };

  test.each(['g', 'tag', 'flag'] as const)('groups by %s across shards and segments as brute force', async (field) => {
    const q = queriesNear(vectors, 1, 9, 0.1)[0]!;
    for (const [limit, size, offset, strict] of [[5, 1, 0, false], [4, 3, 0, true], [3, 2, 1, false]] as const) {
      const hits = await search(name, { data: [q], limit, offset, output_fields: [field], group_by_field: field, group_size: size, strict_group_size: strict });
      const got = new Map<unknown, string[]>();
      for (const h of hits) {
        const v = field === 'g' ? Number(h[field]) : h[field]; // the SDK returns Int64 values as strings
        got.set(v, [...(got.get(v) ?? []), h.id]);
      }
      expect([...got.entries()]).toEqual(groupsOf(q, field, limit, size, offset));
    }
  });

  test('refuses a Float group field naming the field and the supported types', async () => {
    const f = await expectFailure('group by float', () => client.search({ collection_name: name, data: [vectors[0]!], limit: 5, group_by_field: 'f' }));
    expect(f.message).toContain('f');
    expect(f.message).toMatch(/Int64.*VarChar/);
  });
});

describe('search by primary keys', () => {
  const name = 'ids_flat_ip';
  beforeAll(() => makeCollection(name, 'FLAT', 'IP'));

  test('searches with the stored vectors of the rows, in the order given', async () => {
    const ids = [alive[10]!.id, alive[600]!.id, alive[3]!.id];
    const res = await client.search({ collection_name: name, ids, limit: 5, consistency_level: STRONG } as never);
    expectOk(res.status, 'search by ids');
    const results = res.results as unknown as Hit[][];
    expect(results).toHaveLength(3);
    ids.forEach((id, i) => {
      expect(results[i]!.map((h) => h.id)).toEqual(bruteForce('IP', alive, vectors[id]!, 5).map((h) => h.id));
    });
    const f = await expectFailure('search by a deleted id', () => client.search({ collection_name: name, ids: [[...deleted][0]!], limit: 5 } as never));
    expect(f.message).toContain(String([...deleted][0]));
  });
});
