import { KiteError, clip } from '@kite/common';
import {
  META, PARTITION, PK, TS, fieldDataToColumn, keyIndex, keyPartitions, partitionKeyField, sparseRowBytes,
  type CollectionMeta, type Column, type ColumnBatch, type FieldMeta, type WireArrayRow, type WireFieldData,
} from '@kite/segment';

/**
 * Rows of bulk import files (as pymilvus's BulkWriter writes them: JSON `{"rows": [...]}` with JSON fields as
 * values, or Parquet with vectors and arrays as list columns and JSON fields as text; the dynamic field's keys under
 * `$meta`, or, in JSON, as keys of the row the schema does not have) turned into Kite columns. Every value is checked
 * against the schema with the rules of Insert (`fieldDataToColumn`); the first bad one fails the whole import with a
 * message naming the file, the row (0-based, in that file) and the field.
 */

export type FileRow = Record<string, unknown>;

const badRow = (file: string, row: number, field: string, msg: string): KiteError =>
  new KiteError('ParameterInvalid', `import file "${clip(file, 200)}", row ${row}, field "${clip(field, 128)}": ${msg}`);

const show = (v: unknown): string => {
  if (typeof v === 'bigint') return v.toString();
  try {
    return clip(JSON.stringify(v) ?? String(v), 60);
  } catch {
    return clip(String(v), 60);
  }
};

const isList = (v: unknown): v is ArrayLike<unknown> => Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));

/** The elements of a list value (arrays or typed arrays, as JSON and Parquet readers give them). */
const listOf = (v: ArrayLike<unknown>): unknown[] => (Array.isArray(v) ? v : Array.from(v as ArrayLike<unknown>));

/** A number from a JSON number or a Parquet int64 (bigint); undefined when it is neither. */
function numberOf(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return undefined;
}

/** What a field's value must be; returns the wire value or throws naming the row. */
type Converter = (v: unknown, row: number) => unknown;

