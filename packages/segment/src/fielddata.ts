import { KiteError } from '@kite/common';
import { columnLength, validOf, type Column, type ColumnBatch, type SparseRow } from './columns';
import { arrayDataToColumn, columnToArrayData, emptyArrayColumn, type WireArrayArray, type WireArrayRow } from './arraydata';
import { firstNonFinite } from './halfvec';
import { SCALAR_TYPES, type DataTypeName, type FieldMeta } from './meta';
import { absentFieldColumn, applyDefault, expandColumn } from './nullable';

/**
 * Conversion between Milvus's wire FieldData (as @grpc/proto-loader decodes it with keepCase, longs as strings,
 * enums as names, oneofs) and Kite's columns. Inbound data is validated against the field: type, row count,
 * vector dimension, VarChar max_length; errors name the field and the fix.
 */

export interface WireFieldData {
  type?: string;
  field_name?: string;
  field_id?: string | number;
  is_dynamic?: boolean;
  valid_data?: boolean[];
  field?: string;
  /** The scalar members: those of one Array row, plus array_data. */
  scalars?: (Omit<WireArrayRow, 'long_data'> & { long_data?: { data: (string | number)[] | BigInt64Array }; array_data?: WireArrayArray }) | null;
  vectors?: {
    dim?: string | number;
    data?: string;
    float_vector?: { data: number[] | Float32Array };
    float16_vector?: Uint8Array;
    bfloat16_vector?: Uint8Array;
    binary_vector?: Uint8Array;
    int8_vector?: Uint8Array;
    sparse_float_vector?: { dim?: string | number; contents: Uint8Array[] };
  } | null;
}

export function wireRowCount(fd: WireFieldData): number {
  const s = fd.scalars;
  if (s) {
    const d = s.bool_data ?? s.int_data ?? s.long_data ?? s.float_data ?? s.double_data ?? s.string_data ?? s.json_data ?? s.array_data;
    return d?.data?.length ?? 0;
  }
  const v = fd.vectors;
  if (v?.float_vector) {
    const dim = Number(v.dim ?? 0);
    return dim > 0 ? v.float_vector.data.length / dim : 0;
  }
  if (v?.sparse_float_vector) return v.sparse_float_vector.contents.length;
  if (v?.binary_vector) {
    const dim = Number(v.dim ?? 0);
    return dim > 0 ? v.binary_vector.length / (dim / 8) : 0;
  }
  if (v?.int8_vector) {
    const dim = Number(v.dim ?? 0);
    return dim > 0 ? v.int8_vector.length / dim : 0;
  }
  const half = v?.float16_vector ?? v?.bfloat16_vector;
  if (half) {
    const dim = Number(v?.dim ?? 0);
    return dim > 0 ? half.length / (2 * dim) : 0;
  }
  return 0;
}

/** The largest index a sparse vector may hold (Milvus: indices are uint32 below 2^32 - 1). */
export const MAX_SPARSE_INDEX = 2 ** 32 - 2;

/**
 * Parses one sparse row as the SDKs send it: little-endian (uint32 index, float32 value) pairs. Rows whose indices
 * are out of order are sorted (the Node SDK sends its coo and csr forms in the caller's order); a repeated index,
 * the index 2^32 - 1, a NaN or infinite value, or a length that is not a multiple of 8 bytes are refused with
 * Milvus's wording, naming the field and the row. `what` names the row in errors ("row 3", "query vector 0").
 */
export function parseSparseRow(bytes: Uint8Array, field: string, what: string): SparseRow {
  if (bytes.length % 8 !== 0) {
    throw bad(field, `${what}: invalid data length in sparse float vector: ${bytes.length} bytes is not a whole number of (uint32 index, float32 value) pairs`);
  }
  const n = bytes.length / 8;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let indices = new Uint32Array(n);
  let values = new Float32Array(n);
  let sorted = true;
  for (let i = 0; i < n; i++) {
    const idx = dv.getUint32(i * 8, true);
    const val = dv.getFloat32(i * 8 + 4, true);
    if (idx > MAX_SPARSE_INDEX) throw bad(field, `${what}: invalid index in sparse float vector: must be less than 2^32-1, got ${idx}`);
    if (!Number.isFinite(val)) throw bad(field, `${what}: the value at index ${idx} is ${val}: sparse vector values must be finite numbers (no NaN or Infinity)`);
    indices[i] = idx;
    values[i] = val;
    if (i > 0 && idx <= indices[i - 1]!) sorted = false;
  }
  if (!sorted) {
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => indices[a]! - indices[b]!);
    indices = Uint32Array.from(order, (i) => indices[i]!);
    values = Float32Array.from(order, (i) => values[i]!);
    for (let i = 1; i < n; i++) {
      if (indices[i] === indices[i - 1]) throw bad(field, `${what}: unsorted or same indices in sparse float vector: index ${indices[i]} appears more than once; give each index one value`);
    }
  }
  return { indices, values };
}

