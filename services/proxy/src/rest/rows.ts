/**
 * JSON rows of the RESTful API to MilvusService columns (FieldData) and back, by the collection's schema, the way
 * Milvus's REST server converts them: vectors as arrays of numbers (binary vectors as arrays of bytes or base64,
 * float16/bfloat16 vectors as arrays of floats or base64 of the little-endian halves), sparse vectors as
 * `{"index": value}` objects, Int64 as numbers or decimal strings, JSON fields as any JSON value, keys outside the
 * schema into the dynamic field. A value that does not fit its field fails with code 1804 naming the row and field.
 */
import { KiteError, clip } from '@kite/common';
import type { Decoded } from './invoke';

/** A field of DescribeCollection's schema as decoded. */
export interface SchemaField {
  name: string;
  data_type: string;
  element_type: string;
  is_primary_key: boolean;
  autoID: boolean;
  nullable: boolean;
  is_dynamic: boolean;
  is_function_output: boolean;
  default_value: Record<string, unknown> | null;
  type_params: { key: string; value: string }[];
}

export interface Schema {
  fields: SchemaField[];
  dynamic: boolean;
  primary: SchemaField;
}

/** The schema of a DescribeCollection response. */
export function schemaOf(described: Decoded): Schema {
  const s = described.schema as { fields: SchemaField[]; enable_dynamic_field: boolean } | null;
  const fields = (s?.fields ?? []).filter((f) => !f.is_dynamic);
  const primary = fields.find((f) => f.is_primary_key);
  if (!primary) throw new KiteError('Internal', 'the collection has no primary key field');
  return { fields, dynamic: s?.enable_dynamic_field ?? false, primary };
}

const param = (f: SchemaField, key: string): string | undefined => f.type_params.find((p) => p.key === key)?.value;
export const dimOf = (f: SchemaField): number => Number(param(f, 'dim') ?? 0);

const bad = (row: number, field: string, what: string): KiteError =>
  new KiteError('RestInsertDataInvalid', `row ${row}, field "${field}": ${what}`);

const INT_RANGE: Record<string, [number, number]> = { Int8: [-128, 127], Int16: [-32768, 32767], Int32: [-2147483648, 2147483647] };

function int64Text(v: unknown, fail: (what: string) => KiteError): string {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  if (typeof v === 'string' && /^-?\d{1,19}$/.test(v)) {
    const n = BigInt(v);
    if (n >= -(1n << 63n) && n < 1n << 63n) return v;
  }
  throw fail(`expected a 64-bit integer (a number, or a decimal string beyond 2^53), got ${clip(JSON.stringify(v) ?? String(v), 64)}`);
}

/** A scalar value of type `type` (also an Array's element), as the value in the ScalarField member it belongs to. */
function scalar(type: string, v: unknown, fail: (what: string) => KiteError): unknown {
  switch (type) {
    case 'Bool':
      if (typeof v !== 'boolean') throw fail(`expected true or false, got ${clip(JSON.stringify(v) ?? String(v), 64)}`);
      return v;
    case 'Int8':
    case 'Int16':
    case 'Int32': {
      const [lo, hi] = INT_RANGE[type]!;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw fail(`expected an integer in [${lo}, ${hi}] (${type}), got ${clip(JSON.stringify(v) ?? String(v), 64)}`);
      return v;
    }
    case 'Int64':
      return int64Text(v, fail);
    case 'Float':
    case 'Double':
      if (typeof v !== 'number') throw fail(`expected a number, got ${clip(JSON.stringify(v) ?? String(v), 64)}`);
      return v;
    case 'VarChar':
    case 'String':
    case 'Text':
      if (typeof v !== 'string') throw fail(`expected a string, got ${clip(JSON.stringify(v) ?? String(v), 64)}`);
      return v;
    case 'JSON':
      return Buffer.from(JSON.stringify(v), 'utf8');
    default:
      throw fail(`fields of type ${type} cannot be written through the RESTful API`);
  }
}

const MEMBER: Record<string, string> = {
  Bool: 'bool_data', Int8: 'int_data', Int16: 'int_data', Int32: 'int_data', Int64: 'long_data', Float: 'float_data', Double: 'double_data',
  VarChar: 'string_data', String: 'string_data', Text: 'string_data', JSON: 'json_data', Array: 'array_data',
};

function numbers(v: unknown, dim: number, fail: (what: string) => KiteError, int8 = false): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) throw fail(`expected an array of ${dim} numbers`);
  if (v.length !== dim) throw fail(`the vector has ${v.length} values but the field's dim is ${dim}`);
  if (int8 && !v.every((x: number) => Number.isInteger(x) && x >= -128 && x <= 127)) throw fail('expected integers in [-128, 127] (Int8Vector)');
  return v as number[];
}

