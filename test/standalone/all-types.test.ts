/**
 * An Attu-style schema through the Node SDK on Kite standalone: one collection with a field of every type Kite
 * serves (all scalars, JSON, nullable and default-valued columns, Array fields of Int64 and VarChar, a VarChar primary key, FloatVector, BinaryVector, Float16Vector, BFloat16Vector,
 * Int8Vector and SparseFloatVector, a dynamic key), a partition key, scalar indexes (BITMAP, STL_SORT, INVERTED,
 * Trie) and vector indexes. It is created, filled (sealed and growing rows, some deletes), loaded, searched on each
 * vector field and queried with filters on each scalar field; then the process is killed with SIGKILL, restarted on
 * the same data, and everything is checked again. Every expected answer is computed here from the rows inserted
 * (brute force).
 *
 * The test is driven by FIELDS: each entry gives the field's schema, its index, a value generator, how a returned
 * value compares with the inserted one, filters with the same predicate in TypeScript, and for vector fields the
 * metric and distance. Adding a column (a nullable or default-valued one, an Array) is one more entry.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { bf16BytesToF32Array, ConsistencyLevelEnum, DataType, f16BytesToF32Array, f32ArrayToBf16Bytes, f32ArrayToF16Bytes, LoadState, MilvusClient, type RowData } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { chunks, clusteredVectors, dynamicValue, eventually, flushAndWait, expectOk, queriesNear, rng, waitIndexBuilt } from './helpers';

jest.setTimeout(600_000);

const STRONG = ConsistencyLevelEnum.Strong;
const NAME = 'e2e_all_types';
const N = 1200;
const SEALED = 800;
const NUM_PARTITIONS = 8;
const K = 10;
const NQ = 4;

type Row = Record<string, unknown>;

interface Filter {
  expr: string;
  keep: (r: Row) => boolean;
}

interface VectorSpec {
  metric: 'L2' | 'IP' | 'COSINE' | 'HAMMING' | 'JACCARD';
  /** The score Milvus reports for a stored value and a query (distance or similarity). */
  score: (stored: unknown, query: unknown) => number;
  /** Queries, in the form the SDK sends. */
  queries: unknown[];
  params?: Record<string, unknown>;
  /** 1: the hits must be the exact top K (ties may swap); below 1: an ANN index, at least this recall. */
  minRecall: number;
}

interface FieldCase {
  name: string;
  /** The field as createCollection takes it (name added); absent for a dynamic key. */
  schema?: Record<string, unknown>;
  /** The value row i is inserted with; undefined leaves the field out of the row. */
  value: (i: number, next: () => number) => unknown;
  /** The value reads return for an inserted one (e.g. a default_value for a missing one); the inserted by default. */
  stored?: (inserted: unknown) => unknown;
  index?: { index_type: string; metric_type?: string; params?: Record<string, unknown> };
  /** Whether a returned value is the inserted one. */
  same: (got: unknown, want: unknown) => boolean;
  filters?: Filter[];
  vector?: VectorSpec;
}

// ---------------------------------------------------------------------------------------------------------------------
// value helpers

const WORDS = ['apple', 'apricot', 'banana', 'band', 'cherry', 'date', 'elder', 'fig', 'grape', 'zebra'];
const eq = (got: unknown, want: unknown): boolean => got === want;
const num = (got: unknown, want: unknown): boolean => Number(got) === want;
const f32 = (got: unknown, want: unknown): boolean => Math.fround(Number(got)) === Math.fround(want as number);
const sameJson = (got: unknown, want: unknown): boolean => JSON.stringify(sortKeys(got)) === JSON.stringify(sortKeys(want));
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  return v;
}
const sameArray = (got: unknown, want: unknown): boolean => {
  const a = Array.from(got as ArrayLike<number>);
  const b = want as number[];
  return a.length === b.length && a.every((x, i) => Math.fround(x) === Math.fround(b[i]!));
};

