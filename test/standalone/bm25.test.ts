/**
 * BM25 full-text search end to end through the Node SDK on Kite standalone: a collection with a BM25 function
 * (VarChar input with an analyzer -> SparseFloatVector output), described back; documents over two shards, some
 * flushed and some growing, some deleted; searches by raw text whose scores are checked against a reference
 * computation here (Milvus's IDF ln(1 + (N - df + 0.5) / (df + 0.5)) with collection-wide N, avgdl and df);
 * bm25_k1 / bm25_b honoured; the english analyzer's stemming; and the errors Milvus gives.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { ConsistencyLevelEnum, DataType, FunctionType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { bm25Reference as reference, expectSameRanking, standardTerms } from './bm25-reference';
import { flushAndWait, expectFailure, expectOk, waitIndexBuilt } from './helpers';

jest.setTimeout(300_000);

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
  await server?.dispose();
});

/** The english analyzer on this test's vocabulary: its stop words dropped, these words stemmed (Snowball English). */
const STEMS: Record<string, string> = { running: 'run', runs: 'run', runner: 'runner', cats: 'cat', jumped: 'jump', jumping: 'jump', jumps: 'jump', dogs: 'dog', quickly: 'quick' };
const STOP = new Set(['the', 'a', 'and', 'of', 'is']);
const englishTerms = (text: string): string[] => standardTerms(text).filter((t) => !STOP.has(t)).map((t) => STEMS[t] ?? t);

async function createBm25Collection(name: string, analyzer: Record<string, unknown> | undefined, indexParams: Record<string, unknown>, indexType = 'SPARSE_INVERTED_INDEX'): Promise<void> {
  expectOk(
    await client.createCollection({
      collection_name: name,
      shards_num: 2,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'text', data_type: DataType.VarChar, max_length: 1000, enable_analyzer: true, ...(analyzer ? { analyzer_params: analyzer } : {}) },
        { name: 'sparse', data_type: DataType.SparseFloatVector },
      ],
      functions: [{ name: 'text_bm25', type: FunctionType.BM25, input_field_names: ['text'], output_field_names: ['sparse'], params: {} }],
      consistency_level: 'Strong',
    }),
    `createCollection ${name}`,
  );
  expectOk(await client.createIndex({ collection_name: name, field_name: 'sparse', index_type: indexType, metric_type: 'BM25', params: indexParams }), 'createIndex');
  await client.loadCollectionSync({ collection_name: name });
}

async function flush(name: string): Promise<void> {
  await flushAndWait(client, name);
  await waitIndexBuilt(client, name, 'sparse');
}

async function searchText(name: string, texts: string[], limit: number): Promise<{ id: number; score: number }[][]> {
  const res = await client.search({ collection_name: name, anns_field: 'sparse', data: texts, limit, output_fields: ['id'], consistency_level: STRONG } as never);
  expectOk(res.status, 'search');
  const results = (texts.length === 1 ? [res.results] : res.results) as unknown as Record<string, unknown>[][];
  return results.map((hits) => hits.map((h) => ({ id: Number(h.id), score: Number(h.score) })));
}

const WORDS = ['vector', 'database', 'search', 'sparse', 'dense', 'hybrid', 'kite', 'milvus', 'index', 'query', 'text', 'score', 'token', 'shard', 'segment'];

/** Deterministic documents of 3..14 words from WORDS, some words repeated. */
function documents(from: number, n: number): Map<number, string> {
  const out = new Map<number, string>();
  for (let i = 0; i < n; i++) {
    const id = from + i;
    const len = 3 + ((id * 7) % 12);
    out.set(id, Array.from({ length: len }, (_, j) => WORDS[(id * 13 + j * j * 5 + j) % WORDS.length]).join(' '));
  }
  return out;
}

