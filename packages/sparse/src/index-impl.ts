import { KiteError } from '@kite/common';
import type { SparseRow } from '@kite/segment';
import { TopK } from './topk';

/**
 * An inverted index over sparse vectors (one posting list per dimension: the rows that hold it and their values, in
 * ascending row order, in typed arrays). Two ways to search it give the same answer:
 * - SPARSE_INVERTED_INDEX: term at a time. Every posting list of the query's dimensions is walked once and the
 *   scores of the rows met are accumulated; the best k are kept.
 * - SPARSE_WAND: document at a time with WAND pruning. Each posting list knows an upper bound of what one of its
 *   entries can add to a score; rows whose possible score cannot beat the current k-th best are skipped.
 * Scores are summed in float64 in the query's dimension order in both, and ties rank the lower row first, so the
 * two return the same rows with the same scores (a unit test checks both against brute force).
 *
 * Metrics: IP (inner product of the stored and the query values) and BM25 (stored values are term frequencies; the
 * collection-wide statistics come with each search, see Bm25Query).
 */

export type SparseIndexType = 'SPARSE_INVERTED_INDEX' | 'SPARSE_WAND';
export type SparseMetric = 'IP' | 'BM25';
export const SPARSE_INDEX_TYPES: readonly SparseIndexType[] = ['SPARSE_INVERTED_INDEX', 'SPARSE_WAND'];

export interface SparseIndexOptions {
  indexType: SparseIndexType;
  metric: SparseMetric;
  /** Build: the fraction of the smallest stored values (by magnitude) left out of the index, in [0, 1). */
  dropRatioBuild?: number;
}

/** The collection-wide BM25 figures a search scores with (the same on every segment and node). */
export interface Bm25Query {
  k1: number;
  b: number;
  /** Live documents in the collection. */
  numDocs: number;
  /** Their average length (sum of term frequencies). */
  avgdl: number;
  /** Documents holding each query term (term id -> count). */
  df: Map<number, number>;
}

export interface SparseSearchOptions {
  /** Bit i (byte i >> 3, bit i & 7) set: row i may be returned. Absent: every row. */
  filter?: Uint8Array;
  /** The fraction of the smallest query values (by magnitude) ignored, in [0, 1). */
  dropRatioSearch?: number;
  /** Required for the BM25 metric. */
  bm25?: Bm25Query;
}

export interface SparseSearchResult {
  /** nq x k row ids, -1 where fewer than k rows matched. */
  ids: BigInt64Array;
  /** nq x k scores (larger is better). */
  distances: Float32Array;
}

/** Term statistics over some rows (for BM25's collection-wide figures). */
export interface TermStats {
  numDocs: number;
  sumDocLen: number;
  df: number[];
}

/** BM25's inverse document frequency, as Milvus defines it. */
export function bm25Idf(numDocs: number, df: number): number {
  return Math.log(1 + (numDocs - df + 0.5) / (df + 0.5));
}

class Posting {
  rows: Uint32Array<ArrayBufferLike>;
  vals: Float32Array<ArrayBufferLike>;
  len = 0;
  max = -Infinity;
  min = Infinity;
  /** Shortest document (BM25 length) among the rows. */
  minDl = Infinity;

  constructor(capacity: number) {
    this.rows = new Uint32Array(capacity);
    this.vals = new Float32Array(capacity);
  }

  push(row: number, val: number, dl: number): void {
    if (this.len === this.rows.length) {
      const cap = Math.max(4, this.rows.length * 2);
      const rows = new Uint32Array(cap);
      rows.set(this.rows.subarray(0, this.len));
      const vals = new Float32Array(cap);
      vals.set(this.vals.subarray(0, this.len));
      this.rows = rows;
      this.vals = vals;
    }
    this.rows[this.len] = row;
    this.vals[this.len] = val;
    this.len++;
    if (val > this.max) this.max = val;
    if (val < this.min) this.min = val;
    if (dl < this.minDl) this.minDl = dl;
  }
}

const MAGIC = 0x4950534b; // "KSPI" little endian
const VERSION = 1;