/** One sparse row as the wire carries it (the inverse of parseSparseRow). */
export function sparseRowBytes(r: SparseRow): Buffer {
  const out = Buffer.alloc(r.indices.length * 8);
  for (let i = 0; i < r.indices.length; i++) {
    out.writeUInt32LE(r.indices[i]!, i * 8);
    out.writeFloatLE(r.values[i]!, i * 8 + 4);
  }
  return out;
}

const bad = (field: string, msg: string): KiteError => new KiteError('ParameterInvalid', `field "${field}": ${msg}`);

/** Milvus's bound on one JSON value (common.JSONMaxLength), in bytes. */
export const MAX_JSON_BYTES = 65536;
/** Deepest nesting of objects and arrays in one JSON value (simdjson's default, which Milvus parses with). */
export const MAX_JSON_DEPTH = 1024;

/**
 * The deepest nesting of objects and arrays in a JSON text, by a linear scan that skips strings (no recursion, so a
 * value nested 100,000 levels deep is measured, not a stack overflow).
 */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c) i++; // backslash: skip the escaped character
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x7b || ch === 0x5b) max = Math.max(max, ++depth);
    else if (ch === 0x7d || ch === 0x5d) depth--;
  }
  return max;
}

/**
 * Converts inbound FieldData into a column for `field`, checking it holds `numRows` values of the right type. With
 * valid_data (nullable fields and fields with a default value; the SDKs send values for the valid rows only, or one a
 * row), NULL rows get the field's default value, or stay NULL on a nullable field.
 */
export function fieldDataToColumn(fd: WireFieldData, field: FieldMeta, numRows: number): Column {
  const col = columnFromWire(fd, field, numRows);
  // Empty JSON bytes in a nullable JSON field are NULL (the Node SDK sends a null JSON value so, marked valid).
  if (col.kind === 'json' && field.nullable && !field.isDynamic && col.data.some((v) => v === undefined)) {
    const valid = col.valid ?? new Uint8Array(col.data.length).fill(1);
    col.data.forEach((v, i) => {
      if (v === undefined) valid[i] = 0;
    });
    return { ...col, valid };
  }
  return col;
}

function columnFromWire(fd: WireFieldData, field: FieldMeta, numRows: number): Column {
  const flags = fd.valid_data;
  if (flags === undefined || flags.length === 0 || !SCALAR_TYPES.includes(field.dataType)) return valuesToColumn(fd, field, numRows);
  const name = field.name;
  if (flags.length !== numRows) throw bad(name, `valid_data has ${flags.length} flags but the request has ${numRows} rows; send one flag per row`);
  const valid = Uint8Array.from(flags, (v) => (v ? 1 : 0));
  let nValid = 0;
  for (const v of valid) nValid += v;
  if (nValid < numRows && !field.nullable && field.defaultValue === undefined) {
    throw bad(name, `row ${valid.indexOf(0)} is null, but the field is not nullable and has no default value; give every row a value or declare the field nullable`);
  }
  const sent = wireRowCount(fd);
  if (sent !== nValid && sent !== numRows) {
    throw bad(name, `has ${sent} values for ${nValid} valid rows (valid_data) of ${numRows}; send one value per valid row, or one per row`);
  }
  const compact = sent === 0 && nValid === 0 ? absentFieldColumn({ ...field, defaultValue: undefined }, 0) : valuesToColumn(fd, field, sent === numRows ? numRows : nValid);
  return applyDefault(expandColumn(compact, valid), field);
}

/**
 * Index of the first NaN or +-Infinity in `f`, or -1: read as the float32 bit patterns (exponent bits all set), one
 * integer test a value; the same answer as Number.isFinite on each value.
 */
export function firstNonFiniteFloat32(f: Float32Array): number {
  const bits = new Int32Array(f.buffer, f.byteOffset, f.length);
  for (let i = 0; i < bits.length; i++) if ((bits[i]! & 0x7f800000) === 0x7f800000) return i;
  return -1;
}