/** Float32 to IEEE half precision (round to nearest even), as 16 bits. */
function toHalf(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  e = half >>> 10;
  return sign | half;
}

/**
 * A float32 value as the shortest decimal that reads back as the same float32 (0.1, not 0.10000000149011612), as
 * Milvus's server prints float32 vectors, Float fields and distances.
 */
export function f32(x: number): number {
  if (!Number.isFinite(x) || Number.isInteger(x)) return x;
  const f = Math.fround(x);
  for (let p = 6; p < 9; p++) {
    const y = Number(f.toPrecision(p));
    if (Math.fround(y) === f) return y;
  }
  return Number(f.toPrecision(9));
}

function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

const toBfloat = (x: number): number => {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0]!;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
};
const fromBfloat = (h: number): number => new Float32Array(new Uint32Array([h << 16]).buffer)[0]!;

/** Bytes of one vector: base64 text, or (binary) an array of byte values, or (float16/bfloat16) an array of floats. */
function vectorBytes(type: string, v: unknown, dim: number, fail: (what: string) => KiteError): Buffer {
  const size = type === 'BinaryVector' ? dim / 8 : dim * 2;
  let out: Buffer;
  if (typeof v === 'string') out = Buffer.from(v, 'base64');
  else if (type === 'BinaryVector') {
    if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x) && x >= 0 && x <= 255)) throw fail(`expected ${size} byte values (0-255) or base64 text`);
    out = Buffer.from(v as number[]);
  } else {
    const xs = numbers(v, dim, fail);
    out = Buffer.alloc(dim * 2);
    xs.forEach((x, i) => out.writeUInt16LE(type === 'Float16Vector' ? toHalf(x) : toBfloat(x), i * 2));
  }
  if (out.length !== size) throw fail(`the vector has ${out.length} bytes but the field's dim ${dim} needs ${size}`);
  return out;
}

/** A sparse vector `{"index": value, ...}` (or `{"indices": [...], "values": [...]}`) as Milvus's bytes: uint32 index, float32 value, by index. */
export function sparseBytes(v: unknown, fail: (what: string) => KiteError): Buffer {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail('expected a sparse vector as an object {"index": value}');
  let pairs: [number, number][];
  const o = v as Record<string, unknown>;
  if (Array.isArray(o.indices) && Array.isArray(o.values)) pairs = (o.indices as unknown[]).map((i, k) => [Number(i), Number((o.values as unknown[])[k])]);
  else pairs = Object.entries(o).map(([k, x]) => [Number(k), typeof x === 'number' ? x : NaN]);
  for (const [i, x] of pairs) {
    if (!Number.isInteger(i) || i < 0 || i >= 2 ** 32 - 1) throw fail(`sparse index ${i} is not an integer in [0, 2^32 - 1)`);
    if (!Number.isFinite(x)) throw fail(`the value at sparse index ${i} is not a number`);
  }
  pairs.sort((a, b) => a[0] - b[0]);
  const out = Buffer.alloc(pairs.length * 8);
  pairs.forEach(([i, x], k) => {
    out.writeUInt32LE(i, k * 8);
    out.writeFloatLE(x, k * 8 + 4);
  });
  return out;
}

function sparseObject(bytes: Buffer): Record<string, number> {
  const out: Record<string, number> = {};
  for (let k = 0; k + 8 <= bytes.length; k += 8) out[String(bytes.readUInt32LE(k))] = f32(bytes.readFloatLE(k + 4));
  return out;
}

/** Whether a row may leave the field out. */
const optional = (f: SchemaField): boolean => f.nullable || f.default_value !== null || f.is_function_output;

/**
 * FieldData columns (request form) of `rows` for `schema`. Insert leaves out an auto-ID primary key (a row that
 * sets it is refused, as by Milvus); upsert sends it. Function outputs (BM25) are computed by the server.
 */