/** Yield to the event loop after this much synchronous work in one search. */
const SLICE_MS = 8;

/** Rows added between yields while building. */
const BUILD_SLICE_ROWS = 2000;

const yieldNow = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const checkRatio = (name: string, v: number | undefined): number => {
  const r = v ?? 0;
  if (!Number.isFinite(r) || r < 0 || r >= 1) throw new KiteError('ParameterInvalid', `${name} must be in range [0, 1), got ${String(v)}`);
  return r;
};

/** The entries of a query row left after dropping the smallest `ratio` of its values by magnitude. */
export function dropSmallest(q: SparseRow, ratio: number): SparseRow {
  const n = q.indices.length;
  const drop = Math.floor(n * ratio);
  if (drop <= 0) return q;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => Math.abs(q.values[a]!) - Math.abs(q.values[b]!) || a - b);
  const keep = order.slice(drop).sort((a, b) => a - b);
  return { indices: Uint32Array.from(keep, (i) => q.indices[i]!), values: Float32Array.from(keep, (i) => q.values[i]!) };
}

export class SparseIndex {
  readonly indexType: SparseIndexType;
  readonly metric: SparseMetric;
  readonly dropRatioBuild: number;
  private readonly postings = new Map<number, Posting>();
  /** Per row: the sum of its values (for BM25, the document length). */
  private docLen: Float32Array = new Float32Array(16);
  private n = 0;

  constructor(o: SparseIndexOptions) {
    this.indexType = o.indexType;
    this.metric = o.metric;
    this.dropRatioBuild = checkRatio('drop_ratio_build', o.dropRatioBuild);
  }

  /** Builds an index over `rows` (row ids 0..n-1), leaving out the smallest values per drop_ratio_build. */
  static build(rows: readonly SparseRow[], o: SparseIndexOptions): SparseIndex {
    const idx = new SparseIndex(o);
    idx.add(rows, idx.buildThreshold(rows));
    return idx;
  }

  /** build(), in slices that yield to the event loop (a segment of a million rows takes seconds). */
  static async buildAsync(rows: readonly SparseRow[], o: SparseIndexOptions): Promise<SparseIndex> {
    const idx = new SparseIndex(o);
    const threshold = idx.buildThreshold(rows);
    for (let i = 0; i < rows.length; i += BUILD_SLICE_ROWS) {
      idx.add(rows.slice(i, i + BUILD_SLICE_ROWS), threshold);
      if (i + BUILD_SLICE_ROWS < rows.length) await yieldNow();
    }
    return idx;
  }

  /** The magnitude below which drop_ratio_build leaves a stored value out (0: none). */
  private buildThreshold(rows: readonly SparseRow[]): number {
    if (this.dropRatioBuild <= 0) return 0;
    let nnz = 0;
    for (const r of rows) nnz += r.values.length;
    const all = new Float32Array(nnz);
    let o = 0;
    for (const r of rows) for (const v of r.values) all[o++] = Math.abs(v);
    all.sort();
    return all[Math.floor(nnz * this.dropRatioBuild)] ?? 0;
  }

  get numRows(): number {
    return this.n;
  }

  /** Appends rows with the next row ids; entries whose magnitude is below `threshold` are not indexed. */
  add(rows: readonly SparseRow[], threshold = 0): void {
    if (this.n + rows.length > this.docLen.length) {
      const grown = new Float32Array(Math.max(this.n + rows.length, this.docLen.length * 2));
      grown.set(this.docLen.subarray(0, this.n));
      this.docLen = grown;
    }
    for (const r of rows) {
      const row = this.n++;
      let dl = 0;
      for (let j = 0; j < r.values.length; j++) dl += r.values[j]!;
      this.docLen[row] = dl;
      for (let j = 0; j < r.indices.length; j++) {
        const v = r.values[j]!;
        if (threshold > 0 && Math.abs(v) < threshold) continue;
        const t = r.indices[j]!;
        let p = this.postings.get(t);
        if (!p) {
          p = new Posting(4);
          this.postings.set(t, p);
        }
        p.push(row, v, dl);
      }
    }
  }

