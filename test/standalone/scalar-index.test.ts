/**
 * Scalar indexes through the Node SDK: INVERTED, STL_SORT, Trie, BITMAP and AUTOINDEX on scalar fields are created,
 * built per sealed segment, loaded, and answer filters (queries and filtered searches) exactly as the same collection
 * without indexes does; describe and drop; Milvus's errors for an index on the wrong type; and after a kill -9 the
 * query node reads the index files back (no build runs again).
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { ConsistencyLevelEnum, DataType, LoadState, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { chunks, eventually, expectOk, rng } from './helpers';

jest.setTimeout(300_000);

const STRONG = ConsistencyLevelEnum.Strong;
const INDEXED = 'e2e_scalar_indexed';
const PLAIN = 'e2e_scalar_plain';
const DIM = 8;
const N = 3000;
const WORDS = ['apple', 'apricot', 'banana', 'band', 'bandana', 'cherry', 'ch', '', 'zebra', 'été'];

let server: Standalone;
let client: MilvusClient;

const connect = (): MilvusClient => new MilvusClient({ address: server.address, timeout: 60_000 });

beforeAll(async () => {
  server = await startStandalone();
  client = connect();
  await client.connectPromise;
}, 150_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  await server?.dispose();
});

/** The scalar index of each field in the indexed collection. */
const INDEXES: [string, string, Record<string, unknown>?][] = [
  ['b', 'BITMAP'],
  ['i8', 'INVERTED'],
  ['i16', 'BITMAP', { bitmap_cardinality_limit: 200 }],
  ['i32', 'STL_SORT'],
  ['i64', 'INVERTED'],
  ['f', 'STL_SORT'],
  ['d', 'AUTOINDEX'],
  ['s', 'Trie'],
  ['s2', 'INVERTED'],
];

const FILTERS = [
  'i32 == 17',
  'i32 >= 100 and i32 < 103',
  'i32 in [1, 5, 999, 4000]',
  'i32 not in [1, 2, 3]',
  '10 < i32 <= 20',
  'i8 == -3 or i8 > 18',
  'i8 != 0',
  'i16 == 2',
  'i16 in [0, 4]',
  'b == true',
  'b != true and i8 < 0',
  'i64 > 4000000000000000000',
  'i64 <= -9000000000000000000 or i64 == 42',
  'f < -90.5',
  'f >= 99.25',
  'f == 0.75',
  'd > 10.5 and d < 11',
  'd in [0.5, 1.25, 7.0]',
  's == "w7"',
  's like "w1%"',
  's in ["w3", "w49", "nope"]',
  's > "w48"',
  's2 like "ban%"',
  's2 == ""',
  's2 like "%an%"',
  'not (s2 like "ap%") and i16 != 1',
  'i32 > 500 and s like "w2%" and f > 0',
  'i32 * 2 == 40',
];

interface Row {
  id: number;
  b: boolean;
  i8: number;
  i16: number;
  i32: number;
  i64: string;
  f: number;
  d: number;
  s: string;
  s2: string;
  vector: number[];
}

function rows(): Row[] {
  const r = rng(1414);
  const big = (): string => {
    const x = BigInt(Math.floor(r() * 2 ** 31)) * BigInt(Math.floor(r() * 2 ** 31)) * (r() < 0.5 ? -4n : 4n);
    return (r() < 0.01 ? 42n : x).toString();
  };
  return Array.from({ length: N }, (_, id) => ({
    id,
    b: r() < 0.3,
    i8: Math.floor(r() * 41) - 20,
    i16: Math.floor(r() * 5),
    i32: Math.floor(r() * 1000),
    i64: big(),
    f: Math.round((r() * 200 - 100) * 4) / 4,
    d: Math.round(r() * 80) / 4,
    s: `w${Math.floor(r() * 50)}`,
    s2: WORDS[Math.floor(r() * WORDS.length)]!,
    vector: Array.from({ length: DIM }, () => Math.fround(r() * 2 - 1)),
  }));
}

