import { encodeBatch } from './codec';
import type { ColumnBatch } from './columns';
import { decodeWalMsg, encodeWalMsg } from './walmsg';

/** The message layout as first written: u8 type | u32 header length | header JSON | encodeBatch bytes. */
function reference(type: number, header: object, batch?: ColumnBatch): Buffer {
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  const head = Buffer.alloc(5);
  head.writeUInt8(type, 0);
  head.writeUInt32LE(h.length, 1);
  return Buffer.concat(batch ? [head, h, encodeBatch(batch)] : [head, h]);
}

test('insert, delete and flush messages keep their byte layout, so WALs written before replay unchanged', () => {
  const batch: ColumnBatch = {
    numRows: 3,
    columns: new Map([
      ['$pk', { kind: 'int64', data: BigInt64Array.of(1n, -2n, 3n) }],
      ['v', { kind: 'vector', dim: 2, data: Float32Array.of(0.5, 1, 2, 3, 4, 5) }],
      ['s', { kind: 'string', data: ['a', 'bc', ''] }],
    ]),
  };
  const ins = encodeWalMsg({ type: 'insert', collectionID: 7, ts: 123n, batch });
  expect(ins.equals(reference(0, { collectionID: 7, ts: '123' }, batch))).toBe(true);
  const del = encodeWalMsg({ type: 'delete', collectionID: 7, ts: 124n, batch });
  expect(del.equals(reference(1, { collectionID: 7, ts: '124' }, batch))).toBe(true);
  const flush = encodeWalMsg({ type: 'flush', collectionID: 7, ts: 125n });
  expect(flush.equals(reference(2, { collectionID: 7, ts: '125' }))).toBe(true);
  const back = decodeWalMsg(ins);
  expect(back).toEqual({ type: 'insert', collectionID: 7, ts: 123n, batch });
});
