import { KiteError } from '@kite/common';
import { META, PARTITION, PK, TS, keyIndex, type CollectionMeta, type Column, type FieldMeta } from '@kite/segment';
import { rowsToBatch, type ChunkContext } from './import-rows';

const field = (fieldID: number, name: string, dataType: FieldMeta['dataType'], extra: Partial<FieldMeta> = {}): FieldMeta => ({
  fieldID, name, dataType, isPrimaryKey: false, autoID: false, description: '', typeParams: {}, isDynamic: false, isPartitionKey: false, nullable: false, ...extra,
});

function collection(extra: Partial<CollectionMeta> = {}, fields?: FieldMeta[]): CollectionMeta {
  return {
    collectionID: 1, name: 'c', description: '', enableDynamicField: true, shardsNum: 2, topic: 't', consistencyLevel: 'Strong', properties: {}, createdTs: '1', indexes: [],
    partitions: [{ partitionID: 10, name: '_default', createdTs: '1' }],
    fields: fields ?? [
      field(100, 'id', 'Int64', { isPrimaryKey: true }),
      field(101, 'v', 'FloatVector', { typeParams: { dim: '2' } }),
      field(102, 'title', 'VarChar', { typeParams: { max_length: '5' } }),
      field(103, 'doc', 'JSON'),
      field(104, 'tags', 'Array', { elementType: 'Int32', typeParams: { max_capacity: '3' } }),
      field(105, 'note', 'VarChar', { nullable: true, typeParams: { max_length: '10' } }),
      field(106, '$meta', 'JSON', { isDynamic: true }),
    ],
    ...extra,
  };
}

const ctx = (c: CollectionMeta, over: Partial<ChunkContext> = {}): ChunkContext => ({
  collection: c, file: 'in/rows.json', firstRow: 0, partitionID: 10, ts: 42n, allocIds: async () => 1000, ...over,
});

const good = (i: number): Record<string, unknown> => ({ id: i, v: [i, 0.5], title: `t${i}`, doc: { n: i }, tags: [1, 2], note: i % 2 ? null : 'x' });

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(KiteError);
    return (e as KiteError).message;
  }
  throw new Error('expected a failure');
}

describe('rowsToBatch', () => {
  it('builds the columns of JSON rows: keys, scalars, JSON, arrays, nulls, dynamic keys from $meta and extra keys', async () => {
    const rows = [good(0), { ...good(1), extra: 'a' }, { ...good(2), $meta: { k: 2 } }];
    const b = await rowsToBatch(rows, ctx(collection()), []);
    expect(b.numRows).toBe(3);
    expect(Array.from((b.columns.get(PK) as Extract<Column, { kind: 'int64' }>).data)).toEqual([0n, 1n, 2n]);
    expect(Array.from((b.columns.get(TS) as Extract<Column, { kind: 'int64' }>).data)).toEqual([42n, 42n, 42n]);
    expect(Array.from((b.columns.get(PARTITION) as Extract<Column, { kind: 'int64' }>).data)).toEqual([10n, 10n, 10n]);
    expect(Array.from((b.columns.get('v') as Extract<Column, { kind: 'vector' }>).data)).toEqual([0, 0.5, 1, 0.5, 2, 0.5]);
    expect((b.columns.get('doc') as Extract<Column, { kind: 'json' }>).data).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
    const note = b.columns.get('note') as Extract<Column, { kind: 'string' }>;
    expect(Array.from(note.valid!)).toEqual([1, 0, 1]);
    expect((b.columns.get(META) as Extract<Column, { kind: 'json' }>).data).toEqual([{}, { extra: 'a' }, { k: 2 }]);
  });

  it('reads Parquet-shaped values: int64 as bigint, JSON and $meta as text, lists as typed arrays', async () => {
    const row = { id: 7n, v: Float32Array.from([1, 2]), title: 'p', doc: '{"a":[1,2]}', tags: Int32Array.from([3]), note: null, $meta: '{"d":1}' };
    const b = await rowsToBatch([row], ctx(collection()), []);
    expect((b.columns.get('doc') as Extract<Column, { kind: 'json' }>).data).toEqual([{ a: [1, 2] }]);
    expect((b.columns.get(META) as Extract<Column, { kind: 'json' }>).data).toEqual([{ d: 1 }]);
    expect(Array.from((b.columns.get(PK) as Extract<Column, { kind: 'int64' }>).data)).toEqual([7n]);
  });

  it('names the file, the row (counted from the chunk start) and the field of the first bad value', async () => {
    const c = collection();
    const at = (i: number, patch: Record<string, unknown>): Record<string, unknown>[] => [good(0), good(1), { ...good(2), ...patch }];
    expect(await failure(rowsToBatch(at(2, { title: 5 }), ctx(c, { firstRow: 100 }), []))).toMatch(/^import file "in\/rows\.json", row 102, field "title": expected a string/);
    expect(await failure(rowsToBatch(at(2, { title: 'toolong' }), ctx(c), []))).toMatch(/row 2, field "title": .*max_length 5/);
    expect(await failure(rowsToBatch(at(2, { v: [1] }), ctx(c), []))).toMatch(/row 2, field "v": the vector has 1 values but the field's dim is 2/);
    expect(await failure(rowsToBatch(at(2, { tags: [1, 2, 3, 4] }), ctx(c), []))).toMatch(/row 2, field "tags": .*capacity/);
    expect(await failure(rowsToBatch(at(2, { title: undefined }), ctx(c), []))).toMatch(/row 2, field "title": the field is missing/);
    expect(await failure(rowsToBatch(at(2, { id: 1.5 }), ctx(c), []))).toMatch(/row 2, field "id": expected an integer/);
    expect(await failure(rowsToBatch(at(2, { $meta: [1] }), ctx(c), []))).toMatch(/row 2, field "\$meta": .*JSON object/);
    const strict = collection({ enableDynamicField: false }, collection().fields.filter((f) => !f.isDynamic));
    expect(await failure(rowsToBatch(at(2, { other: 1 }), ctx(strict), []))).toMatch(/row 2, field "other": collection c has no such field and its dynamic field is disabled/);
  });

  it('assigns auto ids (recorded as ranges), refuses a given one, and routes rows by the partition key', async () => {
    const parts = [0, 1, 2, 3].map((i) => ({ partitionID: 20 + i, name: `_default_${i}`, createdTs: '1' }));
    const c = collection({ enableDynamicField: false, partitions: parts }, [
      field(100, 'pk', 'Int64', { isPrimaryKey: true, autoID: true }),
      field(101, 'tenant', 'VarChar', { isPartitionKey: true, typeParams: { max_length: '20' } }),
    ]);
    const ids: number[] = [];
    const b = await rowsToBatch([{ tenant: 'a' }, { tenant: 'b' }, { tenant: 'c' }], ctx(c), ids);
    expect(ids).toEqual([1000, 1002]);
    expect(Array.from((b.columns.get('pk') as Extract<Column, { kind: 'int64' }>).data)).toEqual([1000n, 1001n, 1002n]);
    expect(Array.from((b.columns.get(PARTITION) as Extract<Column, { kind: 'int64' }>).data)).toEqual(['a', 'b', 'c'].map((t) => BigInt(20 + keyIndex(t, 4))));
    expect(await failure(rowsToBatch([{ pk: 5, tenant: 'a' }], ctx(c), []))).toMatch(/row 0, field "pk": the primary key is auto-ID/);
  });
});