export function rowsToColumns(schema: Schema, rows: unknown[], upsert: boolean): object[] {
  const fields = schema.fields.filter((f) => !f.is_function_output && !(f.is_primary_key && f.autoID && !upsert));
  const known = new Set(schema.fields.map((f) => f.name));
  const cols = fields.map((f) => ({ f, values: [] as unknown[], valid: [] as boolean[] }));
  const dynamic: Buffer[] = [];
  rows.forEach((raw, r) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(r, '', 'each row must be a JSON object of field names and values');
    const row = raw as Record<string, unknown>;
    if (schema.primary.autoID && !upsert && row[schema.primary.name] !== undefined) {
      throw bad(r, schema.primary.name, 'the primary key is generated (autoID): leave it out of the rows');
    }
    for (const c of cols) {
      const v = row[c.f.name];
      const fail = (what: string): KiteError => bad(r, c.f.name, what);
      if (v === undefined || v === null) {
        if (!optional(c.f)) throw fail(v === null ? 'the field is not nullable: give it a value' : 'the field is missing from the row');
        c.valid.push(false);
        continue;
      }
      c.valid.push(true);
      c.values.push(convert(c.f, v, fail));
    }
    if (schema.dynamic) {
      const extra: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(row)) if (!known.has(k)) extra[k] = v;
      dynamic.push(Buffer.from(JSON.stringify(extra), 'utf8'));
    } else {
      const unknown = Object.keys(row).find((k) => !known.has(k));
      if (unknown !== undefined) throw bad(r, unknown, 'the collection has no such field and no dynamic field: remove it or enable the dynamic field');
    }
  });
  const out: object[] = cols.map(({ f, values, valid }) => column(f, values, optional(f) ? valid : []));
  if (schema.dynamic) out.push({ type: 'JSON', field_name: '$meta', is_dynamic: true, scalars: { json_data: { data: dynamic } } });
  return out;
}

function convert(f: SchemaField, v: unknown, fail: (what: string) => KiteError): unknown {
  const dim = dimOf(f);
  switch (f.data_type) {
    case 'FloatVector':
      return numbers(v, dim, fail);
    case 'Int8Vector':
      return Buffer.from(Int8Array.from(numbers(v, dim, fail, true)).buffer);
    case 'BinaryVector':
    case 'Float16Vector':
    case 'BFloat16Vector':
      return vectorBytes(f.data_type, v, dim, fail);
    case 'SparseFloatVector':
      return sparseBytes(v, fail);
    case 'Array': {
      if (!Array.isArray(v)) throw fail(`expected an array of ${f.element_type}`);
      const cap = Number(param(f, 'max_capacity') ?? Infinity);
      if (v.length > cap) throw fail(`the array has ${v.length} elements, more than the field's max_capacity ${cap}`);
      return { [MEMBER[f.element_type] ?? 'long_data']: { data: v.map((x) => scalar(f.element_type, x, fail)) } };
    }
    default:
      return scalar(f.data_type, v, fail);
  }
}

function column(f: SchemaField, values: unknown[], valid: boolean[]): object {
  const base = { type: f.data_type, field_name: f.name, valid_data: valid };
  const dim = dimOf(f);
  switch (f.data_type) {
    case 'FloatVector':
      return { ...base, vectors: { dim, float_vector: { data: (values as number[][]).flat() } } };
    case 'BinaryVector':
      return { ...base, vectors: { dim, binary_vector: Buffer.concat(values as Buffer[]) } };
    case 'Float16Vector':
      return { ...base, vectors: { dim, float16_vector: Buffer.concat(values as Buffer[]) } };
    case 'BFloat16Vector':
      return { ...base, vectors: { dim, bfloat16_vector: Buffer.concat(values as Buffer[]) } };
    case 'Int8Vector':
      return { ...base, vectors: { dim, int8_vector: Buffer.concat(values as Buffer[]) } };
    case 'SparseFloatVector': {
      const maxIndex = (values as Buffer[]).reduce((m, b) => (b.length ? Math.max(m, b.readUInt32LE(b.length - 8) + 1) : m), 0);
      return { ...base, vectors: { dim: maxIndex, sparse_float_vector: { dim: maxIndex, contents: values } } };
    }
    case 'Array':
      return { ...base, scalars: { array_data: { element_type: f.element_type, data: values } } };
    default:
      return { ...base, scalars: { [MEMBER[f.data_type] ?? 'string_data']: { data: values } } };
  }
}

/** Vectors of a search request (`data`) as a PlaceholderGroup's type and values for the field searched. */
export function queryVectors(f: SchemaField | undefined, data: unknown[], fail: (what: string) => KiteError): { type: string; values: Buffer[] } {
  const type = f?.data_type ?? 'FloatVector';
  const dim = f ? dimOf(f) : 0;
  switch (type) {
    case 'SparseFloatVector':
      return { type, values: data.map((v) => sparseBytes(v, fail)) };
    case 'BinaryVector':
    case 'Float16Vector':
    case 'BFloat16Vector':
      return { type, values: data.map((v) => vectorBytes(type, v, dim, fail)) };
    case 'Int8Vector':
      return { type, values: data.map((v) => Buffer.from(Int8Array.from(numbers(v, dim, fail, true)).buffer)) };
    case 'FloatVector':
      return { type, values: data.map((v) => Buffer.from(Float32Array.from(numbers(v, dim, fail)).buffer)) };
    default:
      // A text query for a BM25 function's sparse output is also given by field (VarChar input).
      return { type: 'VarChar', values: data.map((v) => Buffer.from(String(v), 'utf8')) };
  }
}

