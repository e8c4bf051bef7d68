import type { CollectionMeta } from '@kite/segment';
import { sparseIndexParams } from './sparse-index';

const coll = {
  fields: [],
  functions: [{ name: 'fn', id: 100, description: '', type: 'BM25', inputFieldNames: ['text'], outputFieldNames: ['bm'], params: {} }],
} as unknown as CollectionMeta;

describe('sparseIndexParams', () => {
  test('IP on a plain sparse field, BM25 on a BM25 output, with Milvus defaults', () => {
    expect(sparseIndexParams(coll, 'sv', 'IP', {})).toEqual({ drop_ratio_build: 0 });
    expect(sparseIndexParams(coll, 'sv', 'IP', { drop_ratio_build: '0.2', inverted_index_algo: 'DAAT_MAXSCORE' })).toEqual({ drop_ratio_build: 0.2 });
    expect(sparseIndexParams(coll, 'bm', 'BM25', {})).toEqual({ drop_ratio_build: 0, bm25_k1: 1.2, bm25_b: 0.75 });
    expect(sparseIndexParams(coll, 'bm', 'BM25', { bm25_k1: 2, bm25_b: '0' })).toEqual({ drop_ratio_build: 0, bm25_k1: 2, bm25_b: 0 });
  });

  test.each([
    ['sv', 'L2', {}, /metric type L2 not found or not supported for SparseFloatVector field sv, supported: \[IP\]/],
    ['sv', 'BM25', {}, /metric type BM25 is only supported on the output field of a BM25 function/],
    ['bm', 'IP', {}, /only metric_type BM25 is supported there/],
    ['sv', 'IP', { drop_ratio_build: 1 }, /invalid drop_ratio_build 1 for the index on sv: it must be in range \[0, 1\)/],
    ['bm', 'BM25', { bm25_k1: 3.5 }, /invalid bm25_k1 3.5 .* \[0, 3\]/],
    ['bm', 'BM25', { bm25_b: -0.1 }, /invalid bm25_b -0.1 .* \[0, 1\]/],
    ['sv', 'IP', { bm25_k1: 1 }, /index parameter "bm25_k1" is not supported for a sparse index on sv; supported: drop_ratio_build$/],
    ['sv', 'IP', { nlist: 128 }, /index parameter "nlist" is not supported/],
  ] as const)('%s %s %j refused', (field, metric, user, pattern) => {
    expect(() => sparseIndexParams(coll, field, metric, user as Record<string, unknown>)).toThrow(pattern);
  });
});
