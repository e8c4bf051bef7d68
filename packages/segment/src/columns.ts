import { elementBytes, type PackedType } from './halfvec';

/**
 * Columnar row batches: the one in-memory shape of rows in Kite. WAL insert messages, growing segments and sealed
 * segment files all hold a ColumnBatch; the expression evaluator reads the same columns.
 */

/**
 * Scalar columns of nullable fields carry `valid`: one byte per row, 0 where the row holds NULL (the data slot then
 * holds a placeholder: 0, '' or undefined). Absent `valid` means every row holds a value.
 */
export type Column =
  | { kind: 'bool'; data: Uint8Array; valid?: Uint8Array }
  | { kind: 'int'; data: Int32Array; valid?: Uint8Array }
  | { kind: 'int64'; data: BigInt64Array; valid?: Uint8Array }
  | { kind: 'float'; data: Float32Array | Float64Array; valid?: Uint8Array }
  | { kind: 'string'; data: string[]; valid?: Uint8Array }
  | { kind: 'json'; data: unknown[]; valid?: Uint8Array }
  | { kind: 'vector'; dim: number; data: Float32Array }
  /**
   * Float16Vector / BFloat16Vector / Int8Vector: the values as sent, dim elements a row of elementBytes(type) bytes each
   * (2 little-endian bytes for the half-precision types, 1 for Int8Vector).
   */
  | { kind: 'packed'; type: PackedType; dim: number; data: Uint8Array }
  /** BinaryVector: dim bits a row, packed 8 to a byte as the SDKs send them (dim a multiple of 8). */
  | { kind: 'binary'; dim: number; data: Uint8Array }
  | { kind: 'sparse'; data: SparseRow[] }
  /**
   * Array fields: row i holds elements values[offsets[i] .. offsets[i + 1]) of one flat column of the element type
   * (n + 1 offsets for n rows, offsets[0] = 0). `elem` is the field's element type (Int8 and Int32 elements share
   * the 'int' kind, Float and Double the 'float' kind with 32- and 64-bit data).
   */
  | { kind: 'array'; elem: ArrayElementType; offsets: Uint32Array; values: ScalarColumn };

/** The element types of an Array field. */
export type ArrayElementType = 'Bool' | 'Int8' | 'Int16' | 'Int32' | 'Int64' | 'Float' | 'Double' | 'VarChar';

/** The column kinds an Array field's elements are kept in. */
export type ScalarColumn = Extract<Column, { kind: 'bool' | 'int' | 'int64' | 'float' | 'string' }>;

/**
 * One sparse vector: its non-zero entries, indices ascending and unique (an empty row is allowed). As Milvus defines
 * it, an index is a uint32 below 2^32 - 1 and a value a finite float32.
 */
export interface SparseRow {
  indices: Uint32Array;
  values: Float32Array;
}

/** Reserved column names. Every stored row has a primary key, a timestamp and a partition. */
export const PK = '$pk';
export const TS = '$ts';
export const PARTITION = '$partition';
/** The dynamic field's column. */
export const META = '$meta';

export interface ColumnBatch {
  numRows: number;
  columns: Map<string, Column>;
}

export function columnLength(c: Column): number {
  if (c.kind === 'vector') return c.data.length / c.dim;
  if (c.kind === 'packed') return c.data.length / (elementBytes(c.type) * c.dim);
  if (c.kind === 'binary') return c.data.length / (c.dim / 8);
  if (c.kind === 'array') return c.offsets.length - 1;
  return c.data.length;
}

/** Picks rows `idx` (in that order) of a column, with their validity. */
export function takeColumn(c: Column, idx: ArrayLike<number>): Column {
  const out = takeValues(c, idx);
  const valid = validOf(c);
  if (valid !== undefined) {
    const v = new Uint8Array(idx.length);
    for (let i = 0; i < idx.length; i++) v[i] = valid[idx[i]!]!;
    (out as { valid?: Uint8Array }).valid = v;
  }
  return out;
}