function dot(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}
const l2 = (a: number[], b: number[]): number => a.reduce((s, x, i) => s + (x - b[i]!) ** 2, 0);
const cosine = (a: number[], b: number[]): number => dot(a, b) / (Math.sqrt(dot(a, a)) * Math.sqrt(dot(b, b)) || 1);
const popcount = (x: number): number => {
  let c = 0;
  for (let v = x; v; v &= v - 1) c++;
  return c;
};
const hamming = (a: number[], b: number[]): number => a.reduce((s, x, i) => s + popcount(x ^ b[i]!), 0);
/** The float16 values a vector is stored as (decoded by the SDK's own code). */
const asF16 = (v: number[]): number[] => f16BytesToF32Array(f32ArrayToF16Bytes(v));
/** The bfloat16 values a vector is stored as. */
const asBf16 = (v: number[]): number[] => bf16BytesToF32Array(f32ArrayToBf16Bytes(v));
type Sparse = Record<string, number>;
const sparseIp = (a: Sparse, b: Sparse): number => Object.entries(a).reduce((s, [k, v]) => s + (b[k] !== undefined ? v * b[k]! : 0), 0);

const FV_DIM = 16;
const BV_DIM = 32;
const H_DIM = 8;
const SPARSE_VOCAB = 60;
const FV = clusteredVectors(N, FV_DIM, 101);
const H = clusteredVectors(N, H_DIM, 202).map(asF16);
const BF = clusteredVectors(N, H_DIM, 303).map(asBf16);
const I8 = clusteredVectors(N, H_DIM, 404).map((v) => v.map((x) => Math.max(-128, Math.min(127, Math.round(x * 60)))));

function sparseRow(next: () => number): Sparse {
  const out: Sparse = {};
  const nnz = 1 + Math.floor(next() * 6);
  while (Object.keys(out).length < nnz) out[String(Math.floor(next() * SPARSE_VOCAB))] = Math.fround(0.05 + next());
  return out;
}
const qnext = rng(909);

// ---------------------------------------------------------------------------------------------------------------------
// the field table

const PARTITION_KEYS = 37;

