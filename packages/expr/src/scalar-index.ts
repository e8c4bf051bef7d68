/**
 * A scalar index over one column (what INVERTED, STL_SORT, Trie and BITMAP indexes are built as): the column's
 * distinct values in ascending order and, per value, the rows holding it (row ids grouped by value, ascending in
 * each group). Predicates on the column (comparisons with a constant, `in`, `like 'prefix%'`) are answered by
 * binary search over the distinct values and by reading the postings of the matching ones, instead of a scan. NULL rows are in no posting.
 *
 * The answer is always the scan's: the candidate distinct values are found by binary search with the scan's own
 * comparison (compiled from the same IR), and the predicate is then evaluated by the scan's code over those distinct
 * values only. NaN (unordered) values are kept aside and tested on their own. NULL rows are not indexed; the caller masks
 * the result with the column's validity, exactly as the scan does, so a NULL row is neither true nor false.
 */
import type { PathKey } from './ir';
import type { Column } from './types';
import { walkPath, wrapAtPath } from './values';

/** Cast types of a JSON path index (json-index.ts). */
export type JsonIndexCast = 'BOOL' | 'DOUBLE' | 'VARCHAR';

/**
 * What a JSON path index adds: the path and cast type, and the rows whose value at the path is an integer a double
 * cannot hold exactly (tested one by one with their exact value, so the index answers as the scan does).
 */
export interface JsonIndexInfo {
  path: PathKey[];
  cast: JsonIndexCast;
  looseRows: Uint32Array;
  looseValues: bigint[];
}

/** Column kinds a scalar index can be built over. */
export type ScalarIndexKind = 'bool' | 'int' | 'int64' | 'float' | 'string';

type Dict = Uint8Array | Int32Array | BigInt64Array | Float64Array | string[];

const MAGIC = 0x4b534958; // "KSIX"
const VERSION = 1;

export class ScalarIndex {
  private constructor(
    readonly kind: ScalarIndexKind,
    readonly numRows: number,
    /** Distinct values, ascending (NaN excluded). */
    readonly values: Dict,
    /** Postings of value i: rows[offsets[i] .. offsets[i + 1]). */
    readonly offsets: Uint32Array,
    readonly rows: Uint32Array,
    /** Rows holding NaN (float columns only). */
    readonly nanRows: Uint32Array,
    /** Set on a JSON path index: its rows are those whose value at the path has the cast type (not all rows). */
    readonly json?: JsonIndexInfo,
  ) {}

  /**
   * The index of the values at `path` of a JSON column cast to `cast`: rows where the path is missing, the row is
   * NULL or the value has another type are left out (no posting). DOUBLE takes JSON numbers (integers too; one a
   * double cannot hold exactly is kept aside with its exact value), VARCHAR strings, BOOL booleans.
   */
  static buildJsonPath(col: Column, path: PathKey[], cast: JsonIndexCast): ScalarIndex {
    if (col.kind !== 'json') throw new Error('a JSON path index is built over a JSON column');
    const n = col.data.length;
    const present: number[] = [];
    const nums: number[] = [];
    const strs: string[] = [];
    const looseRows: number[] = [];
    const looseValues: bigint[] = [];
    for (let r = 0; r < n; r++) {
      if (col.valid !== undefined && col.valid[r] === 0) continue;
      const v = walkPath(col.data[r], path);
      if (cast === 'DOUBLE') {
        if (typeof v === 'number') nums.push(v);
        else if (typeof v === 'bigint') {
          if (BigInt(Number(v)) !== v) {
            looseRows.push(r);
            looseValues.push(v);
            continue;
          }
          nums.push(Number(v));
        } else continue;
      } else if (cast === 'VARCHAR') {
        if (typeof v !== 'string') continue;
        strs.push(v);
      } else {
        if (typeof v !== 'boolean') continue;
        nums.push(v ? 1 : 0);
      }
      present.push(r);
    }
    const compact: Column =
      cast === 'DOUBLE' ? { kind: 'float', data: Float64Array.from(nums) } : cast === 'VARCHAR' ? { kind: 'string', data: strs } : { kind: 'bool', data: Uint8Array.from(nums) };
    const inner = ScalarIndex.build(compact);
    const rows = inner.rows.map((i) => present[i] as number);
    return new ScalarIndex(inner.kind, n, inner.values, inner.offsets, rows, new Uint32Array(0), { path, cast, looseRows: Uint32Array.from(looseRows), looseValues });
  }

  get distinct(): number {
    return this.offsets.length - 1;
  }

