import { KiteError } from '@kite/common';
import { concatBatches, takeColumn, type Column, type ColumnBatch } from './columns';
import { decodeBatch, encodeBatch } from './codec';
import { columnToFieldData, fieldDataToColumn } from './fielddata';
import type { DataTypeName, FieldMeta } from './meta';
import { absentFieldColumn, applyDefault, checkNullable, defaultFromWire, defaultToWire } from './nullable';

const field = (name: string, dataType: DataTypeName, extra: Partial<FieldMeta> = {}): FieldMeta => ({
  fieldID: 101, name, dataType, isPrimaryKey: false, autoID: false, description: '', typeParams: dataType === 'VarChar' ? { max_length: '8' } : {},
  isDynamic: false, isPartitionKey: false, nullable: true, ...extra,
});

const message = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(KiteError);
    return (e as Error).message;
  }
  throw new Error('expected a refusal');
};

test('valid_data with values for the valid rows only (as both SDKs send) expands to one slot a row', () => {
  const c = fieldDataToColumn({ valid_data: [false, true, true, false], scalars: { data: 'long_data', long_data: { data: ['5', '-7'] } } }, field('n', 'Int64'), 4);
  expect(c).toEqual({ kind: 'int64', data: BigInt64Array.from([0n, 5n, -7n, 0n]), valid: Uint8Array.from([0, 1, 1, 0]) });
  // One value a row, placeholders where invalid, is accepted too.
  const full = fieldDataToColumn({ valid_data: [true, false], scalars: { data: 'string_data', string_data: { data: ['a', ''] } } }, field('s', 'VarChar'), 2);
  expect(full).toEqual({ kind: 'string', data: ['a', ''], valid: Uint8Array.from([1, 0]) });
  // pymilvus: a field absent from every row comes with no data and every flag false.
  const none = fieldDataToColumn({ valid_data: [false, false, false], scalars: null }, field('d', 'Double'), 3);
  expect(none.kind === 'float' && Array.from(none.valid ?? [])).toEqual([0, 0, 0]);
});

test('defaults fill NULL and missing rows; a field neither nullable nor with a default refuses a NULL row', () => {
  const withDefault = field('s', 'VarChar', { nullable: true, defaultValue: 'none' });
  expect(fieldDataToColumn({ valid_data: [true, false], scalars: { data: 'string_data', string_data: { data: ['x'] } } }, withDefault, 2)).toEqual({ kind: 'string', data: ['x', 'none'] });
  expect(absentFieldColumn(field('i', 'Int64', { defaultValue: '42' }), 2)).toEqual({ kind: 'int64', data: BigInt64Array.from([42n, 42n]) });
  expect(absentFieldColumn(field('b', 'Bool', { defaultValue: true }), 1)).toEqual({ kind: 'bool', data: Uint8Array.from([1]) });
  expect(applyDefault({ kind: 'int', data: Int32Array.from([3, 0]), valid: Uint8Array.from([1, 0]) }, { defaultValue: 9 })).toEqual({ kind: 'int', data: Int32Array.from([3, 9]) });
  const strict = field('x', 'Int32', { nullable: false });
  expect(message(() => fieldDataToColumn({ valid_data: [true, false], scalars: { data: 'int_data', int_data: { data: [1] } } }, strict, 2))).toMatch(/field "x": row 1 is null.*not nullable/);
  expect(message(() => fieldDataToColumn({ valid_data: [true, false, true], scalars: { data: 'int_data', int_data: { data: [1] } } }, field('y', 'Int32'), 3))).toMatch(/field "y": has 1 values for 2 valid rows/);
});

test('empty JSON bytes in a nullable JSON field are NULL (the Node SDK sends a null JSON value so)', () => {
  const c = fieldDataToColumn({ valid_data: [true, true], scalars: { data: 'json_data', json_data: { data: [Buffer.from('{"a":1}'), Buffer.alloc(0)] } } }, field('j', 'JSON'), 2);
  expect(c.kind === 'json' && [c.data[0], Array.from(c.valid ?? [])]).toEqual([{ a: 1 }, [1, 0]]);
  // Out: NULL JSON rows as empty bytes with their flag false.
  const out = columnToFieldData(c, field('j', 'JSON'));
  expect(out.valid_data).toEqual([true, false]);
  expect(out.scalars?.json_data?.data.map((b) => b.toString())).toEqual(['{"a":1}', '']);
});

test('outbound FieldData: valid_data one flag a row; a nullable column without NULLs says all valid', () => {
  const out = columnToFieldData({ kind: 'float', data: Float64Array.from([1.5, 0]), valid: Uint8Array.from([1, 0]) }, field('d', 'Double'));
  expect(out.valid_data).toEqual([true, false]);
  expect(out.scalars?.double_data?.data).toEqual([1.5, 0]);
  expect(columnToFieldData({ kind: 'int', data: Int32Array.from([1, 2]) }, field('i', 'Int32')).valid_data).toEqual([true, true]);
  expect(columnToFieldData({ kind: 'int', data: Int32Array.from([1, 2]) }, field('i', 'Int32', { nullable: false })).valid_data).toEqual([]);
});

