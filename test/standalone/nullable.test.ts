/**
 * Nullable fields, default values and AddCollectionField through the official Node SDK, checked against a brute
 * force over the rows the test inserted: NULLs on every scalar type and JSON read back as null (sealed and growing
 * rows, with and without scalar indexes), `is null` / `is not null` and comparisons with NULL operands (never true,
 * `!=` and `not` included) as in Milvus; default values filled in for rows sent without the field and described back;
 * Milvus's refusals; a nullable field added to a loaded collection (old rows read null or its default), which
 * survives kill -9 and a restart.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { eventually, expectFailure, expectOk, score, waitIndexBuilt } from './helpers';

jest.setTimeout(300_000);

let server: Standalone;
let client: MilvusClient;

beforeAll(async () => {
  server = await startStandalone();
  client = new MilvusClient({ address: server.address, timeout: 60_000 });
  await client.connectPromise;
}, 150_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  if (server && !server.running) console.error(`kite standalone is not running at the end of the suite; log tail:\n${server.logTail(6000)}`);
  await server?.dispose();
});

type Row = Record<string, unknown> & { id: number; vector: number[] };

/** The nullable columns, each NULL in a different third of the rows. */
const NULLABLE: { name: string; type: DataType; value: (i: number) => unknown; extra?: Record<string, unknown> }[] = [
  { name: 'b', type: DataType.Bool, value: (i) => i % 2 === 0 },
  { name: 'i8', type: DataType.Int8, value: (i) => (i % 200) - 100 },
  { name: 'i16', type: DataType.Int16, value: (i) => i * 7 - 500 },
  { name: 'i32', type: DataType.Int32, value: (i) => i % 50 },
  { name: 'i64', type: DataType.Int64, value: (i) => i * 3 },
  { name: 'f', type: DataType.Float, value: (i) => i / 4 },
  { name: 'd', type: DataType.Double, value: (i) => i / 8 - 10 },
  { name: 's', type: DataType.VarChar, value: (i) => `${'abc'[i % 3]}${i}`, extra: { max_length: 32 } },
  { name: 'j', type: DataType.JSON, value: (i) => ({ k: i % 5 }) },
];
const N = 300;

function makeRow(i: number): Row {
  const r: Row = { id: i, vector: [Math.sin(i), Math.cos(i), (i % 17) / 17, (i % 5) / 5] };
  NULLABLE.forEach((f, k) => {
    r[f.name] = (i + k) % 3 === 0 ? null : f.value(i);
  });
  // dv: a non-nullable default, left out of every fourth row; ds: nullable with a default, null in every fifth.
  if (i % 4 !== 0) r.dv = i;
  r.ds = i % 5 === 0 ? null : `t${i % 3}`;
  return r;
}

/** What the server must return for a row: the default where the row had none, NULL where it holds NULL. */
function expected(r: Row): Record<string, unknown> {
  return { ...r, dv: r.dv ?? 42, ds: r.ds ?? 'none' };
}

/** Kleene logic over a row: null is unknown; only true rows match. */
type Tri = boolean | null;
const cmp = (v: unknown, test: (x: never) => boolean): Tri => (v === null || v === undefined ? null : test(v as never));
const not = (t: Tri): Tri => (t === null ? null : !t);
const and = (a: Tri, b: Tri): Tri => (a === false || b === false ? false : a === null || b === null ? null : true);
const or = (a: Tri, b: Tri): Tri => (a === true || b === true ? true : a === null || b === null ? null : false);

const FILTERS: [string, (r: Record<string, unknown>) => Tri][] = [
  ['i32 is null', (r) => r.i32 === null],
  ['i32 IS NOT NULL', (r) => r.i32 !== null],
  ['s is null and d is not null', (r) => r.s === null && r.d !== null],
  ['j is null', (r) => r.j === null],
  ['i32 > 40', (r) => cmp(r.i32, (x: number) => x > 40)],
  ['i32 != 5', (r) => cmp(r.i32, (x: number) => x !== 5)],
  ['not (i32 > 40)', (r) => not(cmp(r.i32, (x: number) => x > 40))],
  ['i64 in [0, 3, 6, 9, 12, 600]', (r) => cmp(r.i64, (x: number) => [0, 3, 6, 9, 12, 600].includes(x))],
  ['i64 not in [0, 3, 6]', (r) => cmp(r.i64, (x: number) => ![0, 3, 6].includes(x))],
  ['i64 >= 100 and i64 < 400', (r) => and(cmp(r.i64, (x: number) => x >= 100), cmp(r.i64, (x: number) => x < 400))],
  ['s like "a%"', (r) => cmp(r.s, (x: string) => x.startsWith('a'))],
  ['s == "b4"', (r) => cmp(r.s, (x: string) => x === 'b4')],
  ['d + 1 > 5', (r) => cmp(r.d, (x: number) => x + 1 > 5)],
  ['f * 2 <= 30', (r) => cmp(r.f, (x: number) => x * 2 <= 30)],
  ['b == true', (r) => cmp(r.b, (x: boolean) => x)],
  ['i8 < 0 or i16 > 1000', (r) => or(cmp(r.i8, (x: number) => x < 0), cmp(r.i16, (x: number) => x > 1000))],
  ['j["k"] == 2', (r) => cmp(r.j, (x: { k?: number }) => x.k === 2)],
  ['dv == 42', (r) => r.dv === 42],
  ['ds == "none"', (r) => r.ds === 'none'],
];