async function createCollection(name: string): Promise<void> {
  expectOk(
    await client.createCollection({
      collection_name: name,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'b', data_type: DataType.Bool },
        { name: 'i8', data_type: DataType.Int8 },
        { name: 'i16', data_type: DataType.Int16 },
        { name: 'i32', data_type: DataType.Int32 },
        { name: 'i64', data_type: DataType.Int64 },
        { name: 'f', data_type: DataType.Float },
        { name: 'd', data_type: DataType.Double },
        { name: 's', data_type: DataType.VarChar, max_length: 64 },
        { name: 's2', data_type: DataType.VarChar, max_length: 64 },
        { name: 'vector', data_type: DataType.FloatVector, dim: DIM },
      ],
      consistency_level: 'Strong',
    }),
    `createCollection ${name}`,
  );
  expectOk(await client.createIndex({ collection_name: name, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }), `vector index ${name}`);
}

async function fill(name: string, data: Row[]): Promise<void> {
  for (const part of chunks(data, 1000)) expectOk((await client.insert({ collection_name: name, data: part.map((x) => ({ ...x })) })).status, `insert ${name}`);
  expectOk((await client.flush({ collection_names: [name] })).status, `flush ${name}`);
}

async function ids(name: string, filter: string): Promise<number[]> {
  const res = await client.query({ collection_name: name, filter, output_fields: ['id'], limit: 16384, consistency_level: STRONG });
  expectOk(res.status, `query ${name} "${filter}"`);
  return res.data.map((x) => Number(x.id)).sort((a, b) => a - b);
}

async function searched(name: string, filter: string, q: number[]): Promise<number[]> {
  const res = await client.search({ collection_name: name, data: [q], limit: 10, filter, output_fields: ['id'], consistency_level: STRONG });
  expectOk(res.status, `search ${name} "${filter}"`);
  return (res.results as unknown as { id: string }[]).map((h) => Number(h.id));
}

/** Every index of the collection built over all its rows. */
async function built(name: string): Promise<void> {
  await eventually(`scalar indexes of ${name} built`, async () => {
    const d = await client.describeIndex({ collection_name: name });
    expectOk(d.status, 'describeIndex');
    const done = d.index_descriptions.every((x) => Number(x.total_rows) === N && Number(x.indexed_rows) === N);
    return done && d.index_descriptions.length === INDEXES.length + 1 ? true : undefined;
  }, 120_000);
}