const FIELDS: FieldCase[] = [
  {
    name: 'pk',
    schema: { data_type: DataType.VarChar, max_length: 32, is_primary_key: true },
    value: (i) => `r${String(i).padStart(5, '0')}`,
    same: eq,
    filters: [
      { expr: 'pk in ["r00003", "r00999", "r01150", "nope"]', keep: (r) => ['r00003', 'r00999', 'r01150'].includes(r.pk as string) },
      { expr: 'pk like "r0011%"', keep: (r) => (r.pk as string).startsWith('r0011') },
    ],
  },
  {
    name: 'b',
    schema: { data_type: DataType.Bool },
    value: (i) => i % 3 === 0,
    index: { index_type: 'BITMAP' },
    same: eq,
    filters: [{ expr: 'b == true and i32 < 5', keep: (r) => r.b === true && (r.i32 as number) < 5 }, { expr: 'not b', keep: (r) => r.b === false }],
  },
  {
    name: 'i8',
    schema: { data_type: DataType.Int8 },
    value: (i) => ((i * 7) % 256) - 128,
    index: { index_type: 'STL_SORT' },
    same: num,
    filters: [{ expr: 'i8 < -120', keep: (r) => (r.i8 as number) < -120 }],
  },
  {
    name: 'i16',
    schema: { data_type: DataType.Int16 },
    value: (_i, next) => Math.floor(next() * 60000) - 30000,
    index: { index_type: 'INVERTED' },
    same: num,
    filters: [{ expr: 'i16 >= 0 and i16 < 3000', keep: (r) => (r.i16 as number) >= 0 && (r.i16 as number) < 3000 }],
  },
  {
    name: 'i32',
    schema: { data_type: DataType.Int32 },
    value: (i) => i % 50,
    index: { index_type: 'BITMAP' },
    same: num,
    filters: [{ expr: 'i32 in [3, 17, 49]', keep: (r) => [3, 17, 49].includes(r.i32 as number) }],
  },
  {
    name: 'key',
    schema: { data_type: DataType.Int64, is_partition_key: true },
    value: (i) => (i * 13) % PARTITION_KEYS,
    index: { index_type: 'INVERTED' },
    same: num,
    filters: [
      { expr: 'key == 5', keep: (r) => r.key === 5 },
      { expr: 'key in [1, 2, 30] and i8 > 0', keep: (r) => [1, 2, 30].includes(r.key as number) && (r.i8 as number) > 0 },
    ],
  },
  {
    name: 'i64',
    schema: { data_type: DataType.Int64 },
    value: (_i, next) => Math.floor(next() * 2 ** 52) - 2 ** 51,
    index: { index_type: 'STL_SORT' },
    same: num,
    filters: [{ expr: `i64 > ${2 ** 50}`, keep: (r) => (r.i64 as number) > 2 ** 50 }],
  },
  {
    name: 'f',
    schema: { data_type: DataType.Float },
    value: (_i, next) => Math.floor(next() * 800 - 400) / 8,
    index: { index_type: 'STL_SORT' },
    same: f32,
    filters: [{ expr: 'f < -45.5', keep: (r) => (r.f as number) < -45.5 }, { expr: 'f == 0.125', keep: (r) => r.f === 0.125 }],
  },
  {
    name: 'd',
    schema: { data_type: DataType.Double },
    value: (_i, next) => next(),
    index: { index_type: 'INVERTED' },
    same: eq,
    filters: [{ expr: 'd >= 0.25 and d < 0.3', keep: (r) => (r.d as number) >= 0.25 && (r.d as number) < 0.3 }],
  },
  {
    name: 's',
    schema: { data_type: DataType.VarChar, max_length: 64 },
    value: (i, next) => `${WORDS[Math.floor(next() * WORDS.length)]}${i % 4 === 0 ? String(i % 10) : ''}`,
    index: { index_type: 'Trie' },
    same: eq,
    filters: [{ expr: 's like "ap%"', keep: (r) => (r.s as string).startsWith('ap') }, { expr: 's == "banana4"', keep: (r) => r.s === 'banana4' }],
  },
  {
    name: 'j',
    schema: { data_type: DataType.JSON },
    value: (i) => ({ k: i % 10, tag: WORDS[i % WORDS.length], arr: [i % 3, i % 5], nested: { x: i % 7 } }),
    same: sameJson,
    filters: [
      { expr: 'j["k"] == 3', keep: (r) => (r.j as { k: number }).k === 3 },
      { expr: 'json_contains(j["arr"], 4) and j["nested"]["x"] > 4', keep: (r) => (r.j as { arr: number[] }).arr.includes(4) && (r.j as { nested: { x: number } }).nested.x > 4 },
    ],
  },
  {
    name: 'ai',
    schema: { data_type: DataType.Array, element_type: DataType.Int64, max_capacity: 6 },
    value: (i, next) => Array.from({ length: i % 7 === 0 ? 0 : 1 + Math.floor(next() * 6) }, () => Math.floor(next() * 20)),
    same: (got, want) => JSON.stringify((got as unknown[]).map(Number)) === JSON.stringify(want),
    filters: [
      { expr: 'array_contains(ai, 7)', keep: (r) => (r.ai as number[]).includes(7) },
      { expr: 'array_contains_all(ai, [1, 2])', keep: (r) => [1, 2].every((x) => (r.ai as number[]).includes(x)) },
      { expr: 'array_length(ai) == 0 or ai[2] > 17', keep: (r) => (r.ai as number[]).length === 0 || ((r.ai as number[])[2] ?? -Infinity) > 17 },
    ],
  },
  {
    name: 'as',
    schema: { data_type: DataType.Array, element_type: DataType.VarChar, max_capacity: 3, max_length: 16 },
    value: (_i, next) => Array.from({ length: Math.floor(next() * 4) }, () => WORDS[Math.floor(next() * WORDS.length)]!),
    same: (got, want) => JSON.stringify(got) === JSON.stringify(want),
    filters: [{ expr: 'array_contains_any(as, ["fig", "zebra"]) and as[0] != "fig"', keep: (r) => (r.as as string[]).some((x) => x === 'fig' || x === 'zebra') && (r.as as string[]).length > 0 && (r.as as string[])[0] !== 'fig' }],
  },
  {
    name: 'n32',
    schema: { data_type: DataType.Int32, nullable: true },
    value: (i) => (i % 5 === 0 ? null : i % 100),
    index: { index_type: 'INVERTED' },
    same: eq,
    filters: [
      { expr: 'n32 is null and i32 < 10', keep: (r) => r.n32 === null && (r.i32 as number) < 10 },
      // A NULL row matches no comparison, != included.
      { expr: 'n32 > 90 or n32 != n32', keep: (r) => r.n32 !== null && (r.n32 as number) > 90 },
      { expr: 'n32 != 3 and key == 7', keep: (r) => r.n32 !== null && r.n32 !== 3 && r.key === 7 },
    ],
  },
  {
    name: 'ns',
    schema: { data_type: DataType.VarChar, max_length: 16, nullable: true, default_value: 'none' },
    // Left out of some rows, NULL in others: both read as the default.
    value: (i) => (i % 6 === 0 ? undefined : i % 9 === 0 ? null : WORDS[i % WORDS.length]),
    stored: (v) => (v === undefined || v === null ? 'none' : v),
    same: eq,
    filters: [{ expr: 'ns == "none"', keep: (r) => r.ns === 'none' }, { expr: 'ns is not null and ns like "b%"', keep: (r) => (r.ns as string).startsWith('b') }],
  },
  {
    name: 'nd',
    schema: { data_type: DataType.Double, default_value: 1.5 },
    value: (i, next) => (i % 3 === 0 ? undefined : Math.floor(next() * 100) / 4),
    stored: (v) => (v === undefined ? 1.5 : v),
    index: { index_type: 'STL_SORT' },
    same: eq,
    filters: [{ expr: 'nd == 1.5', keep: (r) => r.nd === 1.5 }],
  },
  {
    name: 'nj',
    schema: { data_type: DataType.JSON, nullable: true },
    value: (i) => (i % 4 === 0 ? null : { a: i % 3 }),
    same: sameJson,
    filters: [{ expr: 'nj is null and b == true', keep: (r) => r.nj === null && r.b === true }, { expr: 'nj["a"] == 1', keep: (r) => r.nj !== null && (r.nj as { a: number }).a === 1 }],
  },
  {
    name: 'extra',
    value: (i) => i % 4,
    same: num,
    filters: [{ expr: 'extra == 2', keep: (r) => r.extra === 2 }],
  },
  {
    name: 'fv',
    schema: { data_type: DataType.FloatVector, dim: FV_DIM },
    value: (i) => FV[i]!,
    index: { index_type: 'IVF_FLAT', metric_type: 'L2', params: { nlist: 16 } },
    same: sameArray,
    vector: { metric: 'L2', score: (a, b) => l2(a as number[], b as number[]), queries: queriesNear(FV, NQ, 11), params: { nprobe: 16 }, minRecall: 1 },
  },
  {
    name: 'bv',
    schema: { data_type: DataType.BinaryVector, dim: BV_DIM },
    value: (_i, next) => Array.from({ length: BV_DIM / 8 }, () => Math.floor(next() * 256)),
    index: { index_type: 'BIN_FLAT', metric_type: 'HAMMING' },
    same: sameArray,
    vector: {
      metric: 'HAMMING', score: (a, b) => hamming(Array.from(a as number[]), b as number[]),
      queries: Array.from({ length: NQ }, () => Array.from({ length: BV_DIM / 8 }, () => Math.floor(qnext() * 256))), minRecall: 1,
    },
  },
  {
    name: 'h',
    schema: { data_type: DataType.Float16Vector, dim: H_DIM },
    value: (i) => H[i]!,
    index: { index_type: 'HNSW', metric_type: 'COSINE', params: { M: 16, efConstruction: 128 } },
    same: sameArray,
    vector: { metric: 'COSINE', score: (a, b) => cosine(a as number[], b as number[]), queries: queriesNear(H, NQ, 12).map(asF16), params: { ef: 200 }, minRecall: 0.9 },
  },
  {
    name: 'bf',
    schema: { data_type: DataType.BFloat16Vector, dim: H_DIM },
    value: (i) => BF[i]!,
    index: { index_type: 'FLAT', metric_type: 'IP' },
    same: sameArray,
    vector: { metric: 'IP', score: (a, b) => dot(a as number[], b as number[]), queries: queriesNear(BF, NQ, 13).map(asBf16), minRecall: 1 },
  },
  {
    name: 'i8v',
    schema: { data_type: DataType.Int8Vector, dim: H_DIM },
    value: (i) => I8[i]!,
    index: { index_type: 'HNSW', metric_type: 'L2', params: { M: 16, efConstruction: 128 } },
    // The SDK hands back the stored bytes as unsigned numbers: read them as int8.
    same: (got, want) => sameArray(Array.from(Int8Array.from(got as number[])), want),
    vector: { metric: 'L2', score: (a, b) => l2(Array.from(Int8Array.from(a as number[])), b as number[]), queries: I8.slice(0, NQ).map((v) => v.map((x, i) => (i % 3 === 0 ? Math.min(127, x + 1) : x))), params: { ef: 200 }, minRecall: 0.9 },
  },
  {
    name: 'sp',
    schema: { data_type: DataType.SparseFloatVector },
    value: (_i, next) => sparseRow(next),
    index: { index_type: 'SPARSE_INVERTED_INDEX', metric_type: 'IP' },
    same: (got, want) => sameJson(Object.fromEntries(Object.entries(got as Sparse).map(([k, v]) => [k, Math.fround(v)])), want),
    vector: { metric: 'IP', score: (a, b) => sparseIp(a as Sparse, b as Sparse), queries: Array.from({ length: NQ }, () => sparseRow(qnext)), minRecall: 1 },
  },
];