async function queryAll(collection: string, filter: string, output: string[]): Promise<Record<string, unknown>[]> {
  const res = await client.query({ collection_name: collection, filter, output_fields: output, limit: 16384, consistency_level: 'Strong' as never });
  expectOk(res.status, `query ${filter}`);
  return res.data;
}

function checkRow(got: Record<string, unknown>, want: Record<string, unknown>, fields: string[]): void {
  for (const name of fields) {
    const w = want[name];
    const g = got[name];
    if (w === null || w === undefined) expect({ id: want.id, [name]: g }).toEqual({ id: want.id, [name]: null });
    else if (typeof w === 'number' && !Number.isInteger(w)) expect(Number(g)).toBeCloseTo(w, 5);
    else if (typeof w === 'number') expect({ id: want.id, [name]: Number(g) }).toEqual({ id: want.id, [name]: w });
    else expect({ id: want.id, [name]: g }).toEqual({ id: want.id, [name]: w });
  }
}

const ALL = [...NULLABLE.map((f) => f.name), 'dv', 'ds'];

test('NULLs on every scalar type and JSON, and default values: output, filters and search against brute force, sealed and growing rows', async () => {
  const name = 'nl_all';
  expectOk(
    await client.createCollection({
      collection_name: name, consistency_level: 'Strong',
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'vector', data_type: DataType.FloatVector, dim: 4 },
        ...NULLABLE.map((f) => ({ name: f.name, data_type: f.type, nullable: true, ...(f.extra ?? {}) })),
        { name: 'dv', data_type: DataType.Int64, default_value: 42 },
        { name: 'ds', data_type: DataType.VarChar, max_length: 8, nullable: true, default_value: 'none' },
      ] as never,
    }),
    'create',
  );
  const d = await client.describeCollection({ collection_name: name });
  const byName = new Map(d.schema.fields.map((f) => [f.name, f]));
  for (const f of NULLABLE) expect({ f: f.name, nullable: byName.get(f.name)?.nullable }).toEqual({ f: f.name, nullable: true });
  expect(Number(byName.get('dv')?.default_value)).toBe(42);
  expect(byName.get('dv')?.nullable).toBe(false);
  expect(byName.get('ds')?.default_value).toBe('none');
  expect(byName.get('id')?.nullable).toBe(false);

  expectOk(await client.createIndex({ collection_name: name, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }), 'vector index');
  // Scalar indexes: NULL rows are left out of them, and filters must give the same answers as the scans.
  expectOk(await client.createIndex({ collection_name: name, field_name: 'i64', index_type: 'STL_SORT' }), 'i64 index');
  expectOk(await client.createIndex({ collection_name: name, field_name: 's', index_type: 'INVERTED' }), 's index');
  expectOk(await client.createIndex({ collection_name: name, field_name: 'i32', index_type: 'INVERTED' }), 'i32 index');
  expectOk(await client.loadCollectionSync({ collection_name: name }), 'load');

  const rows = Array.from({ length: N }, (_, i) => makeRow(i));
  // Two thirds sealed (flushed, indexed), the rest growing.
  expectOk((await client.insert({ collection_name: name, data: rows.slice(0, 200) as never })).status, 'insert sealed');
  expectOk((await client.flushSync({ collection_names: [name] })).status, 'flush');
  await waitIndexBuilt(client, name, 'i64');
  expectOk((await client.insert({ collection_name: name, data: rows.slice(200) as never })).status, 'insert growing');

  const want = rows.map(expected);
  const got = await queryAll(name, 'id >= 0', ALL);
  expect(got.length).toBe(N);
  const gotById = new Map(got.map((r) => [Number(r.id), r]));
  for (const w of want) checkRow(gotById.get(w.id as number)!, w, ALL);

  for (const [filter, pred] of FILTERS) {
    const ids = (await queryAll(name, filter, ['id'])).map((r) => Number(r.id)).sort((a, b) => a - b);
    const truth = want.filter((r) => pred(r) === true).map((r) => r.id as number);
    expect({ filter, ids }).toEqual({ filter, ids: truth });
  }
  const counted = await client.query({ collection_name: name, filter: 'i16 is null', output_fields: ['count(*)'], consistency_level: 'Strong' as never });
  expect(Number(counted.data[0]!['count(*)'])).toBe(want.filter((r) => r.i16 === null).length);

  // Search: a filter on a nullable field and NULL outputs.
  const q = [0.3, 0.9, 0.2, 0.4];
  const s = await client.search({ collection_name: name, data: [q], limit: 10, filter: 'i32 is not null and s is null', output_fields: ['i32', 's', 'j'], metric_type: 'L2', consistency_level: 'Strong' as never });
  expectOk(s.status, 'search');
  const truth = want
    .filter((r) => r.i32 !== null && r.s === null)
    .map((r) => ({ id: r.id as number, dist: score('L2', q, r.vector as number[]) }))
    .sort((a, b) => a.dist - b.dist)
    .slice(0, 10);
  const hits = s.results as unknown as Record<string, unknown>[];
  expect(hits.map((h) => Number(h.id))).toEqual(truth.map((t) => t.id));
  for (const h of hits) checkRow(h, want[Number(h.id)]!, ['i32', 's', 'j']);

  // Upsert: a row sent without a nullable field reads NULL, without a default field its default.
  expectOk((await client.upsert({ collection_name: name, data: [{ id: 1, vector: [0, 0, 0, 0], i32: 7 }] })).status, 'upsert');
  const up = await queryAll(name, 'id == 1', ALL);
  checkRow(up[0]!, { id: 1, b: null, i8: null, i16: null, i32: 7, i64: null, f: null, d: null, s: null, j: null, dv: 42, ds: 'none' }, ALL);
});