async function metrics(): Promise<string> {
  return (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
}

const metricValue = (text: string, re: RegExp): number =>
  [...text.matchAll(re)].reduce((s, m) => s + Number(m[1]), 0);

const data = rows();

async function compareAll(what: string): Promise<void> {
  const q = data[123]!.vector;
  for (const filter of FILTERS) {
    const want = await ids(PLAIN, filter);
    expect({ what, filter, got: await ids(INDEXED, filter) }).toEqual({ what, filter, got: want });
    expect({ what, filter, search: await searched(INDEXED, filter, q) }).toEqual({ what, filter, search: await searched(PLAIN, filter, q) });
  }
}

test('scalar indexes answer filters as the unindexed collection does, before and after a kill -9', async () => {
  await createCollection(INDEXED);
  await createCollection(PLAIN);
  for (const [field, index_type, params] of INDEXES) {
    expectOk(await client.createIndex({ collection_name: INDEXED, field_name: field, index_type, ...(params ? { params } : {}) }), `createIndex ${field} ${index_type}`);
  }
  await fill(INDEXED, data);
  await fill(PLAIN, data);
  await built(INDEXED);
  await client.loadCollectionSync({ collection_name: INDEXED });
  await client.loadCollectionSync({ collection_name: PLAIN });

  // The brute-force check of a few filters (the unindexed collection is the reference for the rest).
  expect(await ids(INDEXED, 'i32 == 17')).toEqual(data.filter((x) => x.i32 === 17).map((x) => x.id));
  expect(await ids(INDEXED, 's2 like "ban%"')).toEqual(data.filter((x) => x.s2.startsWith('ban')).map((x) => x.id));
  await compareAll('before restart');

  // The filter metric tells an index's answer from a scan: the indexed collection's segments count under
  // path="index", the plain one's only under "scan".
  const filterCount = async (path: string): Promise<number> =>
    metricValue(await metrics(), new RegExp(`kite_querynode_filter_duration_seconds_count\\{path="${path}"\\} (\\d+)`, 'g'));
  const [index0, scan0] = [await filterCount('index'), await filterCount('scan')];
  await ids(PLAIN, 'i32 == 17');
  const [index1, scan1] = [await filterCount('index'), await filterCount('scan')];
  expect({ index: index1 - index0, scanned: scan1 > scan0 }).toEqual({ index: 0, scanned: true });
  await ids(INDEXED, 'i32 == 17');
  expect(await filterCount('index')).toBeGreaterThan(index1);

  // The query node read the index files (one per segment and scalar index).
  const loaded = metricValue(await metrics(), /kite_querynode_scalar_index_files_loaded_total\{[^}]*\} (\d+)/g);
  expect(loaded).toBeGreaterThanOrEqual(INDEXES.length);

  // Described as created: AUTOINDEX stays AUTOINDEX, no metric_type, the user's parameters.
  const d = await client.describeIndex({ collection_name: INDEXED, field_name: 'i16' });
  expectOk(d.status, 'describeIndex i16');
  const params = Object.fromEntries(d.index_descriptions[0]!.params.map((p) => [p.key, p.value]));
  expect(params).toEqual({ index_type: 'BITMAP', bitmap_cardinality_limit: '200' });
  const auto = await client.describeIndex({ collection_name: INDEXED, field_name: 'd' });
  expect(Object.fromEntries(auto.index_descriptions[0]!.params.map((p) => [p.key, p.value]))).toEqual({ index_type: 'AUTOINDEX' });
  const all = await client.listIndexes({ collection_name: INDEXED });
  expectOk(all.status, 'listIndexes');
  expect([...all.indexes].sort()).toEqual([...INDEXES.map(([f]) => f), 'vector'].sort());

  await client.closeConnection();
  await server.kill9();
  await server.restart();
  client = connect();
  await client.connectPromise;
  for (const name of [INDEXED, PLAIN]) {
    await eventually(`${name} loaded again`, async () => {
      const st = await client.getLoadState({ collection_name: name });
      return st.state === LoadState.LoadStateLoaded ? true : undefined;
    }, 120_000);
  }
  await compareAll('after restart');
  // Read back from the files, not built again: no index build ran in the restarted process.
  const after = await metrics();
  expect(metricValue(after, /kite_querynode_scalar_index_files_loaded_total\{[^}]*\} (\d+)/g)).toBeGreaterThanOrEqual(INDEXES.length);
  for (const t of ['INVERTED', 'STL_SORT', 'TRIE', 'BITMAP']) {
    expect({ t, builds: metricValue(after, new RegExp(`kite_datanode_index_build_duration_seconds_count\\{index_type="${t}"\\} (\\d+)`, 'g')) }).toEqual({ t, builds: 0 });
  }

  // Dropped (released first, as Milvus requires): gone from describe, and the filters still answer the same.
  expectOk(await client.releaseCollection({ collection_name: INDEXED }), 'release');
  expectOk(await client.dropIndex({ collection_name: INDEXED, field_name: 'i32' }), 'dropIndex i32');
  const gone = await client.describeIndex({ collection_name: INDEXED, field_name: 'i32' });
  expect(gone.status.error_code).not.toBe('Success');
  await client.loadCollectionSync({ collection_name: INDEXED });
  expect(await ids(INDEXED, 'i32 >= 100 and i32 < 103')).toEqual(await ids(PLAIN, 'i32 >= 100 and i32 < 103'));
});