function valuesToColumn(fd: WireFieldData, field: FieldMeta, numRows: number): Column {
  const name = field.name;
  const s = fd.scalars;
  const want = field.dataType;
  const count = (len: number): void => {
    if (len !== numRows) throw bad(name, `has ${len} values but the request has ${numRows} rows; every field needs one value per row`);
  };
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined || v === null) throw bad(name, `expected ${want} data (${what}) but got ${fd.scalars?.data ?? fd.vectors?.data ?? 'nothing'}`);
    return v;
  };
  switch (want) {
    case 'Bool': {
      const d = need(s?.bool_data, 'bool_data').data;
      count(d.length);
      return { kind: 'bool', data: Uint8Array.from(d, (b) => (b ? 1 : 0)) };
    }
    case 'Int8':
    case 'Int16':
    case 'Int32': {
      const d = need(s?.int_data, 'int_data').data;
      count(d.length);
      const [lo, hi] = want === 'Int8' ? [-128, 127] : want === 'Int16' ? [-32768, 32767] : [-2147483648, 2147483647];
      for (const v of d) if (!Number.isInteger(v) || v < lo || v > hi) throw bad(name, `value ${v} is out of range for ${want} [${lo}, ${hi}]`);
      return { kind: 'int', data: Int32Array.from(d) };
    }
    case 'Int64': {
      const d = need(s?.long_data, 'long_data').data;
      count(d.length);
      // A BigInt64Array (the proxy's Insert/Upsert decoder) is the request's own copy: taken as is.
      if (d instanceof BigInt64Array) return { kind: 'int64', data: d };
      const out = new BigInt64Array(d.length);
      for (let i = 0; i < d.length; i++) out[i] = BigInt(d[i]!);
      return { kind: 'int64', data: out };
    }
    case 'Float': {
      const d = need(s?.float_data, 'float_data').data;
      count(d.length);
      for (const v of d) if (!Number.isFinite(v)) throw bad(name, `value ${v} is not a finite Float: NaN and Infinity are not stored`);
      return { kind: 'float', data: Float32Array.from(d) };
    }
    case 'Double': {
      const d = need(s?.double_data, 'double_data').data;
      count(d.length);
      for (const v of d) if (!Number.isFinite(v)) throw bad(name, `value ${v} is not a finite Double: NaN and Infinity are not stored`);
      return { kind: 'float', data: Float64Array.from(d) };
    }
    case 'VarChar': {
      const d = need(s?.string_data, 'string_data').data;
      count(d.length);
      const max = Number(field.typeParams.max_length ?? 65535);
      for (const v of d) {
        if (Buffer.byteLength(v, 'utf8') > max) throw bad(name, `a value of ${Buffer.byteLength(v, 'utf8')} bytes exceeds max_length ${max}; shorten it or raise max_length`);
      }
      return { kind: 'string', data: d.slice() };
    }
    case 'JSON': {
      const d = need(s?.json_data, 'json_data').data;
      count(d.length);
      const out = new Array<unknown>(d.length);
      for (let i = 0; i < d.length; i++) {
        const bytes = Buffer.from(d[i]!);
        if (bytes.length > MAX_JSON_BYTES) throw bad(name, `row ${i} is ${bytes.length} bytes of JSON: a JSON value may be at most ${MAX_JSON_BYTES} bytes`);
        const text = bytes.toString('utf8');
        if (jsonDepth(text) > MAX_JSON_DEPTH) throw bad(name, `row ${i} nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep; flatten it`);
        try {
          out[i] = text === '' ? undefined : (JSON.parse(text) as unknown);
        } catch {
          throw bad(name, `row ${i} is not valid JSON`);
        }
        if (field.isDynamic && (out[i] === null || typeof out[i] !== 'object' || Array.isArray(out[i]))) {
          throw bad(name, `row ${i} of the dynamic field must be a JSON object`);
        }
      }
      return { kind: 'json', data: out };
    }
    case 'Array':
      return arrayDataToColumn(need(s?.array_data, 'array_data'), field, numRows);
    case 'FloatVector': {
      const v = fd.vectors;
      if (!v?.float_vector) throw bad(name, `expected FloatVector data but got ${v?.data ?? s?.data ?? 'nothing'}`);
      const dim = Number(field.typeParams.dim);
      const got = Number(v.dim ?? 0);
      if (got !== dim) throw new KiteError('DimensionMismatch', `field "${name}": vector dimension ${got} does not match the field's dim ${dim}`);
      const data = v.float_vector.data;
      if (data.length !== numRows * dim) {
        throw bad(name, `has ${data.length / dim} vectors but the request has ${numRows} rows`);
      }
      // A Float32Array (the proxy's Insert/Upsert decoder) is the request's own copy: taken as is.
      const out = data instanceof Float32Array ? data : Float32Array.from(data);
      const at = firstNonFiniteFloat32(out);
      if (at >= 0) throw bad(name, `row ${Math.floor(at / dim)} holds ${out[at]}: vector values must be finite numbers (no NaN or Infinity)`);
      return { kind: 'vector', dim, data: out };
    }
    case 'Float16Vector':
    case 'BFloat16Vector': {
      const v = fd.vectors;
      const key = want === 'Float16Vector' ? 'float16_vector' : 'bfloat16_vector';
      const bytes = v?.[key];
      if (!bytes) throw bad(name, `expected ${want} data (${key}) but got ${v?.data ?? s?.data ?? 'nothing'}`);
      const dim = Number(field.typeParams.dim);
      const got = Number(v.dim ?? 0);
      if (got !== dim) throw new KiteError('DimensionMismatch', `field "${name}": vector dimension ${got} does not match the field's dim ${dim}`);
      if (bytes.length !== numRows * dim * 2) {
        throw bad(name, `has ${bytes.length} bytes of ${want} data, ${bytes.length / (2 * dim)} vectors of dim ${dim} (2 bytes per element), but the request has ${numRows} rows`);
      }
      const data = Uint8Array.from(bytes);
      const at = firstNonFinite(want, data);
      if (at >= 0) throw bad(name, `row ${Math.floor(at / dim)} holds NaN or Infinity: vector values must be finite numbers`);
      return { kind: 'packed', type: want, dim, data };
    }
    case 'Int8Vector': {
      const v = fd.vectors;
      const bytes = v?.int8_vector;
      if (!bytes) throw bad(name, `expected Int8Vector data (int8_vector) but got ${v?.data ?? s?.data ?? 'nothing'}`);
      const dim = Number(field.typeParams.dim);
      const got = Number(v.dim ?? 0);
      if (got !== dim) throw new KiteError('DimensionMismatch', `field "${name}": vector dimension ${got} does not match the field's dim ${dim}`);
      if (bytes.length !== numRows * dim) {
        throw bad(name, `has ${bytes.length} bytes of Int8Vector data, ${bytes.length / dim} vectors of dim ${dim} (1 byte per element), but the request has ${numRows} rows`);
      }
      return { kind: 'packed', type: 'Int8Vector', dim, data: Uint8Array.from(bytes) };
    }
    case 'BinaryVector': {
      const v = fd.vectors;
      const bytes = v?.binary_vector;
      if (!bytes) throw bad(name, `expected BinaryVector data (binary_vector) but got ${v?.data ?? s?.data ?? 'nothing'}`);
      const dim = Number(field.typeParams.dim);
      const got = Number(v.dim ?? 0);
      if (got !== dim) throw new KiteError('DimensionMismatch', `field "${name}": vector dimension ${got} does not match the field's dim ${dim}`);
      if (bytes.length !== (numRows * dim) / 8) {
        throw bad(name, `has ${bytes.length} bytes of BinaryVector data, ${bytes.length / (dim / 8)} vectors of dim ${dim} (${dim / 8} bytes each), but the request has ${numRows} rows`);
      }
      return { kind: 'binary', dim, data: Uint8Array.from(bytes) };
    }
    case 'SparseFloatVector': {
      const v = fd.vectors;
      if (!v?.sparse_float_vector) throw bad(name, `expected SparseFloatVector data (sparse_float_vector) but got ${v?.data ?? s?.data ?? 'nothing'}`);
      const contents = v.sparse_float_vector.contents ?? [];
      count(contents.length);
      return { kind: 'sparse', data: contents.map((b, i) => parseSparseRow(b, name, `row ${i}`)) };
    }
  }
}

