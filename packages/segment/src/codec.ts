import { validOf, type ArrayElementType, type Column, type ColumnBatch, type ScalarColumn, type SparseRow } from './columns';
import type { PackedType } from './halfvec';

/**
 * Binary encoding of a ColumnBatch, used for WAL insert/delete payloads and sealed segment files.
 * Layout: "KCB1" | u32 header length | header JSON | zero padding to 8 | column bodies, each 8-aligned.
 * Fixed-width columns are the typed array's bytes (little endian); strings and JSON are u32 offsets + UTF-8;
 * sparse vectors are u32 row offsets (n + 1, counted in entries), then every row's u32 indices, then its f32 values;
 * Array fields are u32 row offsets (n + 1, counted in elements), zero padding to 8, then the flat element column's
 * body as above (its kind and float width follow from the header's `elem`). Batches written before Array fields
 * existed have no 'array' column and read as before.
 * A nullable column's validity (one byte a row, 0 = NULL) follows its body, 8-aligned, when the header has `valid`;
 * batches written before nullable fields existed have no such column and decode as before.
 * Decoding makes typed arrays that view the buffer where alignment allows, so large segments load without copies.
 */
const MAGIC = 0x3142434b; // "KCB1" little endian

interface ColumnHeader {
  name: string;
  kind: Column['kind'];
  width?: 32 | 64;
  dim?: number;
  /** 'packed' columns: Float16Vector, BFloat16Vector or Int8Vector. */
  vtype?: PackedType;
  /** 'array' columns: the element type. */
  elem?: ArrayElementType;
  bytes: number;
  /** The column has a validity body of numRows bytes after its values. */
  valid?: true;
}

const align8 = (n: number): number => (n + 7) & ~7;

function encodeStrings(values: string[]): Buffer {
  const parts = values.map((v) => Buffer.from(v, 'utf8'));
  const offsets = new Uint32Array(values.length + 1);
  let o = 0;
  parts.forEach((p, i) => {
    offsets[i] = o;
    o += p.length;
  });
  offsets[values.length] = o;
  return Buffer.concat([Buffer.from(offsets.buffer, offsets.byteOffset, offsets.byteLength), ...parts]);
}

function decodeStrings(buf: Buffer, n: number): string[] {
  const offsets = new Uint32Array(n + 1);
  Buffer.from(offsets.buffer).set(buf.subarray(0, (n + 1) * 4));
  const base = (n + 1) * 4;
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = buf.toString('utf8', base + offsets[i]!, base + offsets[i + 1]!);
  return out;
}

