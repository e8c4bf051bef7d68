import { KiteError } from '@kite/common';
import { columnsToRows, f32, queryVectors, rowsToColumns, sparseBytes, type Schema, type SchemaField } from './rows';

const field = (name: string, data_type: string, extra: Partial<SchemaField> = {}): SchemaField => ({
  name, data_type, element_type: 'None', is_primary_key: false, autoID: false, nullable: false, is_dynamic: false, is_function_output: false, default_value: null, type_params: [], ...extra,
});
const dim = (n: number): Partial<SchemaField> => ({ type_params: [{ key: 'dim', value: String(n) }] });

function schema(fields: SchemaField[], dynamic = false): Schema {
  return { fields, dynamic, primary: fields.find((f) => f.is_primary_key)! };
}

const fail = (what: string): KiteError => new KiteError('ParameterInvalid', what);

describe('REST rows', () => {
  const s = schema([
    field('id', 'Int64', { is_primary_key: true }),
    field('v', 'FloatVector', dim(2)),
    field('h', 'Float16Vector', dim(2)),
    field('b', 'BinaryVector', dim(16)),
    field('sp', 'SparseFloatVector'),
    field('n', 'VarChar', { nullable: true }),
  ], true);

  it('turns rows into columns and the decoded columns back into the same rows', () => {
    const rows = [
      { id: 1, v: [0.1, 0.2], h: [0.5, -2], b: [1, 255], sp: { 7: 0.5, 2: 1.25 }, n: 'x', extra: { k: 1 } },
      { id: '9007199254740993', v: [1, 2], h: 'ADwAQA==', b: 'AQI=', sp: { indices: [3], values: [2] }, n: null },
    ];
    const cols = rowsToColumns(s, rows, false) as Record<string, unknown>[];
    expect(cols.map((c) => c.field_name)).toEqual(['id', 'v', 'h', 'b', 'sp', 'n', '$meta']);
    // Decoded the way the loader decodes (the `data` member names), then read back as rows with Int64 as text.
    const decoded = cols.map((c) => {
      const vectors = c.vectors as Record<string, unknown> | undefined;
      const scalars = c.scalars as Record<string, unknown> | undefined;
      return {
        ...c,
        vectors: vectors ? { ...vectors, data: Object.keys(vectors).find((k) => k !== 'dim') } : null,
        scalars: scalars ? { ...scalars, data: Object.keys(scalars)[0] } : null,
      };
    });
    const back = columnsToRows(decoded, 2, true);
    expect(back).toEqual([
      { id: '1', v: [0.1, 0.2], h: [0.5, -2], b: [1, 255], sp: { 2: 1.25, 7: 0.5 }, n: 'x', extra: { k: 1 } },
      { id: '9007199254740993', v: [1, 2], h: [1, 2], b: [1, 2], sp: { 3: 2 }, n: null },
    ]);
  });

  it('names the row and the field of a value that does not fit', () => {
    expect(() => rowsToColumns(s, [{ id: 1, v: [1, 2, 3], h: [0, 0], b: [0, 0], sp: {} }], false)).toThrow(/row 0, field "v": the vector has 3 values but the field's dim is 2/);
    expect(() => rowsToColumns(s, [{ id: 1.5, v: [1, 2], h: [0, 0], b: [0, 0], sp: {} }], false)).toThrow(/row 0, field "id": expected a 64-bit integer/);
    expect(() => rowsToColumns(s, [{ id: 1, v: [1, 2], h: [0, 0], b: [0, 0, 0], sp: {} }], false)).toThrow(/field "b": the vector has 3 bytes but the field's dim 16 needs 2/);
    expect(() => rowsToColumns(s, [{ id: 1, h: [0, 0], b: [0, 0], sp: {} }], false)).toThrow(/field "v": the field is missing/);
    const fixed = schema([field('id', 'Int64', { is_primary_key: true, autoID: true }), field('v', 'FloatVector', dim(1))]);
    expect(() => rowsToColumns(fixed, [{ id: 1, v: [1] }], false)).toThrow(/primary key is generated \(autoID\)/);
    expect(() => rowsToColumns(fixed, [{ v: [1], other: 1 }], false)).toThrow(/field "other": the collection has no such field and no dynamic field/);
    try {
      rowsToColumns(fixed, [{ v: 'x' }], false);
    } catch (e) {
      expect((e as KiteError).code).toBe(1804);
    }
  });

  it('encodes query vectors by the field searched', () => {
    expect(queryVectors(field('v', 'FloatVector', dim(2)), [[1, 2]], fail).values[0]).toEqual(Buffer.from(Float32Array.from([1, 2]).buffer));
    expect(queryVectors(field('sp', 'SparseFloatVector'), [{ 1: 0.5 }], fail)).toEqual({ type: 'SparseFloatVector', values: [sparseBytes({ 1: 0.5 }, fail)] });
    expect(() => queryVectors(field('v', 'FloatVector', dim(2)), [[1]], fail)).toThrow(/dim is 2/);
  });

  it('prints float32 values as their shortest decimal', () => {
    expect(f32(Math.fround(0.1))).toBe(0.1);
    expect(f32(Math.fround(0.99999994))).toBe(0.99999994);
    expect(f32(Math.fround(1 / 3))).toBe(0.33333334);
    expect(f32(2)).toBe(2);
  });
});
