import { KiteError } from '@kite/common';
import { arrayForFilter, arrayRow } from './arraydata';
import { concatColumns, takeColumn, type ArrayElementType, type Column } from './columns';
import { decodeBatch, encodeBatch } from './codec';
import { columnToFieldData, fieldDataToColumn, type WireFieldData } from './fielddata';
import type { FieldMeta } from './meta';
import { decodeWalMsg, encodeWalMsg } from './walmsg';

const MEMBER: Record<ArrayElementType, string> = {
  Bool: 'bool_data', Int8: 'int_data', Int16: 'int_data', Int32: 'int_data', Int64: 'long_data', Float: 'float_data', Double: 'double_data', VarChar: 'string_data',
};

const field = (elem: ArrayElementType, params: Record<string, string> = {}): FieldMeta => ({
  fieldID: 102, name: 'arr', dataType: 'Array', elementType: elem, isPrimaryKey: false, autoID: false, description: '',
  typeParams: { max_capacity: '4', ...params }, isDynamic: false, isPartitionKey: false, nullable: false,
});

/** FieldData as the SDKs send it: one ScalarField per row; an empty row has no member set (proto3). */
const wire = (elem: ArrayElementType, rows: unknown[][]): WireFieldData => ({
  type: 'Array', field_name: 'arr',
  scalars: { data: 'array_data', array_data: { element_type: elem, data: rows.map((r) => (r.length ? { data: MEMBER[elem], [MEMBER[elem]]: { data: r } } : {})) } },
});

const rowsOf = (c: Column): unknown[][] => (c.kind === 'array' ? Array.from({ length: c.offsets.length - 1 }, (_, i) => arrayRow(c, i)) : []);

const CASES: [ArrayElementType, unknown[][], unknown[][]][] = [
  ['Bool', [[true, false], [], [true]], [[true, false], [], [true]]],
  ['Int8', [[-128, 127], [0], []], [[-128, 127], [0], []]],
  ['Int16', [[-32768], [32767, 1, 2, 3]], [[-32768], [32767, 1, 2, 3]]],
  ['Int32', [[2147483647, -2147483648], []], [[2147483647, -2147483648], []]],
  ['Int64', [['9007199254740993', '-9223372036854775808'], [], ['1']], [[9007199254740993n, -9223372036854775808n], [], [1n]]],
  ['Float', [[0.5, -1.25], []], [[0.5, -1.25], []]],
  ['Double', [[0.1, 1e300], [2]], [[0.1, 1e300], [2]]],
  ['VarChar', [['a', 'héllo'], [], ['']], [['a', 'héllo'], [], ['']]],
];

describe('Array columns', () => {
  test.each(CASES)('%s: wire -> column -> codec, WAL, take, concat -> wire', (elem, sent, want) => {
    const f = field(elem, { max_length: '8' });
    const col = fieldDataToColumn(wire(elem, sent), f, sent.length);
    expect(rowsOf(col)).toEqual(want);
    const batch = { numRows: sent.length, columns: new Map<string, Column>([['arr', col]]) };
    const back = decodeBatch(encodeBatch(batch)).columns.get('arr')!;
    expect(rowsOf(back)).toEqual(want);
    const msg = decodeWalMsg(encodeWalMsg({ type: 'insert', collectionID: 1, ts: 5n, batch }));
    expect(msg.type === 'insert' && rowsOf(msg.batch.columns.get('arr')!)).toEqual(want);
    const rev = Array.from({ length: sent.length }, (_, i) => sent.length - 1 - i);
    expect(rowsOf(takeColumn(back, rev))).toEqual(rev.map((i) => want[i]));
    expect(rowsOf(concatColumns([back, col, takeColumn(col, [])]))).toEqual([...want, ...want]);
    const out = columnToFieldData(back, f);
    const rows = out.scalars?.array_data?.data ?? [];
    expect(out.scalars?.array_data?.element_type).toBe(elem);
    expect(rows.map((r) => (r as Record<string, { data: unknown[] }>)[MEMBER[elem]]!.data)).toEqual(
      want.map((r) => (elem === 'Int64' ? r.map(String) : r)),
    );
    // The evaluator's view: the same offsets and flat values, no copy.
    const view = arrayForFilter(back as Extract<Column, { kind: 'array' }>);
    expect(view.offsets).toBe((back as Extract<Column, { kind: 'array' }>).offsets);
    expect(view.bool).toBe(elem === 'Bool');
  });

  test('batches written before Array fields existed still decode', () => {
    const old = { numRows: 2, columns: new Map<string, Column>([['s', { kind: 'string', data: ['x', 'y'] }], ['n', { kind: 'int', data: Int32Array.from([1, 2]) }]]) };
    const back = decodeBatch(encodeBatch(old));
    expect(back.columns.get('s')).toEqual({ kind: 'string', data: ['x', 'y'] });
    expect(Array.from((back.columns.get('n') as { data: Int32Array }).data)).toEqual([1, 2]);
  });

  test('rows are checked: capacity, element type, range, VarChar length; errors name the field and row', () => {
    const fails = (elem: ArrayElementType, rows: unknown[][], re: RegExp, params: Record<string, string> = {}): void => {
      let err: unknown;
      try {
        fieldDataToColumn(wire(elem, rows), field(elem, params), rows.length);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KiteError);
      expect((err as Error).message).toMatch(re);
    };
    fails('Int64', [['1'], ['1', '2', '3', '4', '5']], /field "arr": the length \(5\) of 1th array exceeds max capacity \(4\)/);
    fails('Int8', [[1, 200]], /field "arr": row 0, element 1: value 200 is out of range for Int8/);
    fails('Int16', [[40000]], /out of range for Int16/);
    fails('Double', [[NaN]], /row 0, element 0: value NaN is not a finite Double/);
    fails('VarChar', [['ok'], ['much too long']], /length of element 0 of row 1 is 13 bytes, exceeding max_length 8/, { max_length: '8' });
    // A row of another element type (the Node SDK infers the member from the values).
    const mixed: WireFieldData = { type: 'Array', field_name: 'arr', scalars: { data: 'array_data', array_data: { element_type: 'Int64', data: [{ data: 'string_data', string_data: { data: ['x'] } }] } } };
    expect(() => fieldDataToColumn(mixed, field('Int64'), 1)).toThrow(/row 0 holds string_data but the field's element type is Int64/);
    expect(() => fieldDataToColumn(wire('Int64', [['1']]), field('Int64'), 2)).toThrow(/has 1 values but the request has 2 rows/);
  });
});