/** Filters searches run with, beside none: one on the partition key (pruned), one on another field. */
const SEARCH_FILTERS: Filter[] = [
  { expr: 'key in [4, 9, 20]', keep: (r) => [4, 9, 20].includes(r.key as number) },
  { expr: 'i32 < 25 and b == false', keep: (r) => (r.i32 as number) < 25 && r.b === false },
];

// ---------------------------------------------------------------------------------------------------------------------
// data and the acknowledged state

/** The rows as inserted (fields whose value is undefined left out). */
function makeRows(): Row[] {
  const nexts = new Map(FIELDS.map((f, i) => [f.name, rng(1000 + i)]));
  return Array.from({ length: N }, (_, i) => Object.fromEntries(FIELDS.map((f) => [f.name, f.value(i, nexts.get(f.name)!)]).filter(([, v]) => v !== undefined)));
}

const ROWS = makeRows();
/** The rows as reads must return them: what filters, searches and outputs are checked against. */
const STORED: Row[] = ROWS.map((r) => Object.fromEntries(FIELDS.map((f) => [f.name, f.stored ? f.stored(r[f.name]) : r[f.name]])));
const DELETED = new Set(ROWS.filter((_, i) => i % 41 === 7).map((r) => r.pk as string));
const live = (): Row[] => STORED.filter((r) => !DELETED.has(r.pk as string));