function takeValues(c: Column, idx: ArrayLike<number>): Column {
  const n = idx.length;
  switch (c.kind) {
    case 'bool': {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = c.data[idx[i]!]!;
      return { kind: 'bool', data: out };
    }
    case 'int': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = c.data[idx[i]!]!;
      return { kind: 'int', data: out };
    }
    case 'int64': {
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) out[i] = c.data[idx[i]!]!;
      return { kind: 'int64', data: out };
    }
    case 'float': {
      const out = c.data instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = c.data[idx[i]!]!;
      return { kind: 'float', data: out };
    }
    case 'string': {
      const out = new Array<string>(n);
      for (let i = 0; i < n; i++) out[i] = c.data[idx[i]!]!;
      return { kind: 'string', data: out };
    }
    case 'json': {
      const out = new Array<unknown>(n);
      for (let i = 0; i < n; i++) out[i] = c.data[idx[i]!];
      return { kind: 'json', data: out };
    }
    case 'sparse': {
      const out = new Array<SparseRow>(n);
      for (let i = 0; i < n; i++) out[i] = c.data[idx[i]!]!;
      return { kind: 'sparse', data: out };
    }
    case 'vector': {
      const out = new Float32Array(n * c.dim);
      for (let i = 0; i < n; i++) out.set(c.data.subarray(idx[i]! * c.dim, (idx[i]! + 1) * c.dim), i * c.dim);
      return { kind: 'vector', dim: c.dim, data: out };
    }
    case 'packed': {
      const w = elementBytes(c.type) * c.dim;
      const out = new Uint8Array(n * w);
      for (let i = 0; i < n; i++) out.set(c.data.subarray(idx[i]! * w, (idx[i]! + 1) * w), i * w);
      return { kind: 'packed', type: c.type, dim: c.dim, data: out };
    }
    case 'binary': {
      const w = c.dim / 8;
      const out = new Uint8Array(n * w);
      for (let i = 0; i < n; i++) out.set(c.data.subarray(idx[i]! * w, (idx[i]! + 1) * w), i * w);
      return { kind: 'binary', dim: c.dim, data: out };
    }
    case 'array': {
      const offsets = new Uint32Array(n + 1);
      for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i]! + c.offsets[idx[i]! + 1]! - c.offsets[idx[i]!]!;
      const flat = new Uint32Array(offsets[n]!);
      let o = 0;
      for (let i = 0; i < n; i++) for (let j = c.offsets[idx[i]!]!, end = c.offsets[idx[i]! + 1]!; j < end; j++) flat[o++] = j;
      return { kind: 'array', elem: c.elem, offsets, values: takeColumn(c.values, flat) as ScalarColumn };
    }
  }
}

export function takeBatch(b: ColumnBatch, idx: ArrayLike<number>): ColumnBatch {
  const columns = new Map<string, Column>();
  for (const [name, c] of b.columns) columns.set(name, takeColumn(c, idx));
  return { numRows: idx.length, columns };
}

/** Concatenates columns of the same kind, with their validity (rows of a column without it are valid). */
export function concatColumns(cs: Column[]): Column {
  const first = cs[0];
  if (!first) throw new Error('concatColumns needs at least one column');
  if (cs.length === 1) return first;
  const out = concatValues(cs);
  if (cs.some((c) => validOf(c) !== undefined)) {
    const valid = new Uint8Array(columnLength(out));
    let o = 0;
    for (const c of cs) {
      const v = validOf(c);
      const len = columnLength(c);
      if (v === undefined) valid.fill(1, o, o + len);
      else valid.set(v, o);
      o += len;
    }
    (out as { valid?: Uint8Array }).valid = valid;
  }
  return out;
}

/** A column's validity bytes (undefined: every row valid). */
export function validOf(c: Column): Uint8Array | undefined {
  return 'valid' in c ? c.valid : undefined;
}

/**
 * An all-NULL column of `n` rows shaped like `like` (same kind, width, dim): what a batch written before a field was
 * added holds for it. Vector kinds cannot be NULL and are refused.
 */