const typeForKind = (c: Column, dataType: DataTypeName): WireFieldData['scalars'] => {
  switch (c.kind) {
    case 'bool':
      return { data: 'bool_data', bool_data: { data: Array.from(c.data, (b) => b !== 0) } };
    case 'int':
      return { data: 'int_data', int_data: { data: Array.from(c.data) } };
    case 'int64':
      return { data: 'long_data', long_data: { data: Array.from(c.data, (v) => v.toString()) } };
    case 'float':
      return dataType === 'Double'
        ? { data: 'double_data', double_data: { data: Array.from(c.data) } }
        : { data: 'float_data', float_data: { data: Array.from(c.data) } };
    case 'string':
      return { data: 'string_data', string_data: { data: c.data } };
    case 'json': {
      // A NULL row is sent as empty bytes, as Milvus does (the Node SDK reads empty JSON bytes as null).
      const valid = c.valid;
      return { data: 'json_data', json_data: { data: c.data.map((v, i) => (valid !== undefined && valid[i] === 0 ? Buffer.alloc(0) : Buffer.from(v === undefined ? '{}' : JSON.stringify(v)))) } };
    }
    case 'array':
      return { data: 'array_data', array_data: columnToArrayData(c) as WireArrayArray };
    case 'vector':
    case 'packed':
    case 'binary':
    case 'sparse':
      return undefined;
  }
};