/** A decoded FieldData column's values, one per row (null where valid_data says absent). */
function columnValues(fd: Decoded, rows: number, int64AsText: boolean): unknown[] {
  const valid = (fd.valid_data as boolean[] | undefined) ?? [];
  const vec = fd.vectors as Record<string, unknown> | null | undefined;
  let values: unknown[];
  if (vec && vec.data) {
    const dim = Number(vec.dim);
    const kind = vec.data as string;
    if (kind === 'float_vector') {
      const d = (vec.float_vector as { data: number[] }).data;
      values = [];
      for (let i = 0; i + dim <= d.length && dim > 0; i += dim) values.push(d.slice(i, i + dim).map(f32));
    } else if (kind === 'sparse_float_vector') {
      values = (vec.sparse_float_vector as { contents: Buffer[] }).contents.map(sparseObject);
    } else {
      const bytes = vec[kind] as Buffer;
      const width = kind === 'binary_vector' ? dim / 8 : kind === 'int8_vector' ? dim : dim * 2;
      values = [];
      for (let i = 0; i + width <= bytes.length && width > 0; i += width) {
        const b = bytes.subarray(i, i + width);
        if (kind === 'binary_vector') values.push([...b]);
        else if (kind === 'int8_vector') values.push([...new Int8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length))]);
        else {
          const xs: number[] = [];
          for (let k = 0; k < b.length; k += 2) xs.push(f32(kind === 'float16_vector' ? fromHalf(b.readUInt16LE(k)) : fromBfloat(b.readUInt16LE(k))));
          values.push(xs);
        }
      }
    }
    // Vectors hold the valid rows only.
    if (valid.length) {
      let k = 0;
      return valid.map((ok) => (ok ? values[k++] : null));
    }
    return values;
  }
  values = scalarValues(fd.scalars as Decoded | null | undefined, int64AsText);
  if (valid.length) return valid.map((ok, i) => (ok ? values[i] : null));
  return values.length ? values : new Array<unknown>(rows).fill(null);
}

function scalarValues(s: Decoded | null | undefined, int64AsText: boolean): unknown[] {
  if (!s || !s.data) return [];
  const kind = s.data as string;
  const data = (s[kind] as { data: unknown[] }).data;
  switch (kind) {
    case 'long_data':
    case 'timestamptz_data':
      return (data as string[]).map((x) => (int64AsText ? x : Number(x)));
    case 'json_data':
      return (data as Buffer[]).map((b) => (b.length ? (JSON.parse(b.toString('utf8')) as unknown) : null));
    case 'array_data':
      return (data as Decoded[]).map((cell) => scalarValues(cell, int64AsText));
    case 'float_data':
      return (data as number[]).map(f32);
    case 'bytes_data':
    case 'geometry_data':
      return (data as Buffer[]).map((b) => b.toString('base64'));
    default:
      return data;
  }
}

/**
 * Rows of decoded result columns: one object per row with every column by name, the dynamic field's keys spread
 * into the row (only `dynamicKeys` of them when given). Int64 values are numbers, or decimal strings with
 * `int64AsText` (exact beyond 2^53).
 */
export function columnsToRows(columns: Decoded[], rows: number, int64AsText: boolean, dynamicKeys?: ReadonlySet<string>): Record<string, unknown>[] {
  const out = Array.from({ length: rows }, () => ({}) as Record<string, unknown>);
  for (const fd of columns) {
    const name = fd.field_name as string;
    const values = columnValues(fd, rows, int64AsText);
    if (fd.is_dynamic) {
      values.forEach((v, i) => {
        if (typeof v !== 'object' || v === null || !out[i]) return;
        for (const [k, x] of Object.entries(v)) if (!dynamicKeys || dynamicKeys.has(k)) out[i]![k] = x;
      });
    } else values.forEach((v, i) => out[i] && (out[i]![name] = v));
  }
  return out;
}

/** Rows in a decoded column (the longest member, or valid_data's length). */
export function rowCount(columns: Decoded[]): number {
  let n = 0;
  for (const fd of columns) n = Math.max(n, columnValues(fd, 0, true).length);
  return n;
}
