import * as os from 'node:os';

/**
 * Decoding of InsertRequest / UpsertRequest bytes with the float vectors kept as one Float32Array per field and
 * Int64 columns (long_data) as one BigInt64Array per field.
 *
 * The generic decoder turns `FieldData.vectors.float_vector.data` (a packed `repeated float`) into a JS array of
 * numbers and then copies it again into the plain-object shape: for 5,000 rows x 128 dims that is 640,000 boxed
 * numbers twice, which was most of the proxy's CPU per inserted row. Here the packed floats are cut out of the bytes
 * first (the float_vector field is left in place, empty, so the oneof still says `float_vector`), the generic decoder
 * reads what is left, and each field's float_vector.data is set to a Float32Array copied straight from the bytes.
 * Int64 columns are treated the same way (the generic decoder makes a Long object and then a decimal string per value,
 * which the proxy then parses into a BigInt): long_data.data becomes a BigInt64Array read from the varints.
 *
 * Anything this walk does not expect (a malformed length, a float_vector or vectors field that appears twice, a
 * packed payload that is not whole floats, a big-endian host) hands the original bytes to the generic decoder
 * unchanged, so every request decodes, or fails, exactly as before.
 */

const FIELDS_DATA = 5; // InsertRequest / UpsertRequest.fields_data (FieldData)
const VECTORS = 4; // FieldData.vectors (VectorField)
const FLOAT_VECTOR = 2; // VectorField.float_vector (FloatArray)
const FLOAT_DATA = 1; // FloatArray.data (repeated float)
const SCALARS = 3; // FieldData.scalars (ScalarField)
const STRUCT_ARRAYS = 8; // FieldData.struct_arrays, the third member of FieldData's oneof
const LONG_DATA = 3; // ScalarField.long_data (LongArray)
const LONG_VALUES = 1; // LongArray.data (repeated int64)

/** Where a column's values sit: FieldData field `outer`, in it field `inner` (a member of oneof numbers `oneof`). */
interface Target {
  outer: number;
  inner: number;
  oneof: [number, number];
  read: (buf: Uint8Array, f: WireField) => Float32Array | BigInt64Array;
}

const LITTLE_ENDIAN = os.endianness() === 'LE';

/** A wire-format field: its number, wire type, where its tag starts, where its payload starts and ends. */
interface WireField {
  num: number;
  wt: number;
  tagStart: number;
  start: number;
  end: number;
}

class Unexpected extends Error {}

function varint(buf: Uint8Array, pos: number, end: number): [value: number, next: number] {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new Unexpected('truncated varint');
    const b = buf[pos++]!;
    v += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return [v, pos];
    mul *= 128;
  }
  throw new Unexpected('varint longer than 10 bytes');
}

/** The fields of the message in buf[start, end), in order. */
function fields(buf: Uint8Array, start: number, end: number): WireField[] {
  const out: WireField[] = [];
  let pos = start;
  while (pos < end) {
    const tagStart = pos;
    const [tag, p] = varint(buf, pos, end);
    const num = Math.floor(tag / 8);
    const wt = tag & 7;
    if (num === 0) throw new Unexpected('field number 0');
    pos = p;
    let s = pos;
    switch (wt) {
      case 0: pos = varint(buf, pos, end)[1]; break;
      case 1: pos += 8; break;
      case 5: pos += 4; break;
      case 2: {
        const [len, q] = varint(buf, pos, end);
        s = q;
        pos = q + len;
        break;
      }
      default: throw new Unexpected(`wire type ${wt}`);
    }
    if (pos > end) throw new Unexpected('field runs past its message');
    out.push({ num, wt, tagStart, start: s, end: pos });
  }
  return out;
}