test('BM25 scores are collection-wide across shards, sealed and growing rows and deletes', async () => {
  const name = 'e2e_bm25';
  await createBm25Collection(name, undefined, { bm25_k1: 1.2, bm25_b: 0.75 });

  // Described back as Milvus does: the function, and its output field marked.
  const d = await client.describeCollection({ collection_name: name });
  expectOk(d.status, 'describeCollection');
  const fn = d.schema.functions[0]!;
  expect({ name: fn.name, type: fn.type, in: fn.input_field_names, out: fn.output_field_names }).toEqual({
    name: 'text_bm25', type: 'BM25', in: ['text'], out: ['sparse'],
  });
  expect(d.schema.fields.find((f) => f.name === 'sparse')!.is_function_output).toBe(true);

  const live = new Map<number, string>();
  const insert = async (docs: Map<number, string>): Promise<void> => {
    const res = await client.insert({ collection_name: name, data: [...docs].map(([id, text]) => ({ id, text })) });
    expectOk(res.status, 'insert');
    for (const [id, text] of docs) live.set(id, text);
  };
  await insert(documents(0, 40));
  await flush(name); // sealed, in both shards
  await insert(documents(100, 25)); // growing
  const gone = [3, 8, 21, 104, 117];
  expectOk((await client.delete({ collection_name: name, ids: gone })).status, 'delete');
  for (const id of gone) live.delete(id);

  const queries = ['vector search', 'sparse dense hybrid index', 'kite kite milvus', 'shard segment token score query', 'nothing matches this'];
  const check = async (what: string): Promise<void> => {
    const got = await searchText(name, queries, 10);
    const docs = new Map([...live].map(([id, t]) => [id, standardTerms(t)]));
    queries.forEach((q, i) => {
      const want = reference(docs, standardTerms(q), 1.2, 0.75, 10);
      expectSameRanking(`${what}: ${q}`, got[i]!, want, reference(docs, standardTerms(q), 1.2, 0.75, docs.size));
    });
  };
  await check('sealed + growing, deletes');
  // Flushing moves the growing rows into segments: the scores do not change.
  await flush(name);
  await check('all sealed');
  // An upsert replaces a sealed document: its old text leaves the statistics, the new one enters them.
  expectOk((await client.upsert({ collection_name: name, data: [{ id: 1, text: 'kite kite kite vector' }] })).status, 'upsert');
  live.set(1, 'kite kite kite vector');
  await check('after an upsert');

  // The output field is neither accepted on insert nor returned.
  const given = await expectFailure('insert the output field', () =>
    client.insert({ collection_name: name, fields_data: [{ id: 9000, text: 'x', sparse: { 1: 1 } }] } as never),
  );
  // The Node SDK refuses the row itself (the field is marked as a function output); pymilvus's test sends it to the server.
  expect(given.message).toMatch(/sparse|does not exist/);
  const out = await expectFailure('output the sparse field', () =>
    client.query({ collection_name: name, filter: 'id == 1', output_fields: ['sparse'], consistency_level: STRONG }),
  );
  expect(out.message).toMatch(/not allowed to retrieve raw data of field sparse/);
  const metric = await expectFailure('search with IP', () =>
    client.search({ collection_name: name, anns_field: 'sparse', data: ['vector'], limit: 3, metric_type: 'IP' } as never),
  );
  expect(metric.message).toMatch(/metric type not match: invalid parameter\[expected=BM25\]\[actual=IP\]/);
});

test('after a truncate, the statistics count only the rows written since (sealed and growing)', async () => {
  const name = 'e2e_bm25_truncate';
  await createBm25Collection(name, undefined, { bm25_k1: 1.2, bm25_b: 0.75 });
  const put = async (docs: Map<number, string>): Promise<void> => {
    expectOk((await client.insert({ collection_name: name, data: [...docs].map(([id, text]) => ({ id, text })) })).status, 'insert');
  };
  await put(documents(0, 60));
  await flush(name); // sealed rows that the truncate hides
  await put(documents(200, 20)); // growing rows that it hides too
  expectOk((await client.truncateCollection({ collection_name: name })).status, 'truncate');
  const live = new Map([...documents(300, 15), ...documents(400, 10)]);
  await put(documents(300, 15));
  await flush(name);
  await put(documents(400, 10));
  const queries = ['vector search', 'kite kite milvus', 'shard segment token score query'];
  const got = await searchText(name, queries, 10);
  const docs = new Map([...live].map(([id, t]) => [id, standardTerms(t)]));
  queries.forEach((q, i) => {
    expectSameRanking(`after truncate: ${q}`, got[i]!, reference(docs, standardTerms(q), 1.2, 0.75, 10), reference(docs, standardTerms(q), 1.2, 0.75, docs.size));
  });
});

test('range search on BM25: radius < score <= range_filter over the collection-wide scores, sealed and growing', async () => {
  const name = 'e2e_bm25_range';
  await createBm25Collection(name, undefined, { bm25_k1: 1.2, bm25_b: 0.75 });
  const put = async (docs: Map<number, string>): Promise<void> => {
    expectOk((await client.insert({ collection_name: name, data: [...docs].map(([id, text]) => ({ id, text })) })).status, 'insert');
  };
  await put(documents(0, 60));
  await flush(name);
  await put(documents(100, 30)); // growing
  const live = new Map([...documents(0, 60), ...documents(100, 30)]);
  const docs = new Map([...live].map(([id, t]) => [id, standardTerms(t)]));
  const query = 'vector search kite segment';
  const all = reference(docs, standardTerms(query), 1.2, 0.75, docs.size);
  // Bounds half-way between two well-separated scores, so that float32 rounding cannot move a document across them.
  const gapAfter = (from: number): number => {
    for (let i = from; i + 1 < all.length; i++) if (all[i]!.score - all[i + 1]!.score > 0.01) return i;
    throw new Error(`no gap in the reference scores after rank ${from}`);
  };
  const top = gapAfter(1);
  const bottom = gapAfter(top + 8);
  const rangeFilter = (all[top]!.score + all[top + 1]!.score) / 2;
  const radius = (all[bottom]!.score + all[bottom + 1]!.score) / 2;
  const want = all.filter((h) => h.score > radius && h.score <= rangeFilter);
  expect(want.length).toBe(bottom - top);
  const res = await client.search({
    collection_name: name, anns_field: 'sparse', data: [query], limit: 100, output_fields: ['id'], consistency_level: STRONG,
    params: { radius, range_filter: rangeFilter },
  } as never);
  expectOk(res.status, 'range search');
  const got = (res.results as unknown as Record<string, unknown>[]).map((h) => ({ id: Number(h.id), score: Number(h.score) }));
  expectSameRanking('BM25 range', got, want, all);
});