function encodeSparse(rows: SparseRow[]): Buffer {
  const n = rows.length;
  const offsets = new Uint32Array(n + 1);
  let nnz = 0;
  rows.forEach((r, i) => {
    offsets[i] = nnz;
    nnz += r.indices.length;
  });
  offsets[n] = nnz;
  const indices = new Uint32Array(nnz);
  const values = new Float32Array(nnz);
  rows.forEach((r, i) => {
    indices.set(r.indices, offsets[i]!);
    values.set(r.values, offsets[i]!);
  });
  const bytes = (a: Uint32Array | Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  return Buffer.concat([bytes(offsets), bytes(indices), bytes(values)]);
}

function decodeSparse(buf: Buffer, offset: number, n: number): SparseRow[] {
  const offsets = view(Uint32Array, buf, offset, (n + 1) * 4);
  const nnz = offsets[n]!;
  const indices = view(Uint32Array, buf, offset + (n + 1) * 4, nnz * 4);
  const values = view(Float32Array, buf, offset + (n + 1 + nnz) * 4, nnz * 4);
  const out = new Array<SparseRow>(n);
  for (let i = 0; i < n; i++) out[i] = { indices: indices.subarray(offsets[i]!, offsets[i + 1]!), values: values.subarray(offsets[i]!, offsets[i + 1]!) };
  return out;
}

function bodyOf(c: Column): Buffer {
  switch (c.kind) {
    case 'sparse':
      return encodeSparse(c.data);
    case 'string':
      return encodeStrings(c.data);
    case 'json':
      return encodeStrings(c.data.map((v) => (v === undefined ? '' : JSON.stringify(v))));
    case 'array': {
      const offsets = Buffer.from(c.offsets.buffer, c.offsets.byteOffset, c.offsets.byteLength);
      const pad = Buffer.alloc(align8(offsets.length) - offsets.length);
      return Buffer.concat([offsets, pad, bodyOf(c.values)]);
    }
    default:
      return Buffer.from(c.data.buffer, c.data.byteOffset, c.data.byteLength);
  }
}

export function encodeBatch(batch: ColumnBatch): Buffer {
  return encodeBatchAfter(batch, 0);
}

/**
 * encodeBatch's bytes after `prefix` bytes left for the caller to fill (a WAL message's head): one allocation and
 * one copy of the column bodies for the whole message.
 */
export function encodeBatchAfter(batch: ColumnBatch, prefix: number): Buffer {
  const headers: ColumnHeader[] = [];
  const bodies: Buffer[] = [];
  for (const [name, c] of batch.columns) {
    const body = bodyOf(c);
    const h: ColumnHeader = { name, kind: c.kind, bytes: body.length };
    if (c.kind === 'float') h.width = c.data instanceof Float32Array ? 32 : 64;
    if (c.kind === 'vector' || c.kind === 'binary') h.dim = c.dim;
    if (c.kind === 'packed') {
      h.dim = c.dim;
      h.vtype = c.type;
    }
    if (c.kind === 'array') h.elem = c.elem;
    headers.push(h);
    bodies.push(body);
    const valid = validOf(c);
    if (valid !== undefined) {
      h.valid = true;
      bodies.push(Buffer.from(valid.buffer, valid.byteOffset, valid.byteLength));
    }
  }
  const header = Buffer.from(JSON.stringify({ numRows: batch.numRows, columns: headers }), 'utf8');
  const start = align8(8 + header.length);
  const total = bodies.reduce((s, b) => s + align8(b.length), start);
  const whole = Buffer.alloc(prefix + total);
  const out = whole.subarray(prefix);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(header.length, 4);
  header.copy(out, 8);
  let o = start;
  for (const b of bodies) {
    b.copy(out, o);
    o += align8(b.length);
  }
  return whole;
}

/** Views `bytes` of `buf` at `offset` as a T, copying only when the offset is not aligned for T. */
function view<T>(
  ctor: { new (b: ArrayBuffer, o: number, n: number): T; BYTES_PER_ELEMENT: number },
  buf: Buffer,
  offset: number,
  bytes: number,
): T {
  const abs = buf.byteOffset + offset;
  if (abs % ctor.BYTES_PER_ELEMENT === 0) return new ctor(buf.buffer as ArrayBuffer, abs, bytes / ctor.BYTES_PER_ELEMENT);
  const copy = new ArrayBuffer(bytes);
  new Uint8Array(copy).set(buf.subarray(offset, offset + bytes));
  return new ctor(copy, 0, bytes / ctor.BYTES_PER_ELEMENT);
}

export function decodeBatch(buf: Buffer): ColumnBatch {
  if (buf.length < 8 || buf.readUInt32LE(0) !== MAGIC) throw new Error('not a Kite column batch (bad magic)');
  const hlen = buf.readUInt32LE(4);
  const header = JSON.parse(buf.toString('utf8', 8, 8 + hlen)) as { numRows: number; columns: ColumnHeader[] };
  const columns = new Map<string, Column>();
  let o = align8(8 + hlen);
  const n = header.numRows;
  for (const h of header.columns) {
    const body = buf.subarray(o, o + h.bytes);
    let c: Column;
    switch (h.kind) {
      case 'bool':
        c = { kind: 'bool', data: view(Uint8Array, buf, o, h.bytes) };
        break;
      case 'int':
        c = { kind: 'int', data: view(Int32Array, buf, o, h.bytes) };
        break;
      case 'int64':
        c = { kind: 'int64', data: view(BigInt64Array, buf, o, h.bytes) };
        break;
      case 'float':
        c = { kind: 'float', data: h.width === 64 ? view(Float64Array, buf, o, h.bytes) : view(Float32Array, buf, o, h.bytes) };
        break;
      case 'vector':
        c = { kind: 'vector', dim: h.dim ?? 0, data: view(Float32Array, buf, o, h.bytes) };
        break;
      case 'packed':
        c = { kind: 'packed', type: h.vtype ?? 'Float16Vector', dim: h.dim ?? 0, data: view(Uint8Array, buf, o, h.bytes) };
        break;
      case 'binary':
        c = { kind: 'binary', dim: h.dim ?? 0, data: view(Uint8Array, buf, o, h.bytes) };
        break;
      case 'sparse':
        c = { kind: 'sparse', data: decodeSparse(buf, o, n) };
        break;
      case 'string':
        c = { kind: 'string', data: decodeStrings(body, n) };
        break;
      case 'json':
        c = { kind: 'json', data: decodeStrings(body, n).map((s) => (s === '' ? undefined : (JSON.parse(s) as unknown))) };
        break;
      case 'array':
        c = decodeArray(buf, o, h.bytes, n, h.elem ?? 'Int64');
        break;
    }
    o += align8(h.bytes);
    if (h.valid) {
      (c as { valid?: Uint8Array }).valid = view(Uint8Array, buf, o, n);
      o += align8(n);
    }
    columns.set(h.name, c);
  }
  return { numRows: n, columns };
}

/** An 'array' column's body (see the layout above) at `offset` of `buf`: n + 1 offsets, then the flat elements. */
function decodeArray(buf: Buffer, offset: number, bytes: number, n: number, elem: ArrayElementType): Column {
  const offsets = view(Uint32Array, buf, offset, (n + 1) * 4);
  const m = offsets[n]!;
  const start = offset + align8((n + 1) * 4);
  const len = offset + bytes - start;
  let values: ScalarColumn;
  switch (elem) {
    case 'Bool':
      values = { kind: 'bool', data: view(Uint8Array, buf, start, m) };
      break;
    case 'Int8':
    case 'Int16':
    case 'Int32':
      values = { kind: 'int', data: view(Int32Array, buf, start, m * 4) };
      break;
    case 'Int64':
      values = { kind: 'int64', data: view(BigInt64Array, buf, start, m * 8) };
      break;
    case 'Float':
      values = { kind: 'float', data: view(Float32Array, buf, start, m * 4) };
      break;
    case 'Double':
      values = { kind: 'float', data: view(Float64Array, buf, start, m * 8) };
      break;
    case 'VarChar':
      values = { kind: 'string', data: decodeStrings(buf.subarray(start, start + len), m) };
      break;
  }
  return { kind: 'array', elem, offsets, values };
}