test("an index of the wrong type for the field is refused with Milvus's message, naming the field", async () => {
  const name = 'e2e_scalar_errors';
  await createCollection(name);
  const cases: [string, string, Record<string, unknown> | undefined, RegExp][] = [
    ['s', 'STL_SORT', undefined, /STL_SORT are only supported on numeric field: field s is VarChar/],
    ['i64', 'Trie', undefined, /TRIE are only supported on varchar field: field i64 is Int64/],
    ['f', 'BITMAP', undefined, /bitmap index are only supported on bool, int, string and array field: field f is Float/],
    ['id', 'BITMAP', undefined, /create bitmap index on primary key not supported/],
    ['i16', 'BITMAP', { bitmap_cardinality_limit: 5000 }, /failed to check bitmap cardinality limit, should be larger than 0 and smaller than 1000/],
    ['i32', 'HNSW', undefined, /invalid index type: HNSW: field i32 is Int32/],
  ];
  for (const [field, index_type, params, message] of cases) {
    const res = await client.createIndex({ collection_name: name, field_name: field, index_type, ...(params ? { params } : {}) });
    expect({ field, index_type, code: res.code }).toEqual({ field, index_type, code: 1100 });
    expect(res.reason).toMatch(message);
  }
  // A second, different index on an indexed field is refused as Milvus does.
  expectOk(await client.createIndex({ collection_name: name, field_name: 'i32', index_type: 'INVERTED' }), 'createIndex i32');
  const dup = await client.createIndex({ collection_name: name, field_name: 'i32', index_type: 'STL_SORT' });
  expect(dup.reason).toMatch(/at most one distinct index is allowed per field/);
});