function varintBytes(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** A message being rebuilt: chunks of the original bytes and new bytes, in order. */
type Piece = Uint8Array;

function lengthOf(pieces: Piece[]): number {
  let n = 0;
  for (const p of pieces) n += p.length;
  return n;
}

/** Tag (wire type 2) + length + pieces. */
function delimited(num: number, pieces: Piece[]): Piece[] {
  return [Uint8Array.from([...varintBytes(num * 8 + 2), ...varintBytes(lengthOf(pieces))]), ...pieces];
}

/** The floats of one FloatArray message (packed, or unpacked fixed32 elements), copied into a Float32Array. */
function floatsOf(buf: Uint8Array, f: WireField): Float32Array {
  const parts = fields(buf, f.start, f.end).filter((x) => x.num === FLOAT_DATA);
  let bytes = 0;
  for (const p of parts) {
    if (p.wt !== 2 && p.wt !== 5) throw new Unexpected('float data with wire type ' + p.wt);
    const n = p.end - p.start;
    if (n % 4 !== 0) throw new Unexpected('packed floats not a multiple of 4 bytes');
    bytes += n;
  }
  const out = new Float32Array(bytes / 4);
  const dst = new Uint8Array(out.buffer);
  let o = 0;
  for (const p of parts) {
    dst.set(buf.subarray(p.start, p.end), o);
    o += p.end - p.start;
  }
  return out;
}

/** The values of one LongArray message (packed varints, or unpacked varint elements) as a BigInt64Array. */
function longsOf(buf: Uint8Array, f: WireField): BigInt64Array {
  const parts = fields(buf, f.start, f.end).filter((x) => x.num === LONG_VALUES);
  let count = 0;
  for (const p of parts) {
    if (p.wt === 0) count++;
    else if (p.wt === 2) for (let i = p.start; i < p.end; i++) count += buf[i]! < 0x80 ? 1 : 0;
    else throw new Unexpected('int64 data with wire type ' + p.wt);
  }
  const out = new BigInt64Array(count);
  let k = 0;
  for (const p of parts) {
    let pos = p.start;
    const end = p.end;
    while (pos < end) {
      // Values below 2^28 (4 bytes) are read as a number; longer ones as two 32-bit halves (int64 two's complement).
      let lo = 0;
      let shift = 0;
      let b = 0x80;
      for (; shift < 28 && pos < end; shift += 7) {
        b = buf[pos++]!;
        lo |= (b & 0x7f) << shift;
        if (b < 0x80) break;
      }
      if (b < 0x80) {
        out[k++] = BigInt(lo);
        continue;
      }
      let v = BigInt(lo >>> 0);
      let bits = 28n;
      for (let i = 4; i < 10; i++) {
        if (pos >= end) throw new Unexpected('truncated varint');
        b = buf[pos++]!;
        v |= BigInt(b & 0x7f) << bits;
        bits += 7n;
        if (b < 0x80) break;
      }
      if (b >= 0x80) throw new Unexpected('varint longer than 10 bytes');
      out[k++] = BigInt.asIntN(64, v);
    }
  }
  if (k !== count) throw new Unexpected('int64 values miscounted');
  return out;
}

const TARGETS: Target[] = [
  { outer: VECTORS, inner: FLOAT_VECTOR, oneof: [2, 8], read: floatsOf },
  { outer: SCALARS, inner: LONG_DATA, oneof: [1, 12], read: longsOf },
];

/**
 * Cuts the float vectors and Int64 values out of an Insert/Upsert request. Returns the rewritten bytes and, per
 * fields_data entry (in order), the values taken out of it; undefined when no entry has any (nothing to gain).
 */
export function splitColumns(buf: Uint8Array): { rest: Uint8Array; vectors: (Float32Array | BigInt64Array | undefined)[] } | undefined {
  if (!LITTLE_ENDIAN) return undefined;
  const top = fields(buf, 0, buf.length);
  const vectors: (Float32Array | BigInt64Array | undefined)[] = [];
  const out: Piece[] = [];
  let any = false;
  for (const f of top) {
    if (f.num !== FIELDS_DATA || f.wt !== 2) {
      out.push(buf.subarray(f.tagStart, f.end));
      continue;
    }
    const fd = fields(buf, f.start, f.end);
    const members = fd.filter((x) => x.num === VECTORS || x.num === SCALARS || x.num === STRUCT_ARRAYS);
    const target = members.length === 1 ? TARGETS.find((t) => t.outer === members[0]!.num) : undefined;
    if (members.length > 1) throw new Unexpected('FieldData oneof set twice');
    const outer = members[0];
    const inner = target && outer && outer.wt === 2 ? fields(buf, outer.start, outer.end) : undefined;
    const hit = inner?.filter((x) => x.num === target!.inner);
    if (!target || !outer || !inner || !hit || hit.length === 0) {
      vectors.push(undefined);
      out.push(buf.subarray(f.tagStart, f.end));
      continue;
    }
    // A oneof's last member wins in the generic decoder: only a member that is its message's last oneof member, and
    // the only one of its number, is taken out.
    const lastOneof = inner.filter((x) => x.num >= target.oneof[0] && x.num <= target.oneof[1]).pop();
    if (hit.length > 1 || hit[0]!.wt !== 2 || lastOneof !== hit[0]) throw new Unexpected('member repeated or overridden');
    vectors.push(target.read(buf, hit[0]!));
    any = true;
    const innerPieces: Piece[] = inner.map((x) => (x === hit[0] ? Uint8Array.of(target.inner * 8 + 2, 0) : buf.subarray(x.tagStart, x.end)));
    const fdPieces: Piece[] = [];
    for (const x of fd) {
      if (x === outer) fdPieces.push(...delimited(target.outer, innerPieces));
      else fdPieces.push(buf.subarray(x.tagStart, x.end));
    }
    out.push(...delimited(FIELDS_DATA, fdPieces));
  }
  if (!any) return undefined;
  const rest = new Uint8Array(lengthOf(out));
  let o = 0;
  for (const p of out) {
    rest.set(p, o);
    o += p.length;
  }
  return { rest, vectors };
}

interface DecodedRequest {
  fields_data?: { vectors?: { float_vector?: { data: unknown } | null } | null; scalars?: { long_data?: { data: unknown } | null } | null }[];
}

/**
 * Wraps a request decoder of InsertRequest or UpsertRequest so that float vectors arrive as Float32Array
 * (`fields_data[i].vectors.float_vector.data`) and Int64 values as BigInt64Array (`fields_data[i].scalars.long_data
 * .data`); other fields decode exactly as the wrapped decoder decodes them.
 */
export function withColumns(decode: (bytes: Buffer) => unknown): (bytes: Buffer) => unknown {
  return (bytes: Buffer): unknown => {
    let split: ReturnType<typeof splitColumns>;
    try {
      split = splitColumns(bytes);
    } catch (e) {
      if (e instanceof Unexpected) return decode(bytes);
      throw e;
    }
    if (!split) return decode(bytes);
    let r: DecodedRequest;
    try {
      r = decode(Buffer.from(split.rest.buffer, split.rest.byteOffset, split.rest.byteLength)) as DecodedRequest;
    } catch {
      return decode(bytes); // the original bytes' own error
    }
    const fds = r.fields_data ?? [];
    if (fds.length !== split.vectors.length) return decode(bytes);
    for (let i = 0; i < fds.length; i++) {
      const v = split.vectors[i];
      if (v === undefined) continue;
      const holder = v instanceof Float32Array ? fds[i]!.vectors?.float_vector : fds[i]!.scalars?.long_data;
      if (!holder) return decode(bytes);
      holder.data = v;
    }
    return r;
  };
}