/** Builds outbound FieldData for a column of `field`. */
export function columnToFieldData(c: Column, field: Pick<FieldMeta, 'name' | 'fieldID' | 'dataType' | 'isDynamic'> & { nullable?: boolean }): WireFieldData {
  // Nullable columns: one value a row (placeholders where NULL) and one valid_data flag a row, as Milvus replies.
  const valid = validOf(c);
  const validData = valid !== undefined ? Array.from(valid, (b) => b !== 0) : field.nullable ? new Array<boolean>(columnLength(c)).fill(true) : [];
  const base = { type: field.dataType, field_name: field.name, field_id: String(field.fieldID), is_dynamic: field.isDynamic, valid_data: validData };
  if (c.kind === 'vector') {
    return { ...base, field: 'vectors', vectors: { dim: String(c.dim), data: 'float_vector', float_vector: { data: Array.from(c.data) } } };
  }
  if (c.kind === 'binary') {
    return { ...base, field: 'vectors', vectors: { dim: String(c.dim), data: 'binary_vector', binary_vector: Buffer.from(c.data.buffer, c.data.byteOffset, c.data.byteLength) } };
  }
  if (c.kind === 'packed') {
    // The bytes as they were inserted: the SDKs decode them by the field's type.
    const key = c.type === 'Float16Vector' ? 'float16_vector' : c.type === 'BFloat16Vector' ? 'bfloat16_vector' : 'int8_vector';
    return { ...base, field: 'vectors', vectors: { dim: String(c.dim), data: key, [key]: Buffer.from(c.data.buffer, c.data.byteOffset, c.data.byteLength) } };
  }
  if (c.kind === 'sparse') {
    // dim: one past the largest index, as the SDKs compute it on insert.
    let dim = 0;
    for (const r of c.data) if (r.indices.length) dim = Math.max(dim, r.indices[r.indices.length - 1]! + 1);
    return { ...base, field: 'vectors', vectors: { dim: String(dim), data: 'sparse_float_vector', sparse_float_vector: { dim: String(dim), contents: c.data.map(sparseRowBytes) } } };
  }
  return { ...base, field: 'scalars', scalars: typeForKind(c, field.dataType) };
}

/** An empty column of a field's type (for results with no rows). */
export function emptyColumn(field: FieldMeta): Column {
  switch (field.dataType) {
    case 'Bool':
      return { kind: 'bool', data: new Uint8Array(0) };
    case 'Int8':
    case 'Int16':
    case 'Int32':
      return { kind: 'int', data: new Int32Array(0) };
    case 'Int64':
      return { kind: 'int64', data: new BigInt64Array(0) };
    case 'Float':
      return { kind: 'float', data: new Float32Array(0) };
    case 'Double':
      return { kind: 'float', data: new Float64Array(0) };
    case 'VarChar':
      return { kind: 'string', data: [] };
    case 'JSON':
      return { kind: 'json', data: [] };
    case 'Array':
      return emptyArrayColumn(field);
    case 'FloatVector':
      return { kind: 'vector', dim: Number(field.typeParams.dim ?? 0), data: new Float32Array(0) };
    case 'Float16Vector':
    case 'BFloat16Vector':
      return { kind: 'packed', type: field.dataType, dim: Number(field.typeParams.dim ?? 0), data: new Uint8Array(0) };
    case 'Int8Vector':
      return { kind: 'packed', type: 'Int8Vector', dim: Number(field.typeParams.dim ?? 0), data: new Uint8Array(0) };
    case 'BinaryVector':
      return { kind: 'binary', dim: Number(field.typeParams.dim ?? 0), data: new Uint8Array(0) };
    case 'SparseFloatVector':
      return { kind: 'sparse', data: [] };
  }
}

/** Restricts dynamic-field objects to the named keys (output_fields naming dynamic keys). */
export function pickDynamicKeys(c: Column, keysWanted: string[] | 'all'): Column {
  if (c.kind !== 'json' || keysWanted === 'all') return c;
  return {
    kind: 'json',
    data: c.data.map((v) => {
      const o: Record<string, unknown> = {};
      if (v && typeof v === 'object') for (const k of keysWanted) if (k in v) o[k] = (v as Record<string, unknown>)[k];
      return o;
    }),
  };
}

export type { ColumnBatch };
