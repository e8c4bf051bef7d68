import { parseExpr } from '@kite/expr';
import type { CollectionMeta, FieldMeta } from '@kite/segment';
import { keyIndex, keyTerms, prunePartitions } from './partition-key';
import { schemaToFields } from './schema';
import { schemaInfo } from './util';

// Partition indexes real Milvus 2.3.5 chose for these keys with 16 partitions (row counts per partition read
// with get_partition_stats after inserting 2^j rows for the j-th key).
const MILVUS_INT: [bigint, number][] = [
  [0n, 12], [1n, 4], [2n, 4], [3n, 3], [7n, 3], [42n, 14], [-1n, 8], [-12345n, 7], [1000003n, 13],
  [2n ** 40n + 5n, 0], [-(2n ** 63n), 5], [2n ** 63n - 1n, 15],
];
const MILVUS_STR: [string, number][] = [
  ['', 0], ['a', 3], ['b', 9], ['apple', 0], ['Zürich', 14], ['user_42', 13], ['x'.repeat(150), 15], [`${'x'.repeat(100)}y`, 15],
];

const field = (name: string, dataType: FieldMeta['dataType'], extra: Partial<FieldMeta> = {}): FieldMeta => ({
  fieldID: 100, name, dataType, isPrimaryKey: false, autoID: false, description: '', typeParams: {}, isDynamic: false, isPartitionKey: false, nullable: false, ...extra,
});

function collection(keyType: 'Int64' | 'VarChar'): CollectionMeta {
  return {
    collectionID: 1, name: 'c', description: '', enableDynamicField: false, shardsNum: 1, topic: 't', indexes: [], consistencyLevel: 'Strong', properties: {}, createdTs: '1',
    fields: [
      field('id', 'Int64', { isPrimaryKey: true }),
      field('k', keyType, { fieldID: 101, isPartitionKey: true, typeParams: keyType === 'VarChar' ? { max_length: '200' } : {} }),
      field('n', 'Int64', { fieldID: 102 }),
      field('v', 'FloatVector', { fieldID: 103, typeParams: { dim: '2' } }),
    ],
    partitions: Array.from({ length: 16 }, (_, i) => ({ partitionID: 1000 + i, name: `_default_${i}`, createdTs: '1' })),
  };
}

describe('partition key hash', () => {
  it("puts Int64 keys in the partition Milvus's hash picks", () => {
    for (const [k, p] of MILVUS_INT) expect([k, keyIndex(k, 16)]).toEqual([k, p]);
  });
  it("puts VarChar keys in the partition Milvus's hash picks (first 100 bytes)", () => {
    for (const [k, p] of MILVUS_STR) expect([k, keyIndex(k, 16)]).toEqual([k, p]);
  });
});

describe('partition pruning', () => {
  const c = collection('Int64');
  const expr = (s: string) => parseExpr(s, schemaInfo(c), {});
  const key = c.fields[1]!;

  it('takes == and in terms at the top level of an and chain', () => {
    expect(keyTerms(expr('k == 42'), key)).toEqual([42n]);
    expect(keyTerms(expr('42 == k'), key)).toEqual([42n]);
    expect(keyTerms(expr('k in [1, 2, 3] and n > 5'), key)).toEqual([1n, 2n, 3n]);
    expect(keyTerms(expr('n > 5 and (k == 1 or k == 7)'), key)).toEqual([1n, 7n]);
    expect(keyTerms(expr('k in [1, 2, 3] and k in [3, 7]'), key)).toEqual([3n]);
  });

  it('does not prune what it cannot bound', () => {
    expect(keyTerms(expr('k > 5'), key)).toBeUndefined();
    expect(keyTerms(expr('k == 1 or n == 2'), key)).toBeUndefined();
    expect(keyTerms(expr('not (k == 1)'), key)).toBeUndefined();
    expect(keyTerms(undefined, key)).toBeUndefined();
    expect(prunePartitions(c, expr('n == 1'), [])).toEqual([]);
  });

  it('keeps the partitions the keys hash to, within the loaded ones', () => {
    expect(prunePartitions(c, expr('k in [3, 7, 42]'), [])).toEqual([1003, 1014]);
    expect(prunePartitions(c, expr('k == 42'), [1003, 1004])).toEqual([-1]);
    expect(prunePartitions(c, expr('k in [1, 2] and k == 3'), [])).toEqual([-1]);
  });

  it('prunes VarChar keys', () => {
    const s = collection('VarChar');
    expect(prunePartitions(s, parseExpr('k in ["a", "b"]', schemaInfo(s), {}), [])).toEqual([1003, 1009]);
  });
});

describe('partition key schema rules', () => {
  const pk = { name: 'id', data_type: 'Int64', is_primary_key: true };
  const vec = { name: 'v', data_type: 'FloatVector', type_params: [{ key: 'dim', value: '2' }] };
  const check = (fields: object[]) => () => schemaToFields({ name: 'c', fields } as never, 'c');
  it("refuses what Milvus refuses, with Milvus's messages", () => {
    expect(check([pk, vec, { name: 'k', data_type: 'Float', is_partition_key: true }])).toThrow('the data type of partition key should be Int64 or VarChar');
    expect(check([pk, vec, { name: 'a', data_type: 'Int64', is_partition_key: true }, { name: 'b', data_type: 'Int64', is_partition_key: true }])).toThrow('there are more than one partition key');
    expect(check([{ ...pk, is_partition_key: true }, vec])).toThrow('the partition key field must not be primary field');
  });
  it('accepts a key and a clustering key', () => {
    const { fields } = check([pk, vec, { name: 'k', data_type: 'VarChar', is_partition_key: true, type_params: [{ key: 'max_length', value: '8' }] }, { name: 'c', data_type: 'Int64', is_clustering_key: true }])();
    expect(fields.map((f) => [f.name, f.is_partition_key, !!f.is_clustering_key])).toEqual([['id', false, false], ['v', false, false], ['k', true, false], ['c', false, true]]);
  });
});
