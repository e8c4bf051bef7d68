import { termId } from '@kite/analyzer';
import { KiteError } from '@kite/common';
import { encodeMessage, type CollectionSchema } from '@kite/proto';
import type { FieldSchema } from '@kite/rpc';
import { sparseRowBytes, type CollectionMeta, type FieldMeta } from '@kite/segment';
import { termFrequencies } from './bm25';
import { checkFunctions } from './functions';
import { planSearch } from './read-plan';

const field = (name: string, dataType: FieldMeta['dataType'], extra: Partial<FieldMeta> = {}): FieldMeta => ({
  fieldID: 100, name, dataType, isPrimaryKey: false, autoID: false, description: '', typeParams: {}, isDynamic: false, isPartitionKey: false, nullable: false, ...extra,
});

function collection(): CollectionMeta {
  return {
    collectionID: 1, name: 'c', description: '', enableDynamicField: false, shardsNum: 1, topic: 't', partitions: [], consistencyLevel: 'Bounded', properties: {}, createdTs: '0',
    fields: [
      field('id', 'Int64', { isPrimaryKey: true }),
      field('v', 'FloatVector', { typeParams: { dim: '2' } }),
      field('sv', 'SparseFloatVector'),
      field('text', 'VarChar', { typeParams: { max_length: '100', enable_analyzer: 'true', analyzer_params: '{"type": "english"}' } }),
      field('bm', 'SparseFloatVector'),
    ],
    functions: [{ name: 'fn', id: 100, description: '', type: 'BM25', inputFieldNames: ['text'], outputFieldNames: ['bm'], params: {} }],
    indexes: [
      { indexID: 1, indexName: 'sv', fieldName: 'sv', fieldID: 102, indexType: 'SPARSE_WAND', requestedIndexType: 'SPARSE_WAND', metricType: 'IP', params: {}, createdTs: '0' },
      { indexID: 2, indexName: 'bm', fieldName: 'bm', fieldID: 104, indexType: 'SPARSE_INVERTED_INDEX', requestedIndexType: 'AUTOINDEX', metricType: 'BM25', params: { bm25_k1: '1.2', bm25_b: '0.75' }, createdTs: '0' },
    ],
  };
}

const placeholders = (type: number, values: Buffer[]): Buffer => encodeMessage('milvus.proto.common.PlaceholderGroup', { placeholders: [{ tag: '$0', type, values }] });
const sparseBytes = (pairs: [number, number][]): Buffer => {
  const b = Buffer.alloc(pairs.length * 8);
  pairs.forEach(([i, v], j) => {
    b.writeUInt32LE(i, j * 8);
    b.writeFloatLE(v, j * 8 + 4);
  });
  return b;
};
const search = (anns: string, group: Buffer, params: Record<string, string> = {}): Record<string, unknown> => ({
  dsl: '', nq: 0, placeholder_group: group,
  search_params: Object.entries({ anns_field: anns, topk: '5', ...params }).map(([key, value]) => ({ key, value })),
});

function refused(fn: () => unknown, pattern: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(KiteError);
  expect((err as KiteError).message).toMatch(pattern);
}