function converter(file: string, f: FieldMeta): Converter {
  const fail = (row: number, msg: string): never => {
    throw badRow(file, row, f.name, msg);
  };
  const dim = Number(f.typeParams.dim ?? 0);
  switch (f.dataType) {
    case 'Bool':
      return (v, row) => (typeof v === 'boolean' ? v : fail(row, `expected a boolean, got ${show(v)}`));
    case 'Int8':
    case 'Int16':
    case 'Int32':
    case 'Float':
    case 'Double':
      return (v, row) => {
        const n = numberOf(v);
        if (n === undefined) return fail(row, `expected a number (${f.dataType}), got ${show(v)}`);
        if (f.dataType.startsWith('Int') && !Number.isInteger(n)) return fail(row, `expected an integer (${f.dataType}), got ${show(v)}`);
        return n;
      };
    case 'Int64':
      return (v, row) => {
        if (typeof v === 'bigint') return v.toString();
        if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
        if (typeof v === 'string' && /^-?\d+$/.test(v)) return v;
        return fail(row, `expected an integer (Int64), got ${show(v)}`);
      };
    case 'VarChar':
      return (v, row) => (typeof v === 'string' ? v : fail(row, `expected a string (VarChar), got ${show(v)}`));
    case 'JSON':
      // Parquet carries JSON values as text; a JSON file has them as values (a string there is JSON text too, as
      // Milvus reads it).
      return (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? Number(x) : x)));
    case 'Array':
      return (v, row) => {
        if (!isList(v)) return fail(row, `expected a list (Array of ${f.elementType ?? '?'}), got ${show(v)}`);
        const items = listOf(v);
        const t = f.elementType;
        const out: WireArrayRow = {};
        if (t === 'Bool') {
          if (!items.every((x) => typeof x === 'boolean')) return fail(row, `expected a list of booleans, got ${show(v)}`);
          out.bool_data = { data: items as boolean[] };
        } else if (t === 'VarChar') {
          if (!items.every((x) => typeof x === 'string')) return fail(row, `expected a list of strings, got ${show(v)}`);
          out.string_data = { data: items as string[] };
        } else if (t === 'Int64') {
          const d = items.map((x) => (typeof x === 'bigint' ? x.toString() : typeof x === 'number' && Number.isSafeInteger(x) ? String(x) : undefined));
          if (d.some((x) => x === undefined)) return fail(row, `expected a list of integers, got ${show(v)}`);
          out.long_data = { data: d as string[] };
        } else {
          const d = items.map(numberOf);
          if (d.some((x) => x === undefined)) return fail(row, `expected a list of numbers (${t ?? '?'}), got ${show(v)}`);
          const key = t === 'Float' ? 'float_data' : t === 'Double' ? 'double_data' : 'int_data';
          out[key] = { data: d as number[] };
        }
        return out;
      };
    case 'FloatVector':
      return (v, row) => {
        if (!isList(v)) return fail(row, `expected a list of ${dim} numbers (FloatVector), got ${show(v)}`);
        if (v.length !== dim) return fail(row, `the vector has ${v.length} values but the field's dim is ${dim}`);
        const d = listOf(v).map(numberOf);
        if (d.some((x) => x === undefined || !Number.isFinite(x))) return fail(row, 'vector values must be finite numbers');
        return d;
      };
    case 'BinaryVector':
    case 'Int8Vector':
      return (v, row) => {
        const bytes = f.dataType === 'BinaryVector' ? dim / 8 : dim;
        if (!isList(v)) return fail(row, `expected a list of ${bytes} integers (${f.dataType}), got ${show(v)}`);
        if (v.length !== bytes) return fail(row, `the vector has ${v.length} values but dim ${dim} needs ${bytes}`);
        const [lo, hi] = f.dataType === 'BinaryVector' ? [0, 255] : [-128, 127];
        const d = listOf(v).map(numberOf);
        if (d.some((x) => x === undefined || !Number.isInteger(x) || x < lo || x > hi)) return fail(row, `every value must be an integer in [${lo}, ${hi}]`);
        return Buffer.from(Int8Array.from(d as number[]).buffer);
      };
    case 'SparseFloatVector':
      return (v, row) => {
        // {"indices": [...], "values": [...]} or {"<index>": value, ...}; Parquet writes either as JSON text.
        let o: unknown = v;
        if (typeof v === 'string') {
          try {
            o = JSON.parse(v) as unknown;
          } catch {
            return fail(row, 'expected a sparse vector as JSON text, got text that is not JSON');
          }
        }
        if (o === null || typeof o !== 'object' || Array.isArray(o)) return fail(row, `expected a sparse vector ({"indices": [...], "values": [...]} or {"<index>": value}), got ${show(v)}`);
        const rec = o as Record<string, unknown>;
        let idx: number[];
        let vals: number[];
        if (isList(rec.indices) && isList(rec.values)) {
          idx = listOf(rec.indices).map((x) => numberOf(x) ?? NaN);
          vals = listOf(rec.values).map((x) => numberOf(x) ?? NaN);
        } else {
          idx = Object.keys(rec).map(Number);
          vals = Object.values(rec).map((x) => numberOf(x) ?? NaN);
        }
        if (idx.length !== vals.length) return fail(row, 'a sparse vector needs as many indices as values');
        const order = idx.map((_, i) => i).sort((a, b) => idx[a]! - idx[b]!);
        if (idx.some((x) => !Number.isInteger(x) || x < 0 || x > 2 ** 32 - 2) || vals.some((x) => !Number.isFinite(x))) {
          return fail(row, 'sparse indices must be integers in [0, 2^32 - 2] and values finite numbers');
        }
        return sparseRowBytes({ indices: Uint32Array.from(order, (i) => idx[i]!), values: Float32Array.from(order, (i) => vals[i]!) });
      };
    case 'Float16Vector':
    case 'BFloat16Vector':
      throw new KiteError('ParameterInvalid', `field "${f.name}" is a ${f.dataType}: bulk import does not read ${f.dataType} fields yet; insert these rows with Insert`);
  }
}

