import { KiteError } from '@kite/common';
import { encodeFloatVectorPlaceholderGroup, encodeMessage } from '@kite/proto';
import type { CollectionMeta, FieldMeta, IndexMeta } from '@kite/segment';
import { MAX_NQ, planQuery, planSearch } from './read-plan';

const field = (name: string, dataType: FieldMeta['dataType'], extra: Partial<FieldMeta> = {}): FieldMeta => ({
  fieldID: 100, name, dataType, isPrimaryKey: false, autoID: false, description: '', typeParams: {}, isDynamic: false, isPartitionKey: false, nullable: false, ...extra,
});

function collection(indexType?: string): CollectionMeta {
  const indexes: IndexMeta[] = indexType
    ? [{ indexID: 1, indexName: 'v', fieldName: 'v', fieldID: 101, indexType, requestedIndexType: indexType, metricType: 'L2', params: {}, createdTs: '0' }]
    : [];
  return {
    collectionID: 1, name: 'c', description: '', enableDynamicField: false, shardsNum: 1, topic: 'kite-dml-1', partitions: [], indexes,
    consistencyLevel: 'Bounded', properties: {}, createdTs: '0',
    fields: [field('id', 'Int64', { isPrimaryKey: true }), field('v', 'FloatVector', { typeParams: { dim: '2' } })],
  };
}

const kv = (o: Record<string, string | number | boolean>): { key: string; value: string }[] => Object.entries(o).map(([key, value]) => ({ key, value: String(value) }));

function search(params: Record<string, string | number | boolean> = {}, extra: Record<string, unknown> = {}, nq = 1): Record<string, unknown> {
  return {
    dsl: '', nq, search_params: kv({ topk: 10, ...params }),
    placeholder_group: encodeFloatVectorPlaceholderGroup(Array.from({ length: nq }, () => [0.5, 0.25])),
    ...extra,
  };
}

/** The error a plan throws: a non-retriable parameter error whose message matches `pattern`. */
function refused(fn: () => unknown, pattern: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(KiteError);
  expect((err as KiteError).code).toBe(1100);
  expect((err as KiteError).retriable).toBe(false);
  expect((err as KiteError).message).toMatch(pattern);
}