describe('planSearch on sparse fields', () => {
  test('sparse vectors are parsed (sorted), IP is the metric, drop_ratio_search is checked', () => {
    const p = planSearch(collection(), search('sv', placeholders(104, [sparseBytes([[9, 1], [2, 0.5]])]), { params: '{"drop_ratio_search": 0.2}' }) as never, 1 << 20);
    expect(p.metric).toBe('IP');
    expect(p.nq).toBe(1);
    expect(Array.from(p.sparse![0]!.indices)).toEqual([2, 9]);
    expect(p.searchParams).toEqual({ drop_ratio_search: '0.2' });
    refused(() => planSearch(collection(), search('sv', placeholders(104, [sparseBytes([[1, 1]])]), { params: '{"drop_ratio_search": 1}' }) as never, 1 << 20), /drop_ratio_search 1 for field sv is invalid: it must be in range \[0, 1\)/);
    refused(() => planSearch(collection(), search('sv', placeholders(104, [sparseBytes([[1, 1]])]), { metric_type: 'L2' }) as never, 1 << 20), /metric type not match: invalid parameter\[expected=IP\]\[actual=L2\]/);
    refused(() => planSearch(collection(), search('sv', placeholders(101, [Buffer.alloc(8)])) as never, 1 << 20), /placeholder type .* does not match field sv \(SparseFloatVector\)/);
    refused(() => planSearch(collection(), search('sv', placeholders(104, [sparseBytes([[1, 1], [1, 2]])])) as never, 1 << 20), /field "sv": query vector 0: unsorted or same indices/);
    refused(() => planSearch(collection(), search('sv', placeholders(104, [Buffer.alloc(5)])) as never, 1 << 20), /query vector 0: invalid data length in sparse float vector/);
  });

  test('a BM25 output field takes text, analysed with the input field analyzer, from either SDK', () => {
    for (const type of [21, 104]) {
      const p = planSearch(collection(), search('bm', placeholders(type, [Buffer.from('Running cats and the running dogs')])) as never, 1 << 20);
      expect(p.metric).toBe('BM25');
      const row = p.sparse![0]!;
      const want = termFrequencies(['run', 'cat', 'run', 'dog']);
      expect(Array.from(row.indices)).toEqual(Array.from(want.indices));
      expect(Array.from(row.values)).toEqual(Array.from(want.values));
      expect(row.values[Array.from(row.indices).indexOf(termId('run'))]).toBe(2);
    }
    refused(() => planSearch(collection(), search('bm', placeholders(21, [Buffer.from('x')]), { metric_type: 'IP' }) as never, 1 << 20), /expected=BM25\]\[actual=IP\]/);
  });

  test('sparse rows round-trip through the wire form', () => {
    const r = { indices: Uint32Array.from([1, 4294967294]), values: Float32Array.from([0.5, -2]) };
    expect(sparseRowBytes(r)).toEqual(sparseBytes([[1, 0.5], [4294967294, -2]]));
  });
});

describe('checkFunctions', () => {
  const f = (name: string, data_type: string, type_params: Record<string, string> = {}): FieldSchema => ({
    field_id: 100, name, data_type, is_primary_key: false, auto_id: false, description: '', type_params, is_dynamic: false, is_partition_key: false, nullable: false,
  });
  const fields = [f('id', 'Int64'), f('text', 'VarChar', { enable_analyzer: 'true' }), f('plain', 'VarChar'), f('sv', 'SparseFloatVector'), f('sv2', 'SparseFloatVector')];
  const schema = (fns: unknown[]): CollectionSchema => ({ functions: fns } as unknown as CollectionSchema);
  const bm25 = (name: string, input: string[], output: string[], type: unknown = 'BM25') => ({ name, type, input_field_names: input, output_field_names: output, params: [] });

  test('a valid BM25 function is kept', () => {
    expect(checkFunctions(schema([bm25('f', ['text'], ['sv'])]), fields)).toEqual([
      { name: 'f', id: 100, description: '', type: 'BM25', inputFieldNames: ['text'], outputFieldNames: ['sv'], params: {} },
    ]);
    expect(checkFunctions(schema([bm25('f', ['text'], ['sv'], 1)]), fields)).toHaveLength(1);
  });

  test.each([
    [[bm25('', ['text'], ['sv'])], /function 0 has no name/],
    [[bm25('f', ['text'], ['sv']), bm25('f', ['text'], ['sv2'])], /duplicate function name "f"/],
    [[bm25('f', ['text'], ['sv'], 'TextEmbedding')], /function "f": function type TextEmbedding is not supported/],
    [[bm25('f', ['text', 'plain'], ['sv'])], /BM25 function only need 1 input field, but got 2/],
    [[bm25('f', ['text'], [])], /BM25 function only need 1 output field, but got 0/],
    [[bm25('f', ['id'], ['sv'])], /BM25 function input field must be a VARCHAR field, got Int64/],
    [[bm25('f', ['plain'], ['sv'])], /input field "plain" must set enable_analyzer to true/],
    [[bm25('f', ['text'], ['plain'])], /output field must be a SPARSE_FLOAT_VECTOR field, got VarChar/],
    [[bm25('f', ['text'], ['sv']), bm25('g', ['text'], ['sv'])], /field "sv" is already the output of another function/],
    [[bm25('f', ['nope'], ['sv'])], /input field "nope" not found/],
  ])('%#: refused', (fns, pattern) => {
    refused(() => checkFunctions(schema(fns), fields), pattern);
  });
});
