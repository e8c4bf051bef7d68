import { encodeMessage, milvusServiceDefinition } from '@kite/proto';
import { splitFloatVectors, withFloatVectors } from './insert-decode';

const def = milvusServiceDefinition();
const generic = (method: 'Insert' | 'Upsert') => def[method]!.requestDeserialize as (b: Buffer) => unknown;

/** The generic decoder's answer with every float_vector's numbers as a Float32Array (what withFloatVectors gives). */
function expected(bytes: Buffer, method: 'Insert' | 'Upsert' = 'Insert'): unknown {
  const r = generic(method)(bytes) as { fields_data: { vectors?: { float_vector?: { data: unknown } | null } | null }[] };
  for (const fd of r.fields_data) {
    const fv = fd.vectors?.float_vector;
    if (fv) fv.data = Float32Array.from(fv.data as number[]);
  }
  return r;
}

const vec = (name: string, dim: number, data: number[]) => ({ type: 'FloatVector', field_name: name, vectors: { dim, float_vector: { data } } });
const ints = (name: string, data: number[]) => ({ type: 'Int64', field_name: name, scalars: { long_data: { data } } });

test('float vectors decode into a Float32Array; every other field decodes as the generic decoder decodes it', () => {
  const data = Array.from({ length: 3 * 4 }, (_, i) => i * 0.25 - 1.5);
  const bytes = encodeMessage('milvus.proto.milvus.InsertRequest', {
    db_name: 'db', collection_name: 'c', partition_name: 'p', num_rows: 3, schema_timestamp: '42', hash_keys: [1, 2, 3],
    fields_data: [ints('id', [1, 2, 3]), vec('v', 4, data), { ...vec('w', 2, [1, 2, 3, 4, 5, 6]), is_dynamic: false, field_id: 7 }],
  });
  const got = withFloatVectors(generic('Insert'))(bytes) as { fields_data: { vectors?: { float_vector?: { data: unknown } } }[] };
  expect(got).toEqual(expected(bytes));
  expect(got.fields_data[1]!.vectors!.float_vector!.data).toBeInstanceOf(Float32Array);
  expect(Array.from(got.fields_data[1]!.vectors!.float_vector!.data as Float32Array)).toEqual(data);
});

test('Upsert requests (with fields after fields_data) decode the same way', () => {
  const bytes = encodeMessage('milvus.proto.milvus.UpsertRequest', {
    collection_name: 'c', num_rows: 2, partial_update: true, fields_data: [vec('v', 2, [0.5, -0.5, 3, 4]), ints('id', [7, 8])],
  });
  expect(withFloatVectors(generic('Upsert'))(bytes)).toEqual(expected(bytes, 'Upsert'));
});

test('an empty float_vector, and requests without float vectors, decode as before', () => {
  const empty = encodeMessage('milvus.proto.milvus.InsertRequest', { collection_name: 'c', fields_data: [vec('v', 8, [])] });
  expect(withFloatVectors(generic('Insert'))(empty)).toEqual(expected(empty));
  const none = encodeMessage('milvus.proto.milvus.InsertRequest', { collection_name: 'c', num_rows: 2, fields_data: [ints('id', [1, 2])] });
  expect(splitFloatVectors(none)).toBeUndefined();
  expect(withFloatVectors(generic('Insert'))(none)).toEqual(generic('Insert')(none));
});

test('unpacked floats (one fixed32 per element, also valid protobuf) are read too', () => {
  // InsertRequest{ fields_data: FieldData{ field_name "v", vectors: VectorField{ dim 2, float_vector: FloatArray{ 1.5, -2 } } } }
  const f32 = (x: number) => { const b = Buffer.alloc(4); b.writeFloatLE(x); return [...b]; };
  const floatArray = [0x0d, ...f32(1.5), 0x0d, ...f32(-2)];
  const vectorField = [0x08, 2, 0x12, floatArray.length, ...floatArray];
  const fieldData = [0x12, 1, 0x76, 0x22, vectorField.length, ...vectorField];
  const bytes = Buffer.from([0x2a, fieldData.length, ...fieldData]);
  const got = withFloatVectors(generic('Insert'))(bytes) as { fields_data: { vectors: { float_vector: { data: Float32Array } } }[] };
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
    expect(() => withFloatVectors(generic('Insert'))(bad)).toThrow(want as string);
  }
});

test('a float_vector that a later oneof member overrides is left to the generic decoder', () => {
  // VectorField{ float_vector {1, 2}, binary_vector "\x01" }: the generic decoder keeps binary_vector.
  const floatArray = [0x0a, 8, ...Buffer.from(new Float32Array([1, 2]).buffer)];
  const vectorField = [0x08, 8, 0x12, floatArray.length, ...floatArray, 0x1a, 1, 0x01];
  const fieldData = [0x22, vectorField.length, ...vectorField];
  const bytes = Buffer.from([0x2a, fieldData.length, ...fieldData]);
  expect(withFloatVectors(generic('Insert'))(bytes)).toEqual(generic('Insert')(bytes));
});
