import { evaluate, parseExpr, ScalarIndex, type Column, type ColumnBatch, type SchemaInfo } from './index';

const schema: SchemaInfo = { enableDynamicField: false, fields: [{ name: 'id', type: 'Int64', isPrimaryKey: true }, { name: 'x', type: 'Int32', nullable: true }] };

test('NULL rows are in no posting of a scalar index, and filters through the index still never match them', () => {
  // Row slots of NULL rows hold placeholders equal to real values (0 and 5): only validity tells them apart.
  const x: Column = { kind: 'int', data: Int32Array.from([5, 0, 5, 0, 7]), valid: Uint8Array.from([1, 0, 0, 1, 1]) };
  const index = ScalarIndex.build(x);
  expect(index.rows.length).toBe(3);
  const back = ScalarIndex.deserialize(index.serialize());
  expect(Array.from(back.rows)).toEqual(Array.from(index.rows));
  const batch: ColumnBatch = { numRows: 5, column: (n) => (n === 'x' ? x : undefined), scalarIndex: (f) => (f === 'x' ? { index: back, firstRow: 0 } : undefined) };
  const rows = (text: string): number[] => {
    const bits = evaluate(parseExpr(text, schema), batch);
    return [0, 1, 2, 3, 4].filter((i) => (bits[i >> 3]! >> (i & 7)) & 1);
  };
  expect(rows('x == 5')).toEqual([0]);
  expect(rows('x == 0')).toEqual([3]);
  expect(rows('x != 5')).toEqual([3, 4]);
  expect(rows('x in [0, 5]')).toEqual([0, 3]);
  expect(rows('not (x < 6)')).toEqual([4]);
  expect(rows('x is null')).toEqual([1, 2]);
});
