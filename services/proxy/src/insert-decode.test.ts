import { encodeMessage, milvusServiceDefinition } from '@kite/proto';
import { splitColumns, withColumns } from './insert-decode';

const def = milvusServiceDefinition();
const generic = (method: 'Insert' | 'Upsert') => def[method]!.requestDeserialize as (b: Buffer) => unknown;

/** The generic decoder's answer with every float_vector's numbers as a Float32Array (what withColumns gives). */
function expected(bytes: Buffer, method: 'Insert' | 'Upsert' = 'Insert'): unknown {
  const r = generic(method)(bytes) as { fields_data: { vectors?: { float_vector?: { data: unknown } | null } | null; scalars?: { long_data?: { data: unknown } | null } | null }[] };
  for (const fd of r.fields_data) {
    const fv = fd.vectors?.float_vector;
    if (fv) fv.data = Float32Array.from(fv.data as number[]);
    const ld = fd.scalars?.long_data;
    if (ld) ld.data = BigInt64Array.from(ld.data as string[], (x) => BigInt(x));
  }
  return r;
}

const vec = (name: string, dim: number, data: number[]) => ({ type: 'FloatVector', field_name: name, vectors: { dim, float_vector: { data } } });
const ints = (name: string, data: (number | string)[]) => ({ type: 'Int64', field_name: name, scalars: { long_data: { data } } });

test('float vectors decode into a Float32Array; every other field decodes as the generic decoder decodes it', () => {
  const data = Array.from({ length: 3 * 4 }, (_, i) => i * 0.25 - 1.5);
  const bytes = encodeMessage('milvus.proto.milvus.InsertRequest', {
    db_name: 'db', collection_name: 'c', partition_name: 'p', num_rows: 3, schema_timestamp: '42', hash_keys: [1, 2, 3],
    fields_data: [ints('id', [1, 2, 3]), vec('v', 4, data), { ...vec('w', 2, [1, 2, 3, 4, 5, 6]), is_dynamic: false, field_id: 7 }],
  });
  const got = withColumns(generic('Insert'))(bytes) as { fields_data: { vectors?: { float_vector?: { data: unknown } } }[] };
  expect(got).toEqual(expected(bytes));
  expect(got.fields_data[1]!.vectors!.float_vector!.data).toBeInstanceOf(Float32Array);
  expect(Array.from(got.fields_data[1]!.vectors!.float_vector!.data as Float32Array)).toEqual(data);
});

test('Upsert requests (with fields after fields_data) decode the same way', () => {
  const bytes = encodeMessage('milvus.proto.milvus.UpsertRequest', {
    collection_name: 'c', num_rows: 2, partial_update: true, fields_data: [vec('v', 2, [0.5, -0.5, 3, 4]), ints('id', [7, 8])],
  });
  expect(withColumns(generic('Upsert'))(bytes)).toEqual(expected(bytes, 'Upsert'));
});

test('an empty float_vector, and requests without float vectors or Int64 columns, decode as before', () => {
  const empty = encodeMessage('milvus.proto.milvus.InsertRequest', { collection_name: 'c', fields_data: [vec('v', 8, [])] });
  expect(withColumns(generic('Insert'))(empty)).toEqual(expected(empty));
  const none = encodeMessage('milvus.proto.milvus.InsertRequest', {
    collection_name: 'c', num_rows: 2, fields_data: [{ type: 'VarChar', field_name: 'id', scalars: { string_data: { data: ['a', 'b'] } } }],
  });
  expect(splitColumns(none)).toBeUndefined();
  expect(withColumns(generic('Insert'))(none)).toEqual(generic('Insert')(none));
});

