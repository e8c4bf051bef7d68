/**
 * Array fields through the Node SDK: a collection with Array fields of Int64, Int32, Double, Bool and VarChar
 * elements, rows inserted as JS arrays, flushed (sealed) and not (growing); filters with array_contains*,
 * array_length and element access checked against brute force over the inserted rows, in queries and in filtered
 * searches (FLAT, exact); the arrays come back in output fields as inserted; upsert replaces them; the schema is
 * described back with element_type and max_capacity; bad rows are refused naming the field and the row; after a
 * kill -9 (sealed segments reloaded, the rest replayed from the WAL) the answers are the same.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { ConsistencyLevelEnum, DataType, LoadState, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { eventually, expectFailure, expectOk, rng } from './helpers';

jest.setTimeout(300_000);

const STRONG = ConsistencyLevelEnum.Strong;
const NAME = 'e2e_arrays';
const DIM = 4;
const N_SEALED = 400;
const N_GROWING = 200;
const WORDS = ['a', 'b', 'c', 'dd', 'eee', 'été'];

interface Row {
  id: number;
  vector: number[];
  ai: number[];
  a32: number[];
  ad: number[];
  ab: boolean[];
  av: string[];
}

function rows(start: number, n: number, seed: number): Row[] {
  const r = rng(seed);
  const int = (k: number): number => Math.floor(r() * k);
  const list = <T>(max: number, f: () => T): T[] => Array.from({ length: int(max + 1) }, f);
  return Array.from({ length: n }, (_, i) => ({
    id: start + i,
    vector: Array.from({ length: DIM }, () => Math.fround(r() * 2 - 1)),
    ai: list(6, () => int(10)),
    a32: list(3, () => int(2000) - 1000),
    ad: list(3, () => (int(17) - 8) / 4),
    ab: list(3, () => r() < 0.5),
    av: list(4, () => WORDS[int(WORDS.length)]!),
  }));
}

const sealed = rows(0, N_SEALED, 31);
const growing = rows(N_SEALED, N_GROWING, 32);
let every = [...sealed, ...growing];

/** filter -> brute force over a row. */
const FILTERS: [string, (x: Row) => boolean][] = [
  ['array_contains(ai, 3)', (x) => x.ai.includes(3)],
  ['ARRAY_CONTAINS_ALL(ai, [1, 2])', (x) => x.ai.includes(1) && x.ai.includes(2)],
  ['array_contains_any(ai, [7, 9])', (x) => x.ai.includes(7) || x.ai.includes(9)],
  ['array_contains_any(av, ["été", "dd"])', (x) => x.av.includes('été') || x.av.includes('dd')],
  ['array_contains(ab, true)', (x) => x.ab.includes(true)],
  ['array_contains(ad, -0.25)', (x) => x.ad.includes(-0.25)],
  ['array_length(ai) == 0', (x) => x.ai.length === 0],
  ['array_length(av) > 2', (x) => x.av.length > 2],
  ['ai[0] == 4', (x) => x.ai.length > 0 && x.ai[0] === 4],
  ['ai[2] != 4', (x) => x.ai.length > 2 && x.ai[2] !== 4],
  ['ai[1] in [0, 9]', (x) => x.ai.length > 1 && [0, 9].includes(x.ai[1]!)],
  ['a32[0] < -500 or ad[1] >= 1.5', (x) => (x.a32.length > 0 && x.a32[0]! < -500) || (x.ad.length > 1 && x.ad[1]! >= 1.5)],
  ['a32[0] % 7 == 0', (x) => x.a32.length > 0 && x.a32[0]! % 7 === 0],
  ['av[0] like "e%" and not array_contains(ai, 0)', (x) => x.av.length > 0 && x.av[0]!.startsWith('e') && !x.ai.includes(0)],
];

let server: Standalone;
let client: MilvusClient;

beforeAll(async () => {
  server = await startStandalone();
  client = new MilvusClient({ address: server.address, timeout: 60_000 });
  await client.connectPromise;
}, 150_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  await server?.dispose();
});

async function ids(filter: string): Promise<number[]> {
  const res = await client.query({ collection_name: NAME, filter, output_fields: ['id'], limit: 16384, consistency_level: STRONG });
  expectOk(res.status, `query "${filter}"`);
  return res.data.map((x) => Number(x.id)).sort((a, b) => a - b);
}

const want = (f: (x: Row) => boolean): number[] => every.filter(f).map((x) => x.id).sort((a, b) => a - b);

/** A returned row's arrays as plain numbers, booleans and strings (Int64 elements may come back as strings). */
const asRow = (x: Record<string, unknown>): Omit<Row, 'vector'> => ({
  id: Number(x.id),
  ai: (x.ai as unknown[]).map(Number),
  a32: (x.a32 as unknown[]).map(Number),
  ad: (x.ad as unknown[]).map(Number),
  ab: x.ab as boolean[],
  av: x.av as string[],
});
const strip = ({ vector: _v, ...rest }: Row): Omit<Row, 'vector'> => rest;