test("Milvus's refusals: nullable primary key, vector or partition key; default values too long, out of range or on the primary key; NULL in a non-nullable field", async () => {
  const base = [
    { name: 'id', data_type: DataType.Int64, is_primary_key: true },
    { name: 'vector', data_type: DataType.FloatVector, dim: 4 },
  ];
  const refused = async (what: string, fields: unknown[], pattern: RegExp): Promise<void> => {
    const out = await expectFailure(what, () => client.createCollection({ collection_name: `nl_bad_${what}`, fields: fields as never }));
    expect({ what, message: out.message }).toEqual({ what, message: expect.stringMatching(pattern) });
  };
  await refused('pk', [{ ...base[0], nullable: true }, base[1]], /primary field not support null/);
  await refused('vector', [base[0], { ...base[1], nullable: true }], /vector type not support null, type:FloatVector, fieldName:vector/);
  await refused('partkey', [...base, { name: 'k', data_type: DataType.Int64, is_partition_key: true, nullable: true }], /partition key field not support nullable/);
  await refused('pkdefault', [{ ...base[0], default_value: 3 }, base[1]], /primary field not support default_value/);
  await refused('long', [...base, { name: 's', data_type: DataType.VarChar, max_length: 2, default_value: 'abcd' }], /the length \(4\) of string exceeds max length \(2\)/);
  await refused('int8', [...base, { name: 'x', data_type: DataType.Int8, default_value: 300 }], /300 out of range -128 <= value <= 127/);

  const name = 'nl_strict';
  expectOk(await client.createCollection({ collection_name: name, fields: [...base, { name: 'x', data_type: DataType.Int64 }] as never }), 'create');
  const missing = await expectFailure('insert without x', () => client.insert({ collection_name: name, data: [{ id: 1, vector: [0, 0, 0, 0] }] }));
  expect(missing.message).toMatch(/x/);
});

