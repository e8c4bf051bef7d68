import { encodeBatch } from './codec';
import type { ColumnBatch } from './columns';
import { decodeWalMsg, encodeWalMsg } from './walmsg';

/**
 * The message layout: u8 type | u32 header length | header JSON | encodeBatch bytes; as first written (pad false) and
 * as written now, the JSON padded with spaces so the batch starts at a multiple of 8.
 */
function reference(type: number, header: object, batch?: ColumnBatch, pad = true): Buffer {
  let json = JSON.stringify(header);
  while (pad && (5 + json.length) % 8 !== 0) json += ' ';
  const h = Buffer.from(json, 'utf8');
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
  // Messages written before the padding replay unchanged.
  expect(decodeWalMsg(reference(0, { collectionID: 7, ts: '123' }, batch, false))).toEqual(back);
  expect(decodeWalMsg(reference(1, { collectionID: 7, ts: '124' }, batch, false))).toEqual({ type: 'delete', collectionID: 7, ts: 124n, batch });
  expect(decodeWalMsg(reference(2, { collectionID: 7, ts: '125' }, undefined, false))).toEqual({ type: 'flush', collectionID: 7, ts: 125n });
});

test('a message in a buffer of its own is decoded in place; a slice of a larger buffer or an unaligned one is copied', () => {
  for (let digits = 1; digits <= 12; digits++) {
    const n = 5;
    const batch: ColumnBatch = {
      numRows: n,
      columns: new Map([
        ['$pk', { kind: 'int64', data: BigInt64Array.from({ length: n }, (_, i) => BigInt(i) * 3n - 4n) }],
        ['v', { kind: 'vector', dim: 3, data: Float32Array.from({ length: n * 3 }, (_, i) => i / 7) }],
        ['f', { kind: 'float', data: Float64Array.from({ length: n }, (_, i) => i * 1.5) }],
      ]),
    };
    const ts = BigInt('9'.repeat(digits));
    const own = encodeWalMsg({ type: 'insert', collectionID: 42, ts, batch });
    expect(own.byteOffset).toBe(0);
    const hlen = own.readUInt32LE(1);
    expect((5 + hlen) % 8).toBe(0);
    const inPlace = decodeWalMsg(own);
    expect(inPlace).toEqual({ type: 'insert', collectionID: 42, ts, batch });
    const v = inPlace.type === 'insert' ? inPlace.batch.columns.get('v') : undefined;
    expect(v?.kind === 'vector' && v.data.buffer).toBe(own.buffer);
    // The same bytes at every offset inside a larger buffer: decoded to the same values, never viewing the larger buffer.
    for (let at = 0; at < 8; at++) {
      const big = Buffer.alloc(own.length + 16);
      own.copy(big, at);
      const copied = decodeWalMsg(big.subarray(at, at + own.length));
      expect(copied).toEqual(inPlace);
      const cv = copied.type === 'insert' ? copied.batch.columns.get('v') : undefined;
      expect(cv?.kind === 'vector' && cv.data.buffer).not.toBe(big.buffer);
    }
    // An unpadded message in a buffer of its own: copied, same values.
    const old = reference(0, { collectionID: 42, ts: ts.toString() }, batch, false);
    const fresh = Buffer.alloc(old.length);
    old.copy(fresh);
    expect(decodeWalMsg(fresh)).toEqual(inPlace);
  }
});