test('Array fields: filters against brute force on sealed and growing rows, outputs, search, upsert, errors', async () => {
  expectOk(
    await client.createCollection({
      collection_name: NAME,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'vector', data_type: DataType.FloatVector, dim: DIM },
        { name: 'ai', data_type: DataType.Array, element_type: DataType.Int64, max_capacity: 6 },
        { name: 'a32', data_type: DataType.Array, element_type: DataType.Int32, max_capacity: 3 },
        { name: 'ad', data_type: DataType.Array, element_type: DataType.Double, max_capacity: 3 },
        { name: 'ab', data_type: DataType.Array, element_type: DataType.Bool, max_capacity: 3 },
        { name: 'av', data_type: DataType.Array, element_type: DataType.VarChar, max_capacity: 4, max_length: 5 },
      ],
      consistency_level: 'Strong',
    }),
    'createCollection',
  );
  const desc = await client.describeCollection({ collection_name: NAME });
  expectOk(desc.status, 'describeCollection');
  const av = desc.schema.fields.find((f) => f.name === 'av')!;
  expect([av.data_type, av.element_type]).toEqual(['Array', 'VarChar']);
  expect(Object.fromEntries(av.type_params.map((p) => [p.key, p.value]))).toEqual({ max_capacity: '4', max_length: '5' });

  expectOk((await client.insert({ collection_name: NAME, data: sealed.map((x) => ({ ...x })) })).status, 'insert sealed');
  expectOk((await client.flush({ collection_names: [NAME] })).status, 'flush');
  expectOk(await client.createIndex({ collection_name: NAME, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }), 'createIndex');
  await client.loadCollectionSync({ collection_name: NAME });
  expectOk((await client.insert({ collection_name: NAME, data: growing.map((x) => ({ ...x })) })).status, 'insert growing');

  for (const [filter, brute] of FILTERS) {
    const expected = want(brute);
    expect(expected.length).toBeGreaterThan(0);
    expect({ filter, got: await ids(filter) }).toEqual({ filter, got: expected });
  }

  // Outputs: the arrays as inserted, from sealed and growing rows.
  const pick = [0, 1, 2, N_SEALED - 1, N_SEALED, N_SEALED + N_GROWING - 1];
  const out = await client.query({ collection_name: NAME, filter: `id in [${pick.join(', ')}]`, output_fields: ['ai', 'a32', 'ad', 'ab', 'av'], consistency_level: STRONG });
  expectOk(out.status, 'query outputs');
  expect(out.data.map(asRow).sort((a, b) => a.id - b.id)).toEqual(pick.map((i) => strip(every[i]!)));

  // A filtered search with array outputs: exact (FLAT) against brute force.
  const q = [0.1, -0.2, 0.3, 0.4];
  const filter = 'array_contains_any(ai, [1, 2]) and array_length(av) >= 1';
  const res = await client.search({ collection_name: NAME, data: [q], limit: 10, filter, output_fields: ['ai', 'av'], consistency_level: STRONG });
  expectOk(res.status, 'search');
  const dist = (x: Row): number => x.vector.reduce((s, v, k) => s + (v - q[k]!) ** 2, 0);
  const truth = every.filter((x) => (x.ai.includes(1) || x.ai.includes(2)) && x.av.length >= 1).sort((a, b) => dist(a) - dist(b) || a.id - b.id).slice(0, 10);
  const hits = res.results as unknown as { id: string; ai: unknown[]; av: string[] }[];
  expect(hits.map((h) => Number(h.id))).toEqual(truth.map((x) => x.id));
  expect(hits.map((h) => [h.ai.map(Number), h.av])).toEqual(truth.map((x) => [x.ai, x.av]));

  // Upsert: a sealed and a growing row get new arrays.
  const changed = [every[7]!, every[N_SEALED + 7]!].map((x) => ({ ...x, ai: [42], av: ['zz'] }));
  expectOk((await client.upsert({ collection_name: NAME, data: changed.map((x) => ({ ...x })) })).status, 'upsert');
  every = every.map((x) => changed.find((c) => c.id === x.id) ?? x);
  expect(await ids('array_contains(ai, 42)')).toEqual([7, N_SEALED + 7]);
  for (const [f, brute] of FILTERS.slice(0, 4)) expect({ f, got: await ids(f) }).toEqual({ f, got: want(brute) });

  // Bad rows: the field and the row named.
  const bad = { ...rows(10_000, 1, 33)[0]!, ai: [1, 2, 3, 4, 5, 6, 7] };
  const over = await expectFailure('insert over capacity', () => client.insert({ collection_name: NAME, data: [bad] }));
  expect(over.message).toMatch(/field "ai": the length \(7\) of 0th array exceeds max capacity \(6\)/);
  const long = await expectFailure('insert long element', () => client.insert({ collection_name: NAME, data: [{ ...bad, ai: [1], av: ['abcdef'] }] }));
  expect(long.message).toMatch(/field "av": length of element 0 of row 0 is 6 bytes, exceeding max_length 5/);
  const mismatch = await expectFailure('type mismatch', () => client.query({ collection_name: NAME, filter: 'array_contains(ai, "x")', output_fields: ['id'] }));
  expect(mismatch.message).toMatch(/ai/);
  expect(await ids('id == 10000')).toEqual([]);

  // kill -9: the sealed rows come back from segment files, the growing ones and the upserts from the WAL.
  await client.closeConnection();
  await server.kill9();
  await server.restart();
  client = new MilvusClient({ address: server.address, timeout: 60_000 });
  await client.connectPromise;
  await eventually('collection loaded again', async () => {
    const st = await client.getLoadState({ collection_name: NAME });
    return st.state === LoadState.LoadStateLoaded ? true : undefined;
  }, 120_000);
  for (const [f, brute] of FILTERS) expect({ f, after: await ids(f) }).toEqual({ f, after: want(brute) });
  const again = await client.query({ collection_name: NAME, filter: `id in [${pick.join(', ')}, 7]`, output_fields: ['ai', 'a32', 'ad', 'ab', 'av'], consistency_level: STRONG });
  expectOk(again.status, 'query outputs after restart');
  expect(again.data.map(asRow).sort((a, b) => a.id - b.id)).toEqual([...pick, 7].sort((a, b) => a - b).map((i) => strip(every.find((x) => x.id === i)!)));
});