let server: Standalone;
let client: MilvusClient;

function connect(): MilvusClient {
  return new MilvusClient({ address: server.address, timeout: 120_000 });
}

beforeAll(async () => {
  server = await startStandalone();
  client = connect();
  await client.connectPromise;
}, 150_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  await server?.dispose();
});

// ---------------------------------------------------------------------------------------------------------------------
// checks

async function queryAll(filter: string, outputFields: string[]): Promise<Row[]> {
  const res = await client.query({ collection_name: NAME, filter, output_fields: outputFields, limit: 16384, consistency_level: STRONG });
  expectOk(res.status, `query ${filter}`);
  return res.data as Row[];
}

async function checkRows(what: string): Promise<void> {
  const count = await client.query({ collection_name: NAME, filter: '', output_fields: ['count(*)'], consistency_level: STRONG });
  expectOk(count.status, 'count(*)');
  expect({ what, count: Number(count.data[0]?.['count(*)']) }).toEqual({ what, count: live().length });

  // Every live row, every field, as inserted.
  const got = await queryAll('pk != ""', FIELDS.map((f) => f.name));
  const byPk = new Map(got.map((r) => [r.pk as string, r]));
  expect({ what, rows: got.length }).toEqual({ what, rows: live().length });
  const wrong: string[] = [];
  for (const want of live()) {
    const row = byPk.get(want.pk as string);
    if (!row) {
      wrong.push(`${want.pk as string}: missing`);
      continue;
    }
    for (const f of FIELDS) {
      const value = f.schema ? row[f.name] : dynamicValue(row, f.name);
      if (!f.same(value, want[f.name])) wrong.push(`${want.pk as string}.${f.name}: got ${JSON.stringify(value)}, inserted ${JSON.stringify(want[f.name])}`);
    }
  }
  expect({ what, wrong: wrong.slice(0, 10) }).toEqual({ what, wrong: [] });
}