test('unpacked floats (one fixed32 per element, also valid protobuf) are read too', () => {
  // InsertRequest{ fields_data: FieldData{ field_name "v", vectors: VectorField{ dim 2, float_vector: FloatArray{ 1.5, -2 } } } }
  const f32 = (x: number) => { const b = Buffer.alloc(4); b.writeFloatLE(x); return [...b]; };
  const floatArray = [0x0d, ...f32(1.5), 0x0d, ...f32(-2)];
  const vectorField = [0x08, 2, 0x12, floatArray.length, ...floatArray];
  const fieldData = [0x12, 1, 0x76, 0x22, vectorField.length, ...vectorField];
  const bytes = Buffer.from([0x2a, fieldData.length, ...fieldData]);
  const got = withColumns(generic('Insert'))(bytes) as { fields_data: { vectors: { float_vector: { data: Float32Array } } }[] };
  expect(Array.from(got.fields_data[0]!.vectors.float_vector.data)).toEqual([1.5, -2]);
  expect(got).toEqual(expected(bytes));
});

test('malformed bytes fail exactly as the generic decoder fails', () => {
  const good = encodeMessage('milvus.proto.milvus.InsertRequest', { collection_name: 'c', fields_data: [vec('v', 2, [1, 2])] });
  for (const bad of [good.subarray(0, good.length - 3), Buffer.concat([good, Buffer.from([0x2a, 0x7f])]), Buffer.from([0xff, 0xff])]) {
    let want: unknown;
    try {
      generic('Insert')(bad);
    } catch (e) {
      want = (e as Error).message;
    }
    expect(want).toBeDefined();
    expect(() => withColumns(generic('Insert'))(bad)).toThrow(want as string);
  }
});

test('a float_vector that a later oneof member overrides is left to the generic decoder', () => {
  // VectorField{ float_vector {1, 2}, binary_vector "\x01" }: the generic decoder keeps binary_vector.
  const floatArray = [0x0a, 8, ...Buffer.from(new Float32Array([1, 2]).buffer)];
  const vectorField = [0x08, 8, 0x12, floatArray.length, ...floatArray, 0x1a, 1, 0x01];
  const fieldData = [0x22, vectorField.length, ...vectorField];
  const bytes = Buffer.from([0x2a, fieldData.length, ...fieldData]);
  expect(withColumns(generic('Insert'))(bytes)).toEqual(generic('Insert')(bytes));
});

test('Int64 columns decode into a BigInt64Array, negative and 64-bit values included', () => {
  const data = ['0', '1', '127', '128', '268435455', '268435456', '9007199254740993', '-1', '-9223372036854775808', '9223372036854775807'];
  const bytes = encodeMessage('milvus.proto.milvus.InsertRequest', {
    collection_name: 'c', num_rows: data.length, fields_data: [ints('id', data), { type: 'Int32', field_name: 'n', scalars: { int_data: { data: data.map((_, i) => i) } } }],
  });
  const got = withColumns(generic('Insert'))(bytes) as { fields_data: { scalars: { long_data: { data: unknown } } }[] };
  expect(got.fields_data[0]!.scalars.long_data.data).toEqual(BigInt64Array.from(data, (x) => BigInt(x)));
  expect(got).toEqual(expected(bytes));
  // unpacked: LongArray{ data: 5, data: 300 } as two varint fields
  const longArray = [0x08, 5, 0x08, 0xac, 0x02];
  const scalarField = [0x1a, longArray.length, ...longArray];
  const fieldData = [0x1a, scalarField.length, ...scalarField];
  const unpacked = Buffer.from([0x2a, fieldData.length, ...fieldData]);
  const u = withColumns(generic('Insert'))(unpacked) as { fields_data: { scalars: { long_data: { data: unknown } } }[] };
  expect(u.fields_data[0]!.scalars.long_data.data).toEqual(BigInt64Array.of(5n, 300n));
  expect(u).toEqual(expected(unpacked));
});

test('array columns (long_data inside array_data) are left to the generic decoder', () => {
  const bytes = encodeMessage('milvus.proto.milvus.InsertRequest', {
    collection_name: 'c', num_rows: 1,
    fields_data: [{ type: 'Array', field_name: 'a', scalars: { array_data: { element_type: 'Int64', data: [{ long_data: { data: ['1', '2'] } }] } } }],
  });
  expect(splitColumns(bytes)).toBeUndefined();
  expect(withColumns(generic('Insert'))(bytes)).toEqual(generic('Insert')(bytes));
});