  /** Builds the index over a column's rows. Throws on a column kind it cannot index (vector, JSON). */
  static build(col: Column): ScalarIndex {
    const n = col.data.length;
    if (col.kind === 'json') throw new Error('a scalar index cannot be built over a JSON column');
    const order: number[] = [];
    const nan: number[] = [];
    // NULL rows are left out, as Milvus builds indexes on nullable fields: no posting holds them.
    const valid = col.valid;
    if (col.kind === 'float') {
      for (let i = 0; i < n; i++) if (valid === undefined || valid[i] !== 0) (Number.isNaN(col.data[i] as number) ? nan : order).push(i);
    } else for (let i = 0; i < n; i++) if (valid === undefined || valid[i] !== 0) order.push(i);
    const data = col.data as ArrayLike<number | bigint | string>;
    // Stable: rows of one value stay ascending.
    order.sort((a, b) => {
      const x = data[a] as number | bigint | string;
      const y = data[b] as number | bigint | string;
      return x < y ? -1 : x > y ? 1 : a - b;
    });
    const offsets: number[] = [];
    const vals: (number | bigint | string)[] = [];
    for (let k = 0; k < order.length; k++) {
      const v = data[order[k] as number] as number | bigint | string;
      if (k === 0 || vals[vals.length - 1] !== v) {
        // -0 and 0 compare equal: one group, as the scan treats them alike.
        if (!(k > 0 && typeof v === 'number' && (vals[vals.length - 1] as number) === v)) {
          vals.push(v);
          offsets.push(k);
        }
      }
    }
    offsets.push(order.length);
    let values: Dict;
    switch (col.kind) {
      case 'bool':
        values = Uint8Array.from(vals as number[]);
        break;
      case 'int':
        values = Int32Array.from(vals as number[]);
        break;
      case 'int64':
        values = BigInt64Array.from(vals as bigint[]);
        break;
      case 'float':
        values = Float64Array.from(vals as number[]);
        break;
      case 'string':
        values = vals as string[];
        break;
    }
    return new ScalarIndex(col.kind, n, values, Uint32Array.from(offsets), Uint32Array.from(order), Uint32Array.from(nan));
  }

  /**
   * The distinct values [lo, hi) as a column of the indexed kind (the scan's code evaluates predicates on it); for a
   * JSON path index, JSON documents holding each value at the path.
   */
  dictColumn(lo: number, hi: number): Column {
    const json = this.json;
    if (json !== undefined) {
      const data: unknown[] = [];
      for (let i = lo; i < hi; i++) {
        const v = this.values[i] as number | string;
        data.push(wrapAtPath(json.path, json.cast === 'BOOL' ? v === 1 : v));
      }
      return { kind: 'json', data };
    }
    switch (this.kind) {
      case 'bool':
        return { kind: 'bool', data: (this.values as Uint8Array).subarray(lo, hi) };
      case 'int':
        return { kind: 'int', data: (this.values as Int32Array).subarray(lo, hi) };
      case 'int64':
        return { kind: 'int64', data: (this.values as BigInt64Array).subarray(lo, hi) };
      case 'float':
        return { kind: 'float', data: (this.values as Float64Array).subarray(lo, hi) };
      case 'string':
        return { kind: 'string', data: (this.values as string[]).slice(lo, hi) };
    }
  }

  /** The distinct values at the given positions, as dictColumn gives a range of them. */
  dictGather(positions: readonly number[]): Column {
    const json = this.json;
    if (json !== undefined) {
      return { kind: 'json', data: positions.map((i) => wrapAtPath(json.path, json.cast === 'BOOL' ? this.values[i] === 1 : this.values[i])) };
    }
    switch (this.kind) {
      case 'bool':
        return { kind: 'bool', data: Uint8Array.from(positions, (i) => (this.values as Uint8Array)[i] as number) };
      case 'int':
        return { kind: 'int', data: Int32Array.from(positions, (i) => (this.values as Int32Array)[i] as number) };
      case 'int64': {
        const values = this.values as BigInt64Array;
        const data = new BigInt64Array(positions.length);
        for (let k = 0; k < positions.length; k++) data[k] = values[positions[k] as number] as bigint;
        return { kind: 'int64', data };
      }
      case 'float':
        return { kind: 'float', data: Float64Array.from(positions, (i) => (this.values as Float64Array)[i] as number) };
      case 'string':
        return { kind: 'string', data: positions.map((i) => (this.values as string[])[i] as string) };
    }
  }