async function checkFilters(what: string): Promise<void> {
  for (const f of FIELDS) {
    for (const flt of f.filters ?? []) {
      const ids = (await queryAll(flt.expr, ['pk'])).map((r) => r.pk as string).sort();
      const want = live().filter(flt.keep).map((r) => r.pk as string).sort();
      expect({ what, filter: flt.expr, ids }).toEqual({ what, filter: flt.expr, ids: want });
    }
  }
}

async function checkSearches(what: string): Promise<void> {
  for (const f of FIELDS) {
    const v = f.vector;
    if (!v) continue;
    const higher = v.metric === 'IP' || v.metric === 'COSINE';
    for (const flt of [undefined, ...SEARCH_FILTERS]) {
      const res = await client.search({
        collection_name: NAME, anns_field: f.name, data: v.queries, limit: K, output_fields: ['pk'], consistency_level: STRONG,
        ...(flt ? { filter: flt.expr } : {}), ...(v.params ? { params: v.params } : {}),
      } as never);
      expectOk(res.status, `search ${f.name}`);
      // The SDK names each hit's primary key after the primary field (pk).
      const results = res.results as unknown as { pk: string; score: number }[][];
      const rows = live().filter((r) => !flt || flt.keep(r));
      v.queries.forEach((q, qi) => {
        const scored = new Map(rows.map((r) => [r.pk as string, v.score(r[f.name], q)]));
        // Sparse rows with no shared dimension score 0 and are not hits (Milvus returns only matching rows).
        const candidates = [...scored].filter(([, s]) => v.metric !== 'IP' || s > 0);
        candidates.sort((a, b) => (higher ? b[1] - a[1] : a[1] - b[1]) || (a[0] < b[0] ? -1 : 1));
        const exact = candidates.slice(0, K);
        expect({ f: f.name, filter: flt?.expr, candidates: exact.length }).toEqual({ f: f.name, filter: flt?.expr, candidates: K });
        const hits = results[qi]!;
        const label = `${what}: ${f.name} ${v.metric} query ${qi}${flt ? ` filter ${flt.expr}` : ''}`;
        expect({ label, n: hits.length }).toEqual({ label, n: exact.length });
        for (const h of hits) {
          const truth = scored.get(h.pk);
          expect({ label, pk: h.pk, passes: truth !== undefined }).toEqual({ label, pk: h.pk, passes: true });
          expect(Math.abs(h.score - truth!)).toBeLessThanOrEqual(1e-3 * Math.max(1, Math.abs(truth!)));
        }
        if (v.minRecall >= 1) {
          // Exact: the score sequence is the brute force's (rows tied at equal score may swap).
          hits.forEach((h, i) => expect(Math.abs(h.score - exact[i]![1])).toBeLessThanOrEqual(1e-3 * Math.max(1, Math.abs(exact[i]![1]))));
        } else {
          // An ANN index: a hit counts when its true score is as good as the exact k-th (rows tie, e.g. int8).
          const kth = exact[exact.length - 1]![1];
          const good = hits.filter((h) => (higher ? scored.get(h.pk)! >= kth - 1e-6 : scored.get(h.pk)! <= kth + 1e-6)).length;
          expect({ label, recall: good / exact.length >= v.minRecall }).toEqual({ label, recall: true });
        }
      });
    }
  }
}