describe('planSearch', () => {
  test('a plain search plans with Milvus defaults', () => {
    const p = planSearch(collection('HNSW'), search({ params: '{"ef": 64}' }), 1 << 20);
    expect(p).toMatchObject({ limit: 10, offset: 0, topk: 10, nq: 1, metric: 'L2', roundDecimal: -1, searchParams: { ef: '64' } });
    expect(Array.from(new Float32Array(p.vectors.buffer, p.vectors.byteOffset, 2))).toEqual([0.5, 0.25]);
  });

  test.each([
    ['ignore_growing', { ignore_growing: 'true' }],
    ['order_by_fields', { order_by_fields: 'id:asc' }],
  ])('search parameter %s is refused by name', (name, params) => {
    refused(() => planSearch(collection(), search(params), 1 << 20), new RegExp(`"${name}" is not supported by Kite yet`));
  });

  test('flags set to false are what the SDKs always send, and are accepted', () => {
    expect(() => planSearch(collection(), search({ ignore_growing: 'False', iterator: 'false', strict_group_size: false }), 1 << 20)).not.toThrow();
  });

  test('function_score plans a reranker; one Kite does not run is refused by name', () => {
    const rrf = { name: 'r', type: 'Rerank', input_field_names: [], output_field_names: [], params: kv({ reranker: 'rrf', k: 20 }) };
    expect(planSearch(collection(), search({}, { function_score: { functions: [rrf], params: [] } }), 1 << 20).reranker?.name).toBe('rrf');
    expect(planSearch(collection(), search(), 1 << 20).reranker).toBeUndefined();
    const model = { ...rrf, params: kv({ reranker: 'model', provider: 'tei' }) };
    refused(() => planSearch(collection(), search({}, { function_score: { functions: [model], params: [] } }), 1 << 20), /model reranker/);
    refused(() => planSearch(collection(), search({}, { function_score: { functions: [{ name: 'r' }], params: [] } }), 1 << 20), /function_score takes functions of type Rerank/);
    const weighted = { ...rrf, params: kv({ reranker: 'weighted', weights: '[0.5,0.5]' }) };
    refused(() => planSearch(collection(), search({}, { function_score: { functions: [weighted], params: [] } }), 1 << 20), /2 weights for 1 search/);
  });

  test('range, grouping and iterator parameters are read from the top level or from params', () => {
    expect(planSearch(collection('HNSW'), search({ params: '{"radius": 1.5, "range_filter": 0.5}' }), 1 << 20).extras.range).toEqual({ lo: 0.5, hi: 1.5, hiOpen: true });
    expect(planSearch(collection(), search({ params: '{"radius": 0.5, "range_filter": 0.9}' }), 1 << 20).extras.range).toEqual({ lo: -Math.fround(0.9), hi: -0.5, hiOpen: true }); // COSINE
    expect(planSearch(collection('HNSW'), search({ radius: '2' }), 1 << 20).extras.range).toEqual({ hi: 2, hiOpen: true });
    expect(planSearch(collection(), search({ group_by_field: 'id', group_size: 3 }), 1 << 20).extras.group).toEqual({ field: 'id', size: 3, strict: false });
    const it = planSearch(collection(), search({ iterator: 'True', search_iter_v2: 'True', search_iter_batch_size: 100, search_iter_last_bound: '0.25', search_iter_id: 'abc' }), 1 << 20).extras.iterator;
    expect(it).toEqual({ batch: 100, lastBound: 0.25, token: 'abc' });
    refused(() => planSearch(collection(), search({ search_iter_v2: 'True', group_by_field: 'id' }), 1 << 20), /iterator cannot be combined with group_by_field/);
  });

  test('search by primary keys takes the keys instead of vectors', () => {
    const plan = planSearch(collection(), search({}, { search_input: 'ids', ids: { id_field: 'int_id', int_id: { data: ['1', '7'] } }, placeholder_group: undefined, nq: 2 }), 1 << 20);
    expect(plan.ids).toEqual({ kind: 'int64', values: ['1', '7'] });
    expect(plan.nq).toBe(2);
    refused(() => planSearch(collection(), search({}, { search_input: 'ids', ids: { id_field: 'int_id', int_id: { data: [] } }, placeholder_group: undefined }), 1 << 20), /ids must not be empty/);
  });

  test('sub-requests and highlighter are refused by name', () => {
    refused(() => planSearch(collection(), search({}, { sub_reqs: [{ dsl: '' }] }), 1 << 20), /sub_reqs/);
    refused(() => planSearch(collection(), search({}, { highlighter: { type: 'Lexical', params: [] } }), 1 << 20), /highlighter/);
  });

  test.each([
    [{ topk: 0 }, /limit \(topk\) "0" is invalid: it must be an integer in \[1, 16384\]/],
    [{ topk: 16385 }, /limit \(topk\)/],
    [{ topk: 'abc' }, /limit \(topk\) "abc"/],
    [{ topk: '1e30' }, /limit \(topk\)/],
    [{ offset: 'NaN' }, /offset "NaN" is invalid/],
    [{ offset: -1 }, /offset/],
    [{ topk: 10000, offset: 10000 }, /offset \+ limit is 20000: it must be at most 16384/],
    [{ round_decimal: 7 }, /round_decimal/],
    [{ params: '[1,2]' }, /"params" must be a JSON object/],
    [{ params: '{' }, /"params" must be a JSON object/],
    [{ metric_type: 'IP' }, /metric type not match: the index on v uses L2/],
    [{ metric_type: 'HAMMING' }, /metric_type HAMMING is not supported/],
  ])('bad paging and params %j are refused', (params, pattern) => {
    refused(() => planSearch(collection('HNSW'), search(params), 1 << 20), pattern);
  });

  test.each([
    ['HNSW', { params: '{"ef": 5}' }, /ef \(5\) must be >= topk \(10\)/],
    ['HNSW', { params: '{"ef": 1000000}' }, /ef must be in \[1, 32768\], got 1000000/],
    ['HNSW', { ef: 'x' }, /ef must be an integer/],
    ['IVF_FLAT', { params: '{"nprobe": 0}' }, /nprobe must be in \[1, 65536\], got 0/],
    ['IVF_FLAT', { params: '{"nprobe": 100000}' }, /nprobe must be in \[1, 65536\]/],
  ])('%s search params %j are a parameter error naming the limit', (indexType, params, pattern) => {
    refused(() => planSearch(collection(indexType), search(params), 1 << 20), pattern);
  });

  test('nq is bounded, must agree with the vectors sent, and nq x topk is bounded', () => {
    refused(() => planSearch(collection(), search({}, {}, MAX_NQ + 1), 1 << 30), /nq \(number of query vectors\) is 16385: it must be at most 16384/);
    refused(() => planSearch(collection(), search({}, { nq: 3 }, 2), 1 << 20), /nq is 3 but the request carries 2 query vectors/);
    refused(() => planSearch(collection(), search({ topk: 100 }, {}, 200), 16384), /nq x \(limit \+ offset\) is 20000: one search returns at most 16384 hits/);
    expect(planSearch(collection(), search({ topk: 100 }, {}, 100), 16384).nq).toBe(100);
  });

  test('a placeholder of another type, none, or a wrong dimension is refused', () => {
    const wrongType = encodeMessage('milvus.proto.common.PlaceholderGroup', { placeholders: [{ tag: '$0', type: 999, values: [Buffer.alloc(8)] }] });
    refused(() => planSearch(collection(), search({}, { placeholder_group: wrongType }), 1 << 20), /placeholder type 999 does not match field v \(FloatVector\)/);
    const none = encodeMessage('milvus.proto.common.PlaceholderGroup', { placeholders: [] });
    refused(() => planSearch(collection(), search({}, { placeholder_group: none }), 1 << 20), /exactly one placeholder/);
    const nan = encodeFloatVectorPlaceholderGroup([[NaN, 1]]);
    refused(() => planSearch(collection(), search({}, { placeholder_group: nan }), 1 << 20), /finite/);
    expect(() => planSearch(collection(), search({}, { placeholder_group: encodeFloatVectorPlaceholderGroup([[1, 2, 3]]) }), 1 << 20)).toThrow(/dimension 3, but field v has dim 2/);
  });
});