/** The wire FieldData of one field over `values` (one per row; `undefined` = NULL). */
function wireOf(f: FieldMeta, values: unknown[], valid: boolean[] | undefined): WireFieldData {
  const fd: WireFieldData = { type: f.dataType, field_name: f.name, ...(valid ? { valid_data: valid } : {}) };
  // NULL rows hold a placeholder of the right type (fieldDataToColumn takes one value per row with valid_data).
  const fill = <T>(zero: T): T[] => values.map((v) => (v === undefined ? zero : (v as T)));
  const dim = Number(f.typeParams.dim ?? 0);
  switch (f.dataType) {
    case 'Bool':
      return { ...fd, scalars: { data: 'bool_data', bool_data: { data: fill(false) } } };
    case 'Int8':
    case 'Int16':
    case 'Int32':
      return { ...fd, scalars: { data: 'int_data', int_data: { data: fill(0) } } };
    case 'Int64':
      return { ...fd, scalars: { data: 'long_data', long_data: { data: fill('0') } } };
    case 'Float':
      return { ...fd, scalars: { data: 'float_data', float_data: { data: fill(0) } } };
    case 'Double':
      return { ...fd, scalars: { data: 'double_data', double_data: { data: fill(0) } } };
    case 'VarChar':
      return { ...fd, scalars: { data: 'string_data', string_data: { data: fill('') } } };
    case 'JSON':
      return { ...fd, scalars: { data: 'json_data', json_data: { data: fill(Buffer.from('null')) } } };
    case 'Array':
      return { ...fd, scalars: { data: 'array_data', array_data: { element_type: f.elementType, data: fill<WireArrayRow>({}) } } };
    case 'FloatVector':
      return { ...fd, vectors: { dim, float_vector: { data: (values as number[][]).flat() } } };
    case 'BinaryVector':
      return { ...fd, vectors: { dim, binary_vector: Buffer.concat(values as Buffer[]) } };
    case 'Int8Vector':
      return { ...fd, vectors: { dim, int8_vector: Buffer.concat(values as Buffer[]) } };
    case 'SparseFloatVector':
      return { ...fd, vectors: { sparse_float_vector: { contents: values as Buffer[] } } };
    default:
      throw new KiteError('ParameterInvalid', `field "${f.name}" is a ${f.dataType}: bulk import does not read it`);
  }
}

export interface ChunkContext {
  collection: CollectionMeta;
  file: string;
  /** Row number (in the file) of the chunk's first row. */
  firstRow: number;
  /** The partition rows go to when the collection has no partition key. */
  partitionID: number;
  ts: bigint;
  /** Allocates `count` primary keys for an auto-ID collection; returns the first. */
  allocIds(count: number): Promise<number>;
}

/** Fields the files carry: all but an auto-ID primary key and the dynamic field (read from `$meta` and extra keys). */
function fileFields(c: CollectionMeta): FieldMeta[] {
  return c.fields.filter((f) => !f.isDynamic && !(f.isPrimaryKey && f.autoID));
}

/**
 * Converts one chunk of a file's rows into a column batch ($pk, $ts, $partition, the fields, $meta), checking every
 * value; `ids` receives the auto ids assigned as [first, last] pairs.
 */