async function checkPartitions(what: string): Promise<void> {
  const parts = await client.showPartitions({ collection_name: NAME });
  expectOk(parts.status, 'showPartitions');
  expect({ what, partitions: parts.partition_names }).toEqual({ what, partitions: Array.from({ length: NUM_PARTITIONS }, (_, i) => `_default_${i}`) });
}

async function checkAll(what: string): Promise<void> {
  await checkPartitions(what);
  await checkRows(what);
  await checkFilters(what);
  await checkSearches(what);
}

// ---------------------------------------------------------------------------------------------------------------------

test('every field type, a partition key and scalar and vector indexes: filled, searched, queried, and again after kill -9', async () => {
  const fields: Record<string, unknown>[] = FIELDS.filter((f) => f.schema).map((f) => ({ name: f.name, ...f.schema }));
  expectOk(
    await client.createCollection({ collection_name: NAME, fields: fields as never, enable_dynamic_field: true, num_partitions: NUM_PARTITIONS, consistency_level: 'Strong' } as never),
    'createCollection',
  );
  for (const f of FIELDS.filter((x) => x.index)) {
    expectOk(await client.createIndex({ collection_name: NAME, field_name: f.name, index_name: f.name, ...f.index } as never), `createIndex ${f.name}`);
  }
  const desc = await client.describeCollection({ collection_name: NAME });
  expectOk(desc.status, 'describeCollection');
  expect(desc.schema.fields.map((f) => [f.name, f.data_type])).toEqual(fields.map((f) => [f.name, DataType[f.data_type as DataType]]));

  // Sealed rows: inserted and flushed; then the indexes are built on them.
  for (const part of chunks(ROWS.slice(0, SEALED), 400)) expectOk((await client.insert({ collection_name: NAME, data: part as RowData[] })).status, 'insert');
  await flushAndWait(client, NAME, 120_000);
  for (const f of FIELDS.filter((x) => x.index)) await waitIndexBuilt(client, NAME, f.name, 180_000);
  await client.loadCollectionSync({ collection_name: NAME });
  // Growing rows, and deletes of rows of both kinds.
  for (const part of chunks(ROWS.slice(SEALED), 200)) expectOk((await client.insert({ collection_name: NAME, data: part as RowData[] })).status, 'insert');
  const del = await client.delete({ collection_name: NAME, filter: `pk in [${[...DELETED].map((p) => `"${p}"`).join(', ')}]` });
  expectOk(del.status, 'delete');
  expect(DELETED.size).toBeGreaterThan(20);
  expect([...DELETED].some((p) => Number(p.slice(1)) < SEALED) && [...DELETED].some((p) => Number(p.slice(1)) >= SEALED)).toBe(true);

  await checkAll('before the restart');

  await client.closeConnection();
  await server.kill9();
  expect(server.running).toBe(false);
  await server.restart();
  client = connect();
  await client.connectPromise;
  await eventually(
    'collection loaded again after the restart',
    async () => {
      const st = await client.getLoadState({ collection_name: NAME });
      expectOk(st.status, 'getLoadState');
      return st.state === LoadState.LoadStateLoaded ? true : undefined;
    },
    120_000,
  );
  const indexes = await client.describeIndex({ collection_name: NAME });
  expectOk(indexes.status, 'describeIndex');
  expect(indexes.index_descriptions.map((d) => d.field_name).sort()).toEqual(FIELDS.filter((x) => x.index).map((x) => x.name).sort());

  await checkAll('after kill -9 and restart');
});
