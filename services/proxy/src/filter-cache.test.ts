import { decodePlan, evaluate, templateParams, type ColumnBatch } from '@kite/expr';
import type { CollectionMeta, FieldMeta } from '@kite/segment';
import { FilterCache, MAX_CACHED_LENGTH } from './filter-cache';
import { schemaInfo } from './util';

const field = (name: string, dataType: FieldMeta['dataType'], extra: Partial<FieldMeta> = {}): FieldMeta => ({
  fieldID: 100, name, dataType, isPrimaryKey: false, autoID: false, description: '', typeParams: {}, isDynamic: false, isPartitionKey: false, nullable: false, ...extra,
});

function collection(fields: FieldMeta[]): CollectionMeta {
  return {
    collectionID: 1, name: 'c', description: '', enableDynamicField: false, shardsNum: 1, topic: 'kite-dml-1', partitions: [], indexes: [],
    consistencyLevel: 'Bounded', properties: {}, createdTs: '0',
    fields: [field('id', 'Int64', { isPrimaryKey: true }), field('v', 'FloatVector', { typeParams: { dim: '2' } }), ...fields],
  };
}

/** Rows of `a` (Int64) 0..n-1 that `plan` keeps. */
function kept(c: CollectionMeta, plan: string, n = 10): number[] {
  const expr = decodePlan(plan, schemaInfo(c), 'f');
  const a = { kind: 'int64', data: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)) };
  const batch = { numRows: n, column: (name: string) => (name === 'a' ? a : undefined) } as unknown as ColumnBatch;
  const mask = evaluate(expr, batch);
  return Array.from({ length: n }, (_, i) => i).filter((i) => (mask[i >> 3]! >> (i & 7)) & 1);
}

test('the same filter is parsed once and answers the same plan', () => {
  const cache = new FilterCache(10, {});
  const c = collection([field('a', 'Int64')]);
  const first = cache.check(c, 'a > 5', undefined);
  const second = cache.check(c, 'a > 5', undefined);
  expect(second).toBe(first);
  expect(kept(c, first.plan)).toEqual([6, 7, 8, 9]);
});

test('template values are bound per request, not taken from the cache', () => {
  const cache = new FilterCache(10, {});
  const c = collection([field('a', 'Int64')]);
  const p = (x: number) => templateParams({ x: { int64_val: x } } as never);
  expect(kept(c, cache.check(c, 'a > {x}', p(7)).plan)).toEqual([8, 9]);
  expect(kept(c, cache.check(c, 'a > {x}', p(2)).plan)).toEqual([3, 4, 5, 6, 7, 8, 9]);
  // A value of another kind is checked against the schema again.
  expect(() => cache.check(c, 'a > {x}', templateParams({ x: { string_val: 'no' } } as never))).toThrow(/x|string|Int64/i);
});

test('a schema change is a new key: a renamed or retyped field is checked against the new schema', () => {
  const cache = new FilterCache(10, {});
  const before = collection([field('a', 'Int64')]);
  expect(cache.check(before, 'a > 5', undefined).plan).toBeTruthy();
  // The catalogue gives a new entry after AlterCollectionField / a rename: here `a` became `b`.
  const renamed = collection([field('b', 'Int64')]);
  expect(() => cache.check(renamed, 'a > 5', undefined)).toThrow(/a/);
  // And the old schema's entry is still right for a reader of the old entry.
  expect(cache.check(before, 'a > 5', undefined).plan).toBeTruthy();
  const retyped = collection([field('a', 'VarChar', { typeParams: { max_length: '10' } })]);
  expect(() => cache.check(retyped, 'a > 5', undefined)).toThrow();
});

test('bounded: the least recently used entry goes first; 0 keeps nothing; errors are not kept', () => {
  const cache = new FilterCache(2, {});
  const c = collection([field('a', 'Int64')]);
  const one = cache.check(c, 'a > 1', undefined);
  cache.check(c, 'a > 2', undefined);
  expect(cache.check(c, 'a > 1', undefined)).toBe(one); // now the most recent
  cache.check(c, 'a > 3', undefined); // evicts "a > 2"
  expect(cache.size).toBe(2);
  expect(cache.check(c, 'a > 1', undefined)).toBe(one);
  expect(() => cache.check(c, 'a >', undefined)).toThrow();
  expect(cache.size).toBe(2);
  const none = new FilterCache(0, {});
  expect(none.check(c, 'a > 1', undefined)).not.toBe(none.check(c, 'a > 1', undefined));
  expect(none.size).toBe(0);
});

test('the length limit still applies', () => {
  const cache = new FilterCache(10, { maxLength: 1024 });
  const c = collection([field('a', 'Int64')]);
  expect(() => cache.check(c, `a in [${Array.from({ length: 400 }, (_, i) => i).join(',')}]`, undefined)).toThrow(/proxy.maxFilterLength/);
});

test('filters longer than MAX_CACHED_LENGTH are checked every time, not kept', () => {
  const cache = new FilterCache(10, {});
  const c = collection([field('a', 'Int64')]);
  let text = 'a in [0';
  for (let i = 1; text.length < MAX_CACHED_LENGTH; i++) text += `,${i}`;
  text += ']';
  expect(cache.check(c, text, undefined)).not.toBe(cache.check(c, text, undefined));
  expect(cache.size).toBe(0);
});