  /** Rows (among those `mask` allows, all when absent) and, per term, how many of them hold it. */
  termStats(terms: readonly number[], mask?: Uint8Array): TermStats {
    let numDocs = 0;
    let sumDocLen = 0;
    for (let i = 0; i < this.n; i++) {
      if (mask && ((mask[i >> 3]! >> (i & 7)) & 1) === 0) continue;
      numDocs++;
      sumDocLen += this.docLen[i]!;
    }
    const df = terms.map((t) => {
      const p = this.postings.get(t);
      if (!p) return 0;
      if (!mask) return p.len;
      let c = 0;
      for (let j = 0; j < p.len; j++) {
        const r = p.rows[j]!;
        if ((mask[r >> 3]! >> (r & 7)) & 1) c++;
      }
      return c;
    });
    return { numDocs, sumDocLen, df };
  }

  async search(queries: readonly SparseRow[], k: number, opts: SparseSearchOptions = {}): Promise<SparseSearchResult> {
    if (!Number.isInteger(k) || k < 1) throw new KiteError('ParameterInvalid', `topk must be a positive integer, got ${k}`);
    const ratio = checkRatio('drop_ratio_search', opts.dropRatioSearch);
    if (this.metric === 'BM25' && !opts.bm25) throw new KiteError('Internal', 'a BM25 search needs the collection-wide statistics');
    const nq = queries.length;
    const ids = new BigInt64Array(nq * k).fill(-1n);
    const distances = new Float32Array(nq * k);
    const acc = this.indexType === 'SPARSE_INVERTED_INDEX' ? new Float64Array(this.n) : undefined;
    let sliceStart = Date.now();
    for (let q = 0; q < nq; q++) {
      const query = dropSmallest(queries[q]!, ratio);
      const top = new TopK(k);
      if (acc) this.termAtATime(query, opts, top, acc);
      else this.wand(query, opts, top);
      const best = top.sorted();
      for (let j = 0; j < best.length; j++) {
        ids[q * k + j] = BigInt(best[j]!.row);
        distances[q * k + j] = best[j]!.score;
      }
      if (Date.now() - sliceStart > SLICE_MS) {
        await yieldNow();
        sliceStart = Date.now();
      }
    }
    return { ids, distances };
  }