test('bm25_k1 and bm25_b are honoured; the english analyzer stems; SPARSE_WAND agrees', async () => {
  const name = 'e2e_bm25_english';
  await createBm25Collection(name, { type: 'english' }, { bm25_k1: 1.8, bm25_b: 0.3 }, 'SPARSE_WAND');
  const texts = new Map<number, string>([
    [1, 'The cats jumped over the dogs'],
    [2, 'a runner is running and running'],
    [3, 'Dogs runs quickly'],
    [4, 'jumping cats of the kite'],
    [5, 'kite runs'],
    [6, 'quickly quickly quickly'],
  ]);
  expectOk((await client.insert({ collection_name: name, data: [...texts].map(([id, text]) => ({ id, text })) })).status, 'insert');
  const docs = new Map([...texts].map(([id, t]) => [id, englishTerms(t)]));
  const queries = ['run', 'jumps of cats', 'quick dog'];
  const check = async (what: string): Promise<void> => {
    const got = await searchText(name, queries, 6);
    queries.forEach((q, i) => {
      const want = reference(docs, englishTerms(q), 1.8, 0.3, 6);
      expectSameRanking(`${what}: ${q}`, got[i]!, want, reference(docs, englishTerms(q), 1.8, 0.3, docs.size));
    });
  };
  await check('growing');
  // "run" finds running, runs (stemmed), not "runner".
  expect((await searchText(name, ['run'], 6))[0]!.map((h) => h.id).sort()).toEqual([2, 3, 5]);
  await flush(name);
  await check('sealed, SPARSE_WAND');
});

test('function and index errors name the function and the field', async () => {
  const base = [
    { name: 'id', data_type: DataType.Int64, is_primary_key: true },
    { name: 'text', data_type: DataType.VarChar, max_length: 100, enable_analyzer: true },
    { name: 'plain', data_type: DataType.VarChar, max_length: 100 },
    { name: 'n', data_type: DataType.Int64 },
    { name: 'sparse', data_type: DataType.SparseFloatVector },
  ];
  const create = (input: string, output: string) =>
    client.createCollection({
      collection_name: 'e2e_bm25_bad',
      fields: base as never,
      functions: [{ name: 'f1', type: FunctionType.BM25, input_field_names: [input], output_field_names: [output], params: {} }],
    });
  expect((await expectFailure('input not VarChar', () => create('n', 'sparse'))).message).toMatch(/function "f1": BM25 function input field must be a VARCHAR field, got Int64/);
  expect((await expectFailure('input without analyzer', () => create('plain', 'sparse'))).message).toMatch(/function "f1": BM25 function input field "plain" must set enable_analyzer to true/);
  expect((await expectFailure('output not sparse', () => create('text', 'n'))).message).toMatch(/function "f1": BM25 function output field must be a SPARSE_FLOAT_VECTOR field, got Int64/);
  expect((await expectFailure('unknown input', () => create('nope', 'sparse'))).message).toMatch(/function "f1": input field "nope" not found/);

  expectOk(await create('text', 'sparse'), 'create');
  const ip = await expectFailure('IP index on a BM25 output', () =>
    client.createIndex({ collection_name: 'e2e_bm25_bad', field_name: 'sparse', index_type: 'SPARSE_INVERTED_INDEX', metric_type: 'IP' }),
  );
  expect(ip.message).toMatch(/field sparse: it is the output of a BM25 function, only metric_type BM25 is supported/);
  const k1 = await expectFailure('bm25_k1 out of range', () =>
    client.createIndex({ collection_name: 'e2e_bm25_bad', field_name: 'sparse', index_type: 'SPARSE_INVERTED_INDEX', metric_type: 'BM25', params: { bm25_k1: 5 } }),
  );
  expect(k1.message).toMatch(/invalid bm25_k1 5 .* \[0, 3\]/);
  const b = await expectFailure('bm25_b out of range', () =>
    client.createIndex({ collection_name: 'e2e_bm25_bad', field_name: 'sparse', index_type: 'SPARSE_INVERTED_INDEX', metric_type: 'BM25', params: { bm25_b: 1.5 } }),
  );
  expect(b.message).toMatch(/invalid bm25_b 1.5 .* \[0, 1\]/);
  // AUTOINDEX with BM25 is the inverted index with k1 1.2 and b 0.75.
  expectOk(await client.createIndex({ collection_name: 'e2e_bm25_bad', field_name: 'sparse', index_type: 'AUTOINDEX', metric_type: 'BM25' }), 'AUTOINDEX');
  expectOk(await client.dropCollection({ collection_name: 'e2e_bm25_bad' }), 'drop');
});