  /** A JSON path index's rows kept aside, as JSON documents holding their exact values (tested by the scan's code). */
  looseColumn(): Column {
    const json = this.json;
    return { kind: 'json', data: json === undefined ? [] : json.looseValues.map((v) => wrapAtPath(json.path, v)) };
  }

  /** A column holding one NaN (to test the NaN rows with the scan's code). */
  nanColumn(): Column {
    return { kind: 'float', data: new Float64Array([NaN]) };
  }

  /** The index as bytes: a JSON header, then postings, offsets, NaN rows and the values. */
  serialize(): Buffer {
    const strings = this.kind === 'string';
    const valueBytes = strings ? Buffer.from(JSON.stringify(this.values), 'utf8') : Buffer.from((this.values as Exclude<Dict, string[]>).buffer, (this.values as Exclude<Dict, string[]>).byteOffset, (this.values as Exclude<Dict, string[]>).byteLength);
    const json = this.json === undefined
      ? undefined
      : { path: this.json.path, cast: this.json.cast, looseRows: Array.from(this.json.looseRows), looseValues: this.json.looseValues.map(String) };
    const header = Buffer.from(JSON.stringify({ kind: this.kind, numRows: this.numRows, distinct: this.distinct, nan: this.nanRows.length, valueBytes: valueBytes.length, indexed: this.rows.length, ...(json === undefined ? {} : { json }) }), 'utf8');
    const head = Buffer.alloc(12);
    head.writeUInt32LE(MAGIC, 0);
    head.writeUInt32LE(VERSION, 4);
    head.writeUInt32LE(header.length, 8);
    const u32 = (a: Uint32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    // Pad the header so the typed arrays after it start on 8-byte boundaries.
    const pad = Buffer.alloc((8 - ((12 + header.length) % 8)) % 8);
    const beforeValues = 12 + header.length + pad.length + this.rows.byteLength + this.offsets.byteLength + this.nanRows.byteLength;
    const pad2 = Buffer.alloc((8 - (beforeValues % 8)) % 8);
    return Buffer.concat([head, header, pad, u32(this.rows), u32(this.offsets), u32(this.nanRows), pad2, valueBytes]);
  }

  static deserialize(buf: Uint8Array): ScalarIndex {
    const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    if (b.length < 12 || b.readUInt32LE(0) !== MAGIC) throw new Error('not a scalar index file');
    const version = b.readUInt32LE(4);
    if (version !== VERSION) throw new Error(`scalar index file version ${version} is not supported (expected ${VERSION})`);
    const hlen = b.readUInt32LE(8);
    const h = JSON.parse(b.subarray(12, 12 + hlen).toString('utf8')) as {
      kind: ScalarIndexKind; numRows: number; distinct: number; nan: number; valueBytes: number;
      /** Rows with a posting (absent in files written before indexes that leave rows out: every non-NaN row). */
      indexed?: number;
      json?: { path: PathKey[]; cast: JsonIndexCast; looseRows: number[]; looseValues: string[] };
    };
    let at = 12 + hlen;
    at += (8 - (at % 8)) % 8;
    // Copies, so the arrays are aligned whatever the buffer's own offset is.
    const u32 = (count: number): Uint32Array => {
      const out = new Uint32Array(count);
      new Uint8Array(out.buffer).set(b.subarray(at, at + count * 4));
      at += count * 4;
      return out;
    };
    const rows = u32(h.indexed ?? h.numRows - h.nan);
    const offsets = u32(h.distinct + 1);
    const nanRows = u32(h.nan);
    at += (8 - (at % 8)) % 8;
    const raw = b.subarray(at, at + h.valueBytes);
    const copy = (): ArrayBuffer => {
      const ab = new ArrayBuffer(raw.length);
      new Uint8Array(ab).set(raw);
      return ab;
    };
    let values: Dict;
    switch (h.kind) {
      case 'bool':
        values = new Uint8Array(copy());
        break;
      case 'int':
        values = new Int32Array(copy());
        break;
      case 'int64':
        values = new BigInt64Array(copy());
        break;
      case 'float':
        values = new Float64Array(copy());
        break;
      case 'string':
        values = JSON.parse(raw.toString('utf8')) as string[];
        break;
      default:
        throw new Error(`scalar index file has unknown kind ${String(h.kind)}`);
    }
    const json = h.json === undefined
      ? undefined
      : { path: h.json.path, cast: h.json.cast, looseRows: Uint32Array.from(h.json.looseRows), looseValues: h.json.looseValues.map((v) => BigInt(v)) };
    return new ScalarIndex(h.kind, h.numRows, values, offsets, rows, nanRows, json);
  }
}