export function nullColumnLike(like: Column, n: number): Column {
  const valid = new Uint8Array(n);
  switch (like.kind) {
    case 'bool':
      return { kind: 'bool', data: new Uint8Array(n), valid };
    case 'int':
      return { kind: 'int', data: new Int32Array(n), valid };
    case 'int64':
      return { kind: 'int64', data: new BigInt64Array(n), valid };
    case 'float':
      return { kind: 'float', data: like.data instanceof Float32Array ? new Float32Array(n) : new Float64Array(n), valid };
    case 'string':
      return { kind: 'string', data: new Array<string>(n).fill(''), valid };
    case 'json':
      return { kind: 'json', data: new Array<unknown>(n).fill(undefined), valid };
    default:
      throw new Error(`a ${like.kind} column cannot be NULL`);
  }
}

function concatValues(cs: Column[]): Column {
  const first = cs[0]!;
  const total = cs.reduce((s, c) => s + columnLength(c), 0);
  const copyTyped = <T extends { set(a: ArrayLike<number | bigint>, o: number): void }>(out: T): T => {
    let o = 0;
    for (const c of cs) {
      if (c.kind === 'array') continue;
      out.set(c.data as unknown as ArrayLike<number | bigint>, o);
      o += c.data.length;
    }
    return out;
  };
  switch (first.kind) {
    case 'bool':
      return { kind: 'bool', data: copyTyped(new Uint8Array(total)) };
    case 'int':
      return { kind: 'int', data: copyTyped(new Int32Array(total)) };
    case 'int64':
      return { kind: 'int64', data: copyTyped(new BigInt64Array(total) as never) };
    case 'float':
      return {
        kind: 'float',
        data: copyTyped(first.data instanceof Float32Array ? new Float32Array(total) : new Float64Array(total)),
      };
    case 'string':
      return { kind: 'string', data: cs.flatMap((c) => (c as { data: string[] }).data) };
    case 'json':
      return { kind: 'json', data: cs.flatMap((c) => (c as { data: unknown[] }).data) };
    case 'sparse':
      return { kind: 'sparse', data: cs.flatMap((c) => (c as { data: SparseRow[] }).data) };
    case 'vector':
      return { kind: 'vector', dim: first.dim, data: copyTyped(new Float32Array(total * first.dim)) };
    case 'packed':
      return { kind: 'packed', type: first.type, dim: first.dim, data: copyTyped(new Uint8Array(total * elementBytes(first.type) * first.dim)) };
    case 'binary':
      return { kind: 'binary', dim: first.dim, data: copyTyped(new Uint8Array((total * first.dim) / 8)) };
    case 'array': {
      const arrays = cs as Extract<Column, { kind: 'array' }>[];
      const offsets = new Uint32Array(total + 1);
      let row = 0;
      for (const c of arrays) {
        const base = offsets[row]!;
        for (let i = 1; i < c.offsets.length; i++) offsets[row + i] = base + c.offsets[i]!;
        row += c.offsets.length - 1;
      }
      return { kind: 'array', elem: first.elem, offsets, values: concatColumns(arrays.map((c) => c.values)) as ScalarColumn };
    }
  }
}

/**
 * Concatenates batches. A column some batches lack (a field added to the collection after they were written) is
 * NULL in their rows.
 */
export function concatBatches(bs: ColumnBatch[]): ColumnBatch {
  if (bs.length === 1) return bs[0]!;
  const numRows = bs.reduce((s, b) => s + b.numRows, 0);
  const columns = new Map<string, Column>();
  const first = bs[0];
  if (!first) return { numRows: 0, columns };
  const like = new Map<string, Column>();
  for (const b of bs) for (const [name, c] of b.columns) if (!like.has(name)) like.set(name, c);
  for (const [name, template] of like) {
    columns.set(
      name,
      concatColumns(
        bs.map((b) => {
          const c = b.columns.get(name);
          if (c) return c;
          if (b.numRows === 0) return takeColumn(template, []);
          return nullColumnLike(template, b.numRows);
        }),
      ),
    );
  }
  return { numRows, columns };
}

/** The primary key of row i as a bigint or string. */
export function pkAt(c: Column, i: number): bigint | string {
  if (c.kind === 'int64') return c.data[i]!;
  if (c.kind === 'string') return c.data[i]!;
  throw new Error(`primary key column has kind ${c.kind}`);
}