test('AddCollectionField on a loaded collection: old rows read null or the default, new rows take values, refusals, and it all survives kill -9', async () => {
  const name = 'nl_add';
  expectOk(
    await client.createCollection({
      collection_name: name, consistency_level: 'Strong',
      fields: [{ name: 'id', data_type: DataType.Int64, is_primary_key: true }, { name: 'vector', data_type: DataType.FloatVector, dim: 4 }],
    }),
    'create',
  );
  expectOk(await client.createIndex({ collection_name: name, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }), 'index');
  expectOk(await client.loadCollectionSync({ collection_name: name }), 'load');
  const vec = (i: number): number[] => [i, 1, 0, 0];
  expectOk((await client.insert({ collection_name: name, data: Array.from({ length: 50 }, (_, i) => ({ id: i, vector: vec(i) })) })).status, 'insert sealed');
  expectOk((await client.flushSync({ collection_names: [name] })).status, 'flush');
  expectOk((await client.insert({ collection_name: name, data: Array.from({ length: 20 }, (_, i) => ({ id: 50 + i, vector: vec(50 + i) })) })).status, 'insert growing');

  // Refusals, with Milvus's messages.
  const add = (field: Record<string, unknown>) => client.addCollectionField({ collection_name: name, field: field as never });
  expect((await expectFailure('non-nullable', () => add({ name: 'x', data_type: DataType.Int64 }))).message).toMatch(/added field must be nullable, please check it, field name = x/);
  expect((await expectFailure('vector', () => add({ name: 'v2', data_type: DataType.FloatVector, dim: 4, nullable: true }))).message).toMatch(/not support to add vector field, field name = v2/);
  expect((await expectFailure('pk', () => add({ name: 'p2', data_type: DataType.Int64, is_primary_key: true, nullable: true }))).message).toMatch(/not support to add pk field, field name = p2/);
  expect((await expectFailure('duplicate', () => add({ name: 'id', data_type: DataType.Int64, nullable: true }))).message).toMatch(/duplicate field name/);

  expectOk(await add({ name: 'tag', data_type: DataType.VarChar, max_length: 16, nullable: true }), 'add tag');
  expectOk(await add({ name: 'level', data_type: DataType.Int64, nullable: true, default_value: 7 }), 'add level');
  const d = await client.describeCollection({ collection_name: name });
  const added = d.schema.fields.filter((f) => f.name === 'tag' || f.name === 'level');
  expect(added.map((f) => [f.name, f.nullable])).toEqual([['tag', true], ['level', true]]);
  expect(Number(added[1]!.default_value)).toBe(7);

  // New rows: values, NULLs, the default for a row without the field; one more batch sealed, one growing.
  const newRows = Array.from({ length: 30 }, (_, i) => {
    const id = 100 + i;
    const r: Record<string, unknown> = { id, vector: vec(id), tag: i % 3 === 0 ? null : `t${i % 2}` };
    if (i % 4 !== 0) r.level = i;
    return r;
  });
  expectOk((await client.insert({ collection_name: name, data: newRows.slice(0, 15) as never })).status, 'insert new sealed');
  expectOk((await client.flushSync({ collection_names: [name] })).status, 'flush 2');
  expectOk((await client.insert({ collection_name: name, data: newRows.slice(15) as never })).status, 'insert new growing');

  const truth = new Map<number, { tag: string | null; level: number }>();
  for (let i = 0; i < 70; i++) truth.set(i, { tag: null, level: 7 });
  for (const r of newRows) truth.set(r.id as number, { tag: (r.tag as string | null) ?? null, level: (r.level as number | undefined) ?? 7 });

  const check = async (when: string): Promise<void> => {
    const got = await queryAll(name, 'id >= 0', ['tag', 'level']);
    expect({ when, n: got.length }).toEqual({ when, n: truth.size });
    for (const r of got) {
      const w = truth.get(Number(r.id))!;
      expect({ when, id: Number(r.id), tag: r.tag, level: Number(r.level) }).toEqual({ when, id: Number(r.id), tag: w.tag, level: w.level });
    }
    const cases: [string, (t: { tag: string | null; level: number }) => boolean][] = [
      ['tag is null', (t) => t.tag === null],
      ['tag == "t1"', (t) => t.tag === 't1'],
      ['tag != "t1"', (t) => t.tag !== null && t.tag !== 't1'],
      ['level == 7', (t) => t.level === 7],
      ['level > 7', (t) => t.level > 7],
      ['level is null', () => false],
    ];
    for (const [filter, pred] of cases) {
      const ids = (await queryAll(name, filter, ['id'])).map((r) => Number(r.id)).sort((a, b) => a - b);
      const want = [...truth].filter(([, t]) => pred(t)).map(([id]) => id).sort((a, b) => a - b);
      expect({ when, filter, ids }).toEqual({ when, filter, ids: want });
    }
    // Nearest rows: an old one (NULL, default) and a new one.
    for (const id of [3, 101, 104]) {
      const s = await client.search({ collection_name: name, data: [vec(id)], limit: 1, output_fields: ['tag', 'level'], consistency_level: 'Strong' as never });
      expectOk(s.status, 'search');
      const hits = s.results as unknown as Record<string, unknown>[];
      const w = truth.get(id)!;
      expect({ when, hits: hits.map((h) => [Number(h.id), h.tag, Number(h.level)]) }).toEqual({ when, hits: [[id, w.tag, w.level]] });
    }
  };
  await check('before restart');

  await server.kill9();
  await server.restart();
  await client.closeConnection();
  client = new MilvusClient({ address: server.address, timeout: 60_000 });
  await client.connectPromise;
  await eventually('loaded after restart', async () => ((await client.getLoadState({ collection_name: name })).state === 'LoadStateLoaded' ? true : undefined));
  await check('after restart');
});