export async function rowsToBatch(rows: readonly FileRow[], x: ChunkContext, ids: number[]): Promise<ColumnBatch> {
  const c = x.collection;
  const n = rows.length;
  const fields = fileFields(c);
  const known = new Set(c.fields.map((f) => f.name));
  const pkf = c.fields.find((f) => f.isPrimaryKey)!;
  const dynamic = c.enableDynamicField;
  const columns = new Map<string, Column>();
  const metas: unknown[] = dynamic ? new Array<unknown>(n) : [];
  for (let r = 0; r < n; r++) {
    const row = rows[r]!;
    if (row === null || typeof row !== 'object' || Array.isArray(row)) throw badRow(x.file, x.firstRow + r, '(row)', `a row must be an object of field values, got ${show(row)}`);
    if (pkf.autoID && row[pkf.name] !== undefined) {
      throw badRow(x.file, x.firstRow + r, pkf.name, 'the primary key is auto-ID: leave it out of the file, Kite assigns it');
    }
    let extra: Record<string, unknown> | undefined;
    for (const k of Object.keys(row)) {
      if (known.has(k) || k === META) continue;
      if (!dynamic) throw badRow(x.file, x.firstRow + r, k, `collection ${c.name} has no such field and its dynamic field is disabled; remove the key or enable the dynamic field`);
      (extra ??= {})[k] = row[k];
    }
    if (dynamic) {
      let meta: unknown = row[META] ?? {};
      if (typeof meta === 'string') {
        try {
          meta = JSON.parse(meta) as unknown;
        } catch {
          throw badRow(x.file, x.firstRow + r, META, 'the dynamic field ($meta) is text that is not JSON');
        }
      }
      if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw badRow(x.file, x.firstRow + r, META, `the dynamic field ($meta) must be a JSON object, got ${show(meta)}`);
      metas[r] = extra ? { ...(meta as object), ...extra } : meta;
    } else if (row[META] !== undefined) {
      throw badRow(x.file, x.firstRow + r, META, `collection ${c.name} has no dynamic field; remove $meta`);
    }
  }
  for (const f of fields) {
    const conv = converter(x.file, f);
    const values = new Array<unknown>(n);
    let valid: boolean[] | undefined;
    for (let r = 0; r < n; r++) {
      const v = rows[r]![f.name];
      if (v === undefined || v === null) {
        if (!f.nullable && f.defaultValue === undefined) {
          throw badRow(x.file, x.firstRow + r, f.name, v === null ? 'the value is null, but the field is not nullable and has no default value' : 'the field is missing: every row needs a value for it');
        }
        valid ??= new Array<boolean>(n).fill(true);
        valid[r] = false;
        values[r] = undefined;
        continue;
      }
      values[r] = conv(v, x.firstRow + r);
    }
    columns.set(f.name, columnOf(f, values, valid, x));
  }
  const metaField = c.fields.find((f) => f.isDynamic);
  if (metaField) {
    columns.set(META, columnOf(metaField, metas.map((m) => Buffer.from(JSON.stringify(m, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v)))), undefined, x));
  }
  let pk: Column;
  if (pkf.autoID) {
    const start = await x.allocIds(n);
    const data = new BigInt64Array(n);
    for (let i = 0; i < n; i++) data[i] = BigInt(start + i);
    pk = { kind: 'int64', data };
    columns.set(pkf.name, pk);
    ids.push(start, start + n - 1);
  } else {
    pk = columns.get(pkf.name)!;
    if (pk.kind === 'string') {
      const at = pk.data.indexOf('');
      if (at >= 0) throw badRow(x.file, x.firstRow + at, pkf.name, 'the primary key must not be empty');
    }
  }
  columns.set(PK, pk);
  columns.set(TS, { kind: 'int64', data: new BigInt64Array(n).fill(x.ts) });
  columns.set(PARTITION, partitionColumn(c, columns, n, x));
  return { numRows: n, columns };
}

/**
 * The column of one field, by Insert's rules; an error there (a value out of range, too long...) is found again
 * row by row so that the message names the row.
 */
function columnOf(f: FieldMeta, values: unknown[], valid: boolean[] | undefined, x: ChunkContext): Column {
  try {
    return fieldDataToColumn(wireOf(f, values, valid), f, values.length);
  } catch (e) {
    if (!(e instanceof KiteError)) throw e;
    for (let r = 0; r < values.length; r++) {
      try {
        fieldDataToColumn(wireOf(f, [values[r]], valid ? [valid[r]!] : undefined), f, 1);
      } catch (one) {
        if (one instanceof KiteError) throw badRow(x.file, x.firstRow + r, f.name, one.message.replace(/^field "[^"]*": /, '').replace(/row 0 /, ''));
        throw one;
      }
    }
    throw new KiteError('ParameterInvalid', `import file "${clip(x.file, 200)}", rows ${x.firstRow}..${x.firstRow + values.length - 1}: ${e.message}`);
  }
}

function partitionColumn(c: CollectionMeta, columns: Map<string, Column>, n: number, x: ChunkContext): Column {
  const key = partitionKeyField(c);
  if (!key) return { kind: 'int64', data: new BigInt64Array(n).fill(BigInt(x.partitionID)) };
  const parts = keyPartitions(c);
  const col = columns.get(key.name);
  const out = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    const v = col?.kind === 'int64' ? col.data[i]! : col?.kind === 'string' ? col.data[i]! : undefined;
    if (v === undefined) throw badRow(x.file, x.firstRow + i, key.name, 'the partition key is missing: every row needs a value for it');
    out[i] = BigInt(parts[keyIndex(v, parts.length)]!.partitionID);
  }
  return { kind: 'int64', data: out };
}
