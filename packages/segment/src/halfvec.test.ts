import { KiteError } from '@kite/common';
import { concatColumns, takeColumn, type Column } from './columns';
import { decodeBatch, encodeBatch } from './codec';
import { columnToFieldData, emptyColumn, fieldDataToColumn } from './fielddata';
import { bf16ToF32, f16ToF32, firstNonFinite, floatVectors, halfBytesToF32, type HalfType } from './halfvec';
import type { FieldMeta } from './meta';
import { decodeWalMsg, encodeWalMsg } from './walmsg';

const fieldOf = (type: HalfType, dim: number): FieldMeta => ({
  fieldID: 102, name: 'h', dataType: type, isPrimaryKey: false, autoID: false, description: '', typeParams: { dim: String(dim) }, isDynamic: false, isPartitionKey: false, nullable: false,
});

/** The float32 whose bits are `u` (an independent route to the expected values). */
const fromBits = (u: number): number => new Float32Array(Uint32Array.of(u >>> 0).buffer)[0]!;

/** Every finite pattern of a half type, as little-endian bytes. */
function allFinite(type: HalfType): Buffer {
  const out: number[] = [];
  for (let h = 0; h < 0x10000; h++) {
    const b = [h & 0xff, h >> 8];
    if (firstNonFinite(type, Uint8Array.from(b)) < 0) out.push(...b);
  }
  return Buffer.from(out);
}

describe('float16 and bfloat16 values', () => {
  test('float16 widens exactly: normals by their float32 bits, subnormals, zeros, the largest value', () => {
    for (let h = 0; h < 0x10000; h++) {
      const exp = (h >> 10) & 0x1f;
      if (exp === 0 || exp === 0x1f) continue;
      const want = fromBits(((h & 0x8000) << 16) | ((exp - 15 + 127) << 23) | ((h & 0x3ff) << 13));
      if (f16ToF32(h) !== want) throw new Error(`float16 0x${h.toString(16)}: ${f16ToF32(h)} != ${want}`);
    }
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0x7e00)).toBeNaN();
  });

  test('bfloat16 widens to the float32 with those high bits', () => {
    for (let h = 0; h < 0x10000; h += 7) expect(Object.is(bf16ToF32(h), fromBits(h << 16)) || (Number.isNaN(bf16ToF32(h)) && Number.isNaN(fromBits(h << 16)))).toBe(true);
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0xc040)).toBe(-3);
    const bytes = Buffer.from([0x80, 0x3f, 0x40, 0xc0]);
    expect(Array.from(halfBytesToF32('BFloat16Vector', bytes))).toEqual([1, -3]);
    expect(Array.from(halfBytesToF32('Float16Vector', Buffer.from([0x00, 0x3c, 0x00, 0xc0])))).toEqual([1, -2]);
  });

  test('NaN and infinities are found in either type', () => {
    expect(firstNonFinite('Float16Vector', Buffer.from([0, 0x3c, 0, 0x7c]))).toBe(1);
    expect(firstNonFinite('Float16Vector', Buffer.from([0xff, 0x7b]))).toBe(-1);
    expect(firstNonFinite('BFloat16Vector', Buffer.from([0, 0x3f, 0x80, 0x7f]))).toBe(1);
    expect(firstNonFinite('BFloat16Vector', Buffer.from([0x7f, 0x7f]))).toBe(-1);
    expect(allFinite('Float16Vector').length / 2).toBe(0x10000 - 2 * 1024);
    expect(allFinite('BFloat16Vector').length / 2).toBe(0x10000 - 2 * 128);
  });
});