/** JSON path indexes: documents whose paths hold numbers, strings, booleans, objects, null, or nothing. */
describe('INVERTED on JSON paths (json_path, json_cast_type)', () => {
  const JIDX = 'e2e_json_indexed';
  const JPLAIN = 'e2e_json_plain';
  const JN = 2000;
  type Doc = Record<string, unknown> | null;
  const jr = rng(2525);
  const anyValue = (): unknown => {
    const k = Math.floor(jr() * 9);
    if (k === 0) return undefined;
    if (k === 1) return null;
    if (k <= 3) return Math.floor(jr() * 40) - 20;
    if (k === 4) return Math.round(jr() * 80) / 8;
    if (k <= 6) return WORDS[Math.floor(jr() * WORDS.length)];
    if (k === 7) return jr() < 0.5;
    return { x: Math.floor(jr() * 10) };
  };
  const docs: { id: number; meta: Doc; vector: number[] }[] = Array.from({ length: JN }, (_, id) => {
    const meta: Record<string, unknown> = {};
    for (const key of ['a', 'flag', 'n']) {
      const v = key === 'n' && jr() < 0.6 ? { x: anyValue() } : anyValue();
      if (v !== undefined) meta[key] = v;
    }
    return { id, meta, vector: Array.from({ length: DIM }, () => Math.fround(jr() * 2 - 1)) };
  });
  const JSON_INDEXES: [string, Record<string, string>][] = [
    ['a_num', { json_path: 'meta["a"]', json_cast_type: 'double' }],
    ['a_str', { json_path: "meta['a']", json_cast_type: 'VARCHAR' }],
    ['flag', { json_path: 'meta["flag"]', json_cast_type: 'bool' }],
    ['n_x', { json_path: 'meta["n"]["x"]', json_cast_type: 'DOUBLE' }],
  ];
  const JSON_FILTERS = [
    'meta["a"] == 3',
    'meta["a"] > 5 and meta["a"] <= 12.5',
    'meta["a"] in [1, 2, 3.5, -7]',
    '-3 < meta["a"] < 3',
    'meta["a"] == "band"',
    'meta["a"] like "ban%"',
    'meta["a"] in ["apple", "", "zebra"]',
    'meta["a"] >= "c"',
    'meta["a"] != 3',
    'meta["flag"] == true',
    'meta["flag"] in [false]',
    'meta["n"]["x"] >= 4',
    'meta["n"]["x"] == 0 or meta["a"] == "ch"',
    'not (meta["n"]["x"] < 2) and id < 1500',
    'meta["a"] is null',
  ];
  const isNum = (v: unknown): v is number => typeof v === 'number';
  const at = (d: Doc, ...path: string[]): unknown => path.reduce<unknown>((o, k) => (o !== null && typeof o === 'object' && !Array.isArray(o) ? (o as Record<string, unknown>)[k] : undefined), d);

  async function jsonCollection(name: string): Promise<void> {
    expectOk(
      await client.createCollection({
        collection_name: name,
        fields: [
          { name: 'id', data_type: DataType.Int64, is_primary_key: true },
          { name: 'meta', data_type: DataType.JSON },
          { name: 'vector', data_type: DataType.FloatVector, dim: DIM },
        ],
        consistency_level: 'Strong',
      }),
      `createCollection ${name}`,
    );
    expectOk(await client.createIndex({ collection_name: name, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }), `vector index ${name}`);
    for (const part of chunks(docs, 1000)) expectOk((await client.insert({ collection_name: name, data: part.map((x) => ({ ...x })) })).status, `insert ${name}`);
  }

  test('answer filters on their paths as the scan does, with values of other types and missing keys left out', async () => {
    await jsonCollection(JIDX);
    await jsonCollection(JPLAIN);
    for (const [index_name, params] of JSON_INDEXES) {
      expectOk(await client.createIndex({ collection_name: JIDX, field_name: 'meta', index_name, index_type: 'INVERTED', params }), `createIndex ${index_name}`);
    }
    for (const name of [JIDX, JPLAIN]) expectOk((await client.flush({ collection_names: [name] })).status, `flush ${name}`);
    await eventually('JSON path indexes built', async () => {
      const d = await client.describeIndex({ collection_name: JIDX, field_name: 'meta' });
      expectOk(d.status, 'describeIndex meta');
      return d.index_descriptions.length === JSON_INDEXES.length && d.index_descriptions.every((x) => Number(x.indexed_rows) === JN) ? true : undefined;
    }, 120_000);
    const before = metricValue(await metrics(), /kite_querynode_scalar_index_files_loaded_total\{index_type="INVERTED"\} (\d+)/g);
    await client.loadCollectionSync({ collection_name: JIDX });
    await client.loadCollectionSync({ collection_name: JPLAIN });
    // One file per segment and JSON path index read by the query node.
    const after = metricValue(await metrics(), /kite_querynode_scalar_index_files_loaded_total\{index_type="INVERTED"\} (\d+)/g);
    expect(after - before).toBeGreaterThanOrEqual(JSON_INDEXES.length);

    // Brute force for a few: only values of the literal's type match.
    expect(await ids(JIDX, 'meta["a"] > 5 and meta["a"] <= 12.5')).toEqual(docs.filter((x) => isNum(at(x.meta, 'a')) && (at(x.meta, 'a') as number) > 5 && (at(x.meta, 'a') as number) <= 12.5).map((x) => x.id));
    expect(await ids(JIDX, 'meta["a"] like "ban%"')).toEqual(docs.filter((x) => typeof at(x.meta, 'a') === 'string' && (at(x.meta, 'a') as string).startsWith('ban')).map((x) => x.id));
    expect(await ids(JIDX, 'meta["flag"] == true')).toEqual(docs.filter((x) => at(x.meta, 'flag') === true).map((x) => x.id));
    expect(await ids(JIDX, 'meta["n"]["x"] >= 4')).toEqual(docs.filter((x) => isNum(at(x.meta, 'n', 'x')) && (at(x.meta, 'n', 'x') as number) >= 4).map((x) => x.id));
    const q = docs[77]!.vector;
    for (const filter of JSON_FILTERS) {
      expect({ filter, got: await ids(JIDX, filter) }).toEqual({ filter, got: await ids(JPLAIN, filter) });
      expect({ filter, search: await searched(JIDX, filter, q) }).toEqual({ filter, search: await searched(JPLAIN, filter, q) });
    }

    // Another path index created on the loaded collection: built for the sealed segments, then used.
    const loadedBefore = metricValue(await metrics(), /kite_querynode_scalar_index_files_loaded_total\{index_type="INVERTED"\} (\d+)/g);
    expectOk(await client.createIndex({ collection_name: JIDX, field_name: 'meta', index_name: 'n_x_str', index_type: 'INVERTED', params: { json_path: 'meta["n"]["x"]', json_cast_type: 'varchar' } }), 'createIndex n_x_str');
    await eventually('n_x_str built and loaded', async () => {
      const p = await client.describeIndex({ collection_name: JIDX, index_name: 'n_x_str' });
      const loadedNow = metricValue(await metrics(), /kite_querynode_scalar_index_files_loaded_total\{index_type="INVERTED"\} (\d+)/g);
      return Number(p.index_descriptions[0]?.indexed_rows) === JN && loadedNow > loadedBefore ? true : undefined;
    }, 120_000);
    for (const filter of ['meta["n"]["x"] == "band"', 'meta["n"]["x"] like "ap%"', 'meta["n"]["x"] >= 3']) {
      expect({ filter, got: await ids(JIDX, filter) }).toEqual({ filter, got: await ids(JPLAIN, filter) });
    }

    // Described with the parameters given.
    const d = await client.describeIndex({ collection_name: JIDX, index_name: 'a_str' });
    expectOk(d.status, 'describeIndex a_str');
    expect(d.index_descriptions[0]!.field_name).toBe('meta');
    expect(Object.fromEntries(d.index_descriptions[0]!.params.map((p) => [p.key, p.value]))).toEqual({ index_type: 'INVERTED', json_path: "meta['a']", json_cast_type: 'VARCHAR' });
  });

  test('bad json_path / json_cast_type and a second index on one path are refused, naming the fix', async () => {
    const name = 'e2e_json_errors';
    expectOk(await client.createCollection({ collection_name: name, fields: [{ name: 'id', data_type: DataType.Int64, is_primary_key: true }, { name: 'meta', data_type: DataType.JSON }, { name: 'vector', data_type: DataType.FloatVector, dim: DIM }] }), 'create');
    const cases: [string, Record<string, string>, RegExp][] = [
      ['INVERTED', { json_path: 'meta["a"]' }, /json_cast_type is required for an index on JSON field meta: set it to one of BOOL, DOUBLE, VARCHAR/],
      ['INVERTED', { json_cast_type: 'double' }, /json_path is required for an index on JSON field meta/],
      ['INVERTED', { json_path: 'meta["a"]', json_cast_type: 'ARRAY_DOUBLE' }, /json_cast_type "ARRAY_DOUBLE" is not supported for JSON field meta: Kite builds BOOL, DOUBLE, VARCHAR/],
      ['INVERTED', { json_path: 'other["a"]', json_cast_type: 'double' }, /json_path other\["a"\] is not a path into JSON field meta: write it as meta\["key"\]/],
      ['STL_SORT', { json_path: 'meta["a"]', json_cast_type: 'double' }, /a JSON field takes INVERTED or AUTOINDEX/],
    ];
    for (const [index_type, params, message] of cases) {
      const res = await client.createIndex({ collection_name: name, field_name: 'meta', index_name: 'x', index_type, params });
      expect({ params, code: res.code }).toEqual({ params, code: 1100 });
      expect(res.reason).toMatch(message);
    }
    expectOk(await client.createIndex({ collection_name: name, field_name: 'meta', index_name: 'a1', index_type: 'INVERTED', params: { json_path: 'meta["a"]', json_cast_type: 'double' } }), 'a1');
    expectOk(await client.createIndex({ collection_name: name, field_name: 'meta', index_name: 'b1', index_type: 'AUTOINDEX', params: { json_path: 'meta["b"]', json_cast_type: 'varchar' } }), 'b1');
    const dup = await client.createIndex({ collection_name: name, field_name: 'meta', index_name: 'a2', index_type: 'INVERTED', params: { json_path: "meta['a']", json_cast_type: 'DOUBLE' } });
    expect(dup.reason).toMatch(/JSON field meta already has index "a1" on json_path meta\["a"\] with json_cast_type DOUBLE/);
    const listed = await client.listIndexes({ collection_name: name });
    expect([...listed.indexes].sort()).toEqual(['a1', 'b1']);
  });
});
