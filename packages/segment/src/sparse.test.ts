import { KiteError } from '@kite/common';
import { concatColumns, takeColumn, type Column } from './columns';
import { decodeBatch, encodeBatch } from './codec';
import { columnToFieldData, fieldDataToColumn, parseSparseRow, sparseRowBytes } from './fielddata';
import type { FieldMeta } from './meta';
import { decodeWalMsg, encodeWalMsg } from './walmsg';

const pairs = (p: [number, number][]): Buffer => sparseRowBytes({ indices: Uint32Array.from(p.map((x) => x[0])), values: Float32Array.from(p.map((x) => x[1])) });
const field: FieldMeta = { fieldID: 101, name: 'sv', dataType: 'SparseFloatVector', isPrimaryKey: false, autoID: false, description: '', typeParams: {}, isDynamic: false, isPartitionKey: false, nullable: false };
const asPairs = (c: Column): [number, number][][] => (c.kind === 'sparse' ? c.data.map((r) => Array.from(r.indices, (i, j) => [i, r.values[j]!] as [number, number])) : []);

describe('sparse rows', () => {
  test('parse: sorted, validated with the field and row named', () => {
    const r = parseSparseRow(pairs([[7, 1], [2, 0.5]]), 'sv', 'row 3');
    expect(Array.from(r.indices)).toEqual([2, 7]);
    expect(Array.from(r.values)).toEqual([0.5, 1]);
    expect(parseSparseRow(Buffer.alloc(0), 'sv', 'row 0').indices.length).toBe(0);
    const fails = (b: Buffer, re: RegExp): void => {
      let err: unknown;
      try {
        parseSparseRow(b, 'sv', 'row 3');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KiteError);
      expect((err as Error).message).toMatch(re);
    };
    fails(pairs([[2, 1], [2, 3]]), /field "sv": row 3: unsorted or same indices in sparse float vector: index 2 appears more than once/);
    fails(pairs([[4294967295, 1]]), /row 3: invalid index in sparse float vector: must be less than 2\^32-1/);
    fails(pairs([[1, NaN]]), /row 3: the value at index 1 is NaN/);
    fails(Buffer.alloc(12), /row 3: invalid data length in sparse float vector: 12 bytes/);
  });

  test('wire FieldData in and out', () => {
    const col = fieldDataToColumn({ type: 'SparseFloatVector', vectors: { dim: 10, sparse_float_vector: { dim: 10, contents: [pairs([[1, 2]]), pairs([]), pairs([[9, 0.25], [3, 1]])] } } }, field, 3);
    expect(asPairs(col)).toEqual([[[1, 2]], [], [[3, 1], [9, 0.25]]]);
    const out = columnToFieldData(col, field);
    expect(out.vectors?.dim).toBe('10');
    expect(out.vectors?.sparse_float_vector?.contents.map((b) => Buffer.from(b).toString('hex'))).toEqual([pairs([[1, 2]]), pairs([]), pairs([[3, 1], [9, 0.25]])].map((b) => b.toString('hex')));
    expect(() => fieldDataToColumn({ type: 'SparseFloatVector', vectors: { sparse_float_vector: { contents: [pairs([[1, 2]])] } } }, field, 2)).toThrow(/field "sv": has 1 values but the request has 2 rows/);
    expect(() => fieldDataToColumn({ type: 'FloatVector', vectors: { dim: 2, float_vector: { data: [1, 2] } } }, field, 1)).toThrow(/field "sv": expected SparseFloatVector data/);
  });

  test('take, concat, codec and WAL round trips keep every row', () => {
    const a: Column = { kind: 'sparse', data: [parseSparseRow(pairs([[1, 1]]), 'sv', ''), parseSparseRow(pairs([]), 'sv', '')] };
    const b: Column = { kind: 'sparse', data: [parseSparseRow(pairs([[5, 2], [6, 3]]), 'sv', '')] };
    const all = concatColumns([a, b]);
    expect(asPairs(takeColumn(all, [2, 0]))).toEqual([[[5, 2], [6, 3]], [[1, 1]]]);
    const batch = { numRows: 3, columns: new Map<string, Column>([['n', { kind: 'int', data: Int32Array.from([1, 2, 3]) }], ['sv', all]]) };
    expect(asPairs(decodeBatch(encodeBatch(batch)).columns.get('sv')!)).toEqual(asPairs(all));
    const msg = decodeWalMsg(encodeWalMsg({ type: 'insert', collectionID: 1, ts: 5n, batch }));
    expect(msg.type === 'insert' && asPairs(msg.batch.columns.get('sv')!)).toEqual(asPairs(all));
    // A column after the sparse one still decodes (bodies stay aligned).
    const after = { numRows: 3, columns: new Map<string, Column>([['sv', all], ['f', { kind: 'float', data: Float64Array.from([0.5, 1.5, 2.5]) }]]) };
    expect(Array.from(decodeBatch(encodeBatch(after)).columns.get('f')!.data as Float64Array)).toEqual([0.5, 1.5, 2.5]);
  });
});