test('validity survives the codec, take and concat; batches written before a field was added read it as NULL', () => {
  const n: Column = { kind: 'string', data: ['a', '', 'c'], valid: Uint8Array.from([1, 0, 1]) };
  const batch: ColumnBatch = { numRows: 3, columns: new Map<string, Column>([['$pk', { kind: 'int64', data: BigInt64Array.from([1n, 2n, 3n]) }], ['s', n]]) };
  const back = decodeBatch(encodeBatch(batch));
  expect(back.columns.get('s')).toEqual(n);
  expect(back.columns.get('$pk')).toEqual(batch.columns.get('$pk'));
  expect(takeColumn(n, [2, 1])).toEqual({ kind: 'string', data: ['c', ''], valid: Uint8Array.from([1, 0]) });
  // An older batch without the column: its rows are NULL in the concatenation, whichever comes first.
  const old: ColumnBatch = { numRows: 2, columns: new Map<string, Column>([['$pk', { kind: 'int64', data: BigInt64Array.from([8n, 9n]) }]]) };
  for (const [bs, valid] of [[[old, back], [0, 0, 1, 0, 1]], [[back, old], [1, 0, 1, 0, 0]]] as const) {
    const c = concatBatches([...bs]);
    expect(c.numRows).toBe(5);
    const s = c.columns.get('s');
    expect(s?.kind === 'string' && Array.from(s.valid ?? [])).toEqual(valid);
  }
});

test('a batch encoded without validity (written before nullable fields) decodes as before', () => {
  const plain: ColumnBatch = { numRows: 2, columns: new Map<string, Column>([['x', { kind: 'int', data: Int32Array.from([4, 5]) }]]) };
  const buf = encodeBatch(plain);
  expect(buf.toString('utf8', 8, 8 + buf.readUInt32LE(4))).not.toContain('valid');
  expect(decodeBatch(buf).columns.get('x')).toEqual({ kind: 'int', data: Int32Array.from([4, 5]) });
});

test("default values: Milvus's type checks and messages, and the wire form DescribeCollection returns", () => {
  const f = (name: string, dataType: DataTypeName, typeParams: Record<string, string> = {}, isPrimaryKey = false) => ({ name, dataType, typeParams, isPrimaryKey });
  expect(defaultFromWire(f('i', 'Int64'), { data: 'long_data', long_data: '9007199254740993' })).toBe('9007199254740993');
  expect(defaultFromWire(f('i', 'Int16'), { data: 'int_data', int_data: -3 })).toBe(-3);
  expect(defaultFromWire(f('s', 'VarChar', { max_length: '4' }), { data: 'string_data', string_data: 'abcd' })).toBe('abcd');
  expect(defaultFromWire(f('s', 'VarChar'), null)).toBeUndefined();
  expect(message(() => defaultFromWire(f('i', 'Int32'), { data: 'long_data', long_data: '3' }))).toBe('type (Int32) of field (i) is not equal to the type(DataType_Int64) of default_value');
  expect(message(() => defaultFromWire(f('d', 'Double'), { data: 'string_data', string_data: '2.6' }))).toBe('type (Double) of field (d) is not equal to the type(DataType_VarChar) of default_value');
  expect(message(() => defaultFromWire(f('s', 'VarChar', { max_length: '2' }), { data: 'string_data', string_data: 'abcd' }))).toBe('the length (4) of string exceeds max length (2)');
  expect(message(() => defaultFromWire(f('i', 'Int8'), { data: 'int_data', int_data: 128 }))).toMatch(/\[128 out of range -128 <= value <= 127\]/);
  expect(message(() => defaultFromWire(f('j', 'JSON'), { data: 'long_data', long_data: '1' }))).toBe('type not support default_value, type:JSON, name:j');
  expect(message(() => defaultFromWire(f('id', 'Int64', {}, true), { data: 'long_data', long_data: '1' }))).toBe('primary field not support default_value');
  expect(defaultToWire({ dataType: 'Int64', defaultValue: '42' })).toEqual({ long_data: '42' });
  expect(defaultToWire({ dataType: 'Float', defaultValue: 1.5 })).toEqual({ float_data: 1.5 });
  expect(defaultToWire({ dataType: 'Float' })).toBeNull();
});

test("nullable: Milvus's refusals on the primary key, vectors and the partition key", () => {
  const f = { name: 'x', dataType: 'Int64' as DataTypeName, isPrimaryKey: false, isPartitionKey: false, nullable: true };
  expect(() => checkNullable(f, 'scalar')).not.toThrow();
  expect(() => checkNullable({ ...f, nullable: false, dataType: 'FloatVector' }, 'vector')).not.toThrow();
  expect(message(() => checkNullable({ ...f, isPrimaryKey: true }, 'scalar'))).toBe('primary field not support null');
  expect(message(() => checkNullable({ ...f, dataType: 'FloatVector' }, 'vector'))).toBe('vector type not support null, type:FloatVector, fieldName:x');
  expect(message(() => checkNullable({ ...f, isPartitionKey: true }, 'scalar'))).toBe('partition key field not support nullable');
});