describe('planQuery', () => {
  const query = (params: Record<string, string | number>, expr = 'id > 0', output_fields: string[] = []): Record<string, unknown> =>
    ({ expr, output_fields, query_params: kv(params) });

  test.each([
    [{ limit: -1 }, /limit "-1" is invalid: it must be an integer in \[1, 16384\]/],
    [{ limit: 'abc' }, /limit "abc"/],
    [{ limit: '1e30' }, /limit "1e30"/],
    [{ limit: 16385 }, /limit "16385"/],
    [{ limit: 10, offset: 'NaN' }, /offset "NaN"/],
    [{ limit: 10000, offset: 7000 }, /offset \+ limit is 17000/],
    [{ offset: 5 }, /offset needs a limit/],
    [{ ignore_growing: 'True', limit: 5 }, /"ignore_growing" is not supported by Kite yet/],
    [{ timezone: 'UTC', limit: 5 }, /"timezone" is not supported/],
  ])('query params %j are refused', (params, pattern) => {
    refused(() => planQuery(query(params)), pattern);
  });

  test('count(*) with paging and an empty filter without limit are refused', () => {
    refused(() => planQuery(query({ limit: 5 }, '', ['count(*)'])), /count\(\*\) cannot be combined with limit/);
    refused(() => planQuery(query({}, '')), /empty expression should be used with limit/);
  });

  test('what pymilvus sends for query_iterator is accepted', () => {
    expect(planQuery(query({ limit: 64, iterator: 'True', reduce_stop_for_best: 'True', ignore_growing: 'False', collection_id: 7 }))).toEqual({
      limit: 64, offset: 0, filter: 'id > 0', countOnly: false,
    });
  });
});