  /**
   * What each query entry contributes to a row's score: IP multiplies the values; BM25 weighs the row's term
   * frequency by the term's IDF and the row's length (the query value counts the term's repeats in the query).
   */
  private scorer(query: SparseRow, bm25: Bm25Query | undefined): { weight: Float64Array; contrib: (t: number, tf: number, row: number) => number } {
    const m = query.indices.length;
    const weight = new Float64Array(m);
    if (this.metric === 'IP' || !bm25) {
      for (let t = 0; t < m; t++) weight[t] = query.values[t]!;
      return { weight, contrib: (t, v) => weight[t]! * v };
    }
    const { k1, b, numDocs, avgdl } = bm25;
    for (let t = 0; t < m; t++) weight[t] = query.values[t]! * bm25Idf(numDocs, bm25.df.get(query.indices[t]!) ?? 0);
    const docLen = this.docLen;
    const norm = avgdl > 0 ? avgdl : 1;
    return { weight, contrib: (t, tf, row) => (weight[t]! * tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * docLen[row]!) / norm)) };
  }

  private termAtATime(query: SparseRow, opts: SparseSearchOptions, top: TopK, acc: Float64Array): void {
    const { contrib } = this.scorer(query, opts.bm25);
    const filter = opts.filter;
    const touched: number[] = [];
    const seen = new Uint8Array(this.n);
    for (let t = 0; t < query.indices.length; t++) {
      const p = this.postings.get(query.indices[t]!);
      if (!p) continue;
      for (let j = 0; j < p.len; j++) {
        const r = p.rows[j]!;
        if (filter && ((filter[r >> 3]! >> (r & 7)) & 1) === 0) continue;
        if (!seen[r]) {
          seen[r] = 1;
          touched.push(r);
          acc[r] = 0;
        }
        acc[r] = acc[r]! + contrib(t, p.vals[j]!, r);
      }
    }
    for (const r of touched) top.offer(r, acc[r]!);
  }

  private wand(query: SparseRow, opts: SparseSearchOptions, top: TopK): void {
    const { weight, contrib } = this.scorer(query, opts.bm25);
    const bm25 = this.metric === 'BM25' ? opts.bm25 : undefined;
    const filter = opts.filter;
    interface Cursor { t: number; p: Posting; pos: number; ub: number }
    const cursors: Cursor[] = [];
    for (let t = 0; t < query.indices.length; t++) {
      const p = this.postings.get(query.indices[t]!);
      if (!p || p.len === 0) continue;
      let ub: number;
      if (bm25) {
        // The BM25 term score grows with the term frequency and shrinks with the document length.
        const { k1, b, avgdl } = bm25;
        const norm = avgdl > 0 ? avgdl : 1;
        ub = (weight[t]! * p.max * (k1 + 1)) / (p.max + k1 * (1 - b + (b * p.minDl) / norm));
      } else {
        ub = weight[t]! >= 0 ? weight[t]! * p.max : weight[t]! * p.min;
      }
      // Clamped at 0 so that a prefix of the cursors bounds every subset of it; widened against rounding.
      cursors.push({ t, p, pos: 0, ub: Math.max(0, ub) * (1 + 1e-9) + 1e-12 });
    }
    const doc = (c: Cursor): number => c.p.rows[c.pos]!;
    /** Moves a cursor to its first row >= target (galloping then binary search). */
    const seek = (c: Cursor, target: number): void => {
      const rows = c.p.rows;
      let lo = c.pos;
      let step = 1;
      let hi = lo;
      while (hi < c.p.len && rows[hi]! < target) {
        lo = hi + 1;
        hi += step;
        step *= 2;
      }
      hi = Math.min(hi, c.p.len);
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (rows[mid]! < target) lo = mid + 1;
        else hi = mid;
      }
      c.pos = lo;
    };
    // Cursors ordered by their current row; after each step only the moved ones are out of place, so an insertion
    // sort puts them back in near-linear time. Exhausted cursors are dropped.
    const live = cursors.sort((a, b) => doc(a) - doc(b));
    const resort = (): void => {
      let w = 0;
      for (let r = 0; r < live.length; r++) if (live[r]!.pos < live[r]!.p.len) live[w++] = live[r]!;
      live.length = w;
      for (let i = 1; i < live.length; i++) {
        const c = live[i]!;
        const d = doc(c);
        let j = i - 1;
        while (j >= 0 && doc(live[j]!) > d) {
          live[j + 1] = live[j]!;
          j--;
        }
        live[j + 1] = c;
      }
    };
    const at: Cursor[] = [];
    while (live.length > 0) {
      const threshold = top.full ? top.worstScore : -Infinity;
      let sum = 0;
      let pivot = -1;
      for (let i = 0; i < live.length; i++) {
        sum += live[i]!.ub;
        if (sum > threshold) {
          pivot = i;
          break;
        }
      }
      if (pivot < 0) break;
      const pivotDoc = doc(live[pivot]!);
      if (doc(live[0]!) === pivotDoc) {
        // Every cursor on the pivot row; their contributions are summed in query order, as term at a time does.
        at.length = 0;
        for (let i = 0; i < live.length && doc(live[i]!) === pivotDoc; i++) at.push(live[i]!);
        if (at.length > 1) at.sort((a, b) => a.t - b.t);
        if (!filter || ((filter[pivotDoc >> 3]! >> (pivotDoc & 7)) & 1) === 1) {
          let score = 0;
          for (const c of at) score += contrib(c.t, c.p.vals[c.pos]!, pivotDoc);
          top.offer(pivotDoc, score);
        }
        for (const c of at) c.pos++;
      } else {
        for (let i = 0; i < pivot; i++) seek(live[i]!, pivotDoc);
      }
      resort();
    }
  }

  serialize(): Buffer {
    const terms = [...this.postings.keys()].sort((a, b) => a - b);
    const offsets = new Uint32Array(terms.length + 1);
    let nnz = 0;
    terms.forEach((t, i) => {
      offsets[i] = nnz;
      nnz += this.postings.get(t)!.len;
    });
    offsets[terms.length] = nnz;
    const rows = new Uint32Array(nnz);
    const vals = new Float32Array(nnz);
    terms.forEach((t, i) => {
      const p = this.postings.get(t)!;
      rows.set(p.rows.subarray(0, p.len), offsets[i]!);
      vals.set(p.vals.subarray(0, p.len), offsets[i]!);
    });
    const header = Buffer.from(JSON.stringify({ indexType: this.indexType, metric: this.metric, dropRatioBuild: this.dropRatioBuild, numRows: this.n, numTerms: terms.length, nnz }), 'utf8');
    const head = Buffer.alloc(12);
    head.writeUInt32LE(MAGIC, 0);
    head.writeUInt32LE(VERSION, 4);
    head.writeUInt32LE(header.length, 8);
    const pad = Buffer.alloc((4 - ((12 + header.length) % 4)) % 4);
    const bytes = (a: Uint32Array | Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    return Buffer.concat([head, header, pad, bytes(Uint32Array.from(terms)), bytes(offsets), bytes(rows), bytes(vals), bytes(this.docLen.subarray(0, this.n))]);
  }

  /** Reads what serialize() wrote; `indexType` searches the same postings the other way (both give the same answer). */
  static deserialize(buf: Buffer, indexType?: SparseIndexType): SparseIndex {
    if (buf.length < 12 || buf.readUInt32LE(0) !== MAGIC) throw new KiteError('SegmentLoadFailed', 'not a Kite sparse index file (bad magic)');
    if (buf.readUInt32LE(4) !== VERSION) throw new KiteError('SegmentLoadFailed', `sparse index file version ${buf.readUInt32LE(4)} is not supported (expected ${VERSION})`);
    const hlen = buf.readUInt32LE(8);
    const h = JSON.parse(buf.toString('utf8', 12, 12 + hlen)) as { indexType: SparseIndexType; metric: SparseMetric; dropRatioBuild: number; numRows: number; numTerms: number; nnz: number };
    // Copy the body once so every array is aligned.
    const start = 12 + hlen + ((4 - ((12 + hlen) % 4)) % 4);
    const body = new Uint8Array(buf.length - start);
    body.set(buf.subarray(start));
    const u32 = (at: number, n: number): Uint32Array => new Uint32Array(body.buffer, at, n);
    const f32 = (at: number, n: number): Float32Array => new Float32Array(body.buffer, at, n);
    let o = 0;
    const terms = u32(o, h.numTerms);
    o += h.numTerms * 4;
    const offsets = u32(o, h.numTerms + 1);
    o += (h.numTerms + 1) * 4;
    const rows = u32(o, h.nnz);
    o += h.nnz * 4;
    const vals = f32(o, h.nnz);
    o += h.nnz * 4;
    const idx = new SparseIndex({ indexType: indexType ?? h.indexType, metric: h.metric, dropRatioBuild: h.dropRatioBuild });
    idx.docLen = f32(o, h.numRows);
    idx.n = h.numRows;
    for (let i = 0; i < h.numTerms; i++) {
      const p = new Posting(0);
      p.rows = rows.subarray(offsets[i]!, offsets[i + 1]!);
      p.vals = vals.subarray(offsets[i]!, offsets[i + 1]!);
      p.len = p.rows.length;
      for (let j = 0; j < p.len; j++) {
        const v = p.vals[j]!;
        if (v > p.max) p.max = v;
        if (v < p.min) p.min = v;
        const dl = idx.docLen[p.rows[j]!]!;
        if (dl < p.minDl) p.minDl = dl;
      }
      idx.postings.set(terms[i]!, p);
    }
    return idx;
  }

  /** Nothing native to release; present so the index can stand where a faiss index does. */
  free(): void {
    this.postings.clear();
  }
}