describe.each(['Float16Vector', 'BFloat16Vector'] as const)('%s columns', (type) => {
  const key = type === 'Float16Vector' ? 'float16_vector' : 'bfloat16_vector';
  // Every finite bit pattern, as 4-element rows: each must come back bit for bit.
  const bytes = allFinite(type);
  const dim = 4;
  const rows = bytes.length / (2 * dim);
  const field = fieldOf(type, dim);

  test('wire -> column -> WAL and segment codec -> wire keeps every bit pattern', () => {
    const col = fieldDataToColumn({ type, vectors: { dim: String(dim), data: key, [key]: bytes } }, field, rows);
    expect(col.kind).toBe('packed');
    const batch = decodeBatch(encodeBatch({ numRows: rows, columns: new Map([['h', col]]) }));
    const wal = decodeWalMsg(encodeWalMsg({ type: 'insert', collectionID: 1, ts: 5n, batch: { numRows: rows, columns: new Map([['h', col]]) } }));
    if (wal.type !== 'insert') throw new Error('not an insert');
    for (const back of [batch.columns.get('h')!, wal.batch.columns.get('h')!]) {
      const fd = columnToFieldData(back, field);
      expect(fd.vectors?.dim).toBe(String(dim));
      expect(fd.vectors?.data).toBe(key);
      expect(Buffer.from(fd.vectors![key]!).equals(bytes)).toBe(true);
    }
    // Widened for faiss: the exact values.
    const f = floatVectors(batch.columns.get('h'));
    expect(f.dim).toBe(dim);
    expect(f.data.length).toBe(rows * dim);
    const widen = type === 'Float16Vector' ? f16ToF32 : bf16ToF32;
    for (let i = 0; i < f.data.length; i += 97) expect(Object.is(f.data[i], Math.fround(widen(bytes.readUInt16LE(2 * i))))).toBe(true);
  });

  test('take and concat keep rows whole', () => {
    const col = fieldDataToColumn({ type, vectors: { dim: String(dim), data: key, [key]: bytes.subarray(0, 3 * 2 * dim) } }, field, 3);
    const taken = takeColumn(col, [2, 0]) as Extract<Column, { kind: 'packed' }>;
    expect(Buffer.from(taken.data).equals(Buffer.concat([bytes.subarray(16, 24), bytes.subarray(0, 8)]))).toBe(true);
    const both = concatColumns([col, taken]) as Extract<Column, { kind: 'packed' }>;
    expect(both.data.length).toBe(5 * 2 * dim);
    expect(both.type).toBe(type);
    expect(emptyColumn(field)).toEqual({ kind: 'packed', type, dim, data: new Uint8Array(0) });
  });

  test('bad input is refused naming the field', () => {
    const fails = (fn: () => unknown, re: RegExp): void => {
      let err: unknown;
      try {
        fn();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KiteError);
      expect((err as Error).message).toMatch(re);
    };
    fails(() => fieldDataToColumn({ type, vectors: { dim: '4', data: key, [key]: Buffer.alloc(14) } }, field, 2), /field "h": has 14 bytes of .* but the request has 2 rows/);
    fails(() => fieldDataToColumn({ type, vectors: { dim: '8', data: key, [key]: Buffer.alloc(16) } }, field, 1), /field "h": vector dimension 8 does not match the field's dim 4/);
    fails(() => fieldDataToColumn({ type, vectors: { dim: '4', data: 'float_vector', float_vector: { data: [1, 2, 3, 4] } } }, field, 1), new RegExp(`field "h": expected ${type} data \\(${key}\\)`));
    const nan = Buffer.alloc(16);
    nan.writeUInt16LE(type === 'Float16Vector' ? 0x7c00 : 0x7f80, 10);
    fails(() => fieldDataToColumn({ type, vectors: { dim: '4', data: key, [key]: nan } }, field, 2), /field "h": row 1 holds NaN or Infinity/);
  });
});

describe('Int8Vector and BinaryVector columns', () => {
  const int8Field = { ...fieldOf('Float16Vector', 4), dataType: 'Int8Vector' as const };
  const binField = { ...fieldOf('Float16Vector', 16), dataType: 'BinaryVector' as const };

  test('every int8 value goes through the codec and back, and widens to itself', () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const col = fieldDataToColumn({ type: 'Int8Vector', vectors: { dim: '4', data: 'int8_vector', int8_vector: bytes } }, int8Field, 64);
    const back = decodeBatch(encodeBatch({ numRows: 64, columns: new Map([['h', col]]) })).columns.get('h')!;
    expect(Buffer.from(columnToFieldData(back, int8Field).vectors!.int8_vector!).equals(bytes)).toBe(true);
    expect(Array.from(floatVectors(back).data)).toEqual(Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, 256)));
    expect((takeColumn(back, [63]) as Extract<Column, { kind: 'packed' }>).data).toEqual(Uint8Array.from([252, 253, 254, 255]));
  });

  test('binary rows go through the codec and back as the bytes sent', () => {
    const bytes = Buffer.from([1, 2, 3, 4, 5, 6]);
    const col = fieldDataToColumn({ type: 'BinaryVector', vectors: { dim: '16', data: 'binary_vector', binary_vector: bytes } }, binField, 3);
    expect(col).toEqual({ kind: 'binary', dim: 16, data: Uint8Array.from(bytes) });
    const back = decodeBatch(encodeBatch({ numRows: 3, columns: new Map([['b', col]]) })).columns.get('b')!;
    expect(Buffer.from(columnToFieldData(back, binField).vectors!.binary_vector!).equals(bytes)).toBe(true);
    expect((concatColumns([back, takeColumn(back, [2, 0])]) as Extract<Column, { kind: 'binary' }>).data).toEqual(Uint8Array.from([1, 2, 3, 4, 5, 6, 5, 6, 1, 2]));
    expect(() => fieldDataToColumn({ type: 'BinaryVector', vectors: { dim: '16', data: 'binary_vector', binary_vector: bytes } }, binField, 2)).toThrow(/field "h": has 6 bytes of BinaryVector data/);
  });
});
