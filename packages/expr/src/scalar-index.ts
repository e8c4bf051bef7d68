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
import type { Column } from './types';

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
  ) {}

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

  /** The distinct values [lo, hi) as a column of the indexed kind (the scan's code evaluates predicates on it). */
  dictColumn(lo: number, hi: number): Column {
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

  /** A column holding one NaN (to test the NaN rows with the scan's code). */
  nanColumn(): Column {
    return { kind: 'float', data: new Float64Array([NaN]) };
  }

  /** Sets, in a row bitmap (byte i>>3, bit i&7), the rows of distinct value `v`. */
  setRowsOf(v: number, out: Uint8Array): void {
    const end = this.offsets[v + 1] as number;
    for (let k = this.offsets[v] as number; k < end; k++) {
      const r = this.rows[k] as number;
      out[r >>> 3] = (out[r >>> 3] as number) | (1 << (r & 7));
    }
  }

  setNanRows(out: Uint8Array): void {
    for (const r of this.nanRows) out[r >>> 3] = (out[r >>> 3] as number) | (1 << (r & 7));
  }

  /** The index as bytes: a JSON header, then postings, offsets, NaN rows and the values. */
  serialize(): Buffer {
    const strings = this.kind === 'string';
    const valueBytes = strings ? Buffer.from(JSON.stringify(this.values), 'utf8') : Buffer.from((this.values as Exclude<Dict, string[]>).buffer, (this.values as Exclude<Dict, string[]>).byteOffset, (this.values as Exclude<Dict, string[]>).byteLength);
    // `indexed`: the rows in postings (NULL rows are in none); files written before NULLs existed lack it.
    const header = Buffer.from(JSON.stringify({ kind: this.kind, numRows: this.numRows, distinct: this.distinct, nan: this.nanRows.length, indexed: this.rows.length, valueBytes: valueBytes.length }), 'utf8');
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
    const h = JSON.parse(b.subarray(12, 12 + hlen).toString('utf8')) as { kind: ScalarIndexKind; numRows: number; distinct: number; nan: number; indexed?: number; valueBytes: number };
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
    return new ScalarIndex(h.kind, h.numRows, values, offsets, rows, nanRows);
  }
}
