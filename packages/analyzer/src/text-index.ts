import type { Analyzer } from './analyzer';

/**
 * An inverted index over one text column (one segment's rows of a field): term -> the rows that hold it, with the
 * term's positions in each row, for text_match (any of the query's terms) and phrase_match (the terms in order,
 * within a slop). Rows are added in order and never change, so a growing segment extends its index as rows arrive.
 * Results are row bitmaps (byte i >> 3, bit i & 7) over the rows indexed so far; the latest few are kept, so a
 * filter repeated on an unchanged segment costs one lookup.
 */

interface Postings {
  /** Rows holding the term, ascending. */
  rows: number[];
  /** Where each row's positions start in `pos`; they end where the next row's start (or at pos.length). */
  start: number[];
  /** Positions of the term, ascending within a row. */
  pos: number[];
}

const MEMO_ENTRIES = 32;

export class TextIndex {
  private readonly postings = new Map<string, Postings>();
  private rows = 0;
  private readonly memo = new Map<string, { rows: number; bits: Uint8Array }>();

  constructor(readonly analyzer: Analyzer) {}

  /** Rows indexed so far. */
  get numRows(): number {
    return this.rows;
  }

  /** Number of distinct terms. */
  get numTerms(): number {
    return this.postings.size;
  }

  /**
   * Appends rows `texts[from..to)` (their numbers continue from numRows). A missing text (null/undefined) has no
   * terms.
   */
  addRows(texts: ArrayLike<string | null | undefined>, from = 0, to = texts.length): void {
    for (let i = from; i < to; i++) {
      const text = texts[i];
      const row = this.rows++;
      if (text === null || text === undefined || text === '') continue;
      // A term's positions in one row land next to each other in its `pos` (only this term appends there), so a
      // term seen again in the same row only adds its position.
      this.analyzer.eachTerm(text, this.adder(row));
    }
  }

  private adder(row: number): (term: string, position: number) => void {
    return (term, position) => {
      let p = this.postings.get(term);
      if (p === undefined) {
        p = { rows: [], start: [], pos: [] };
        this.postings.set(term, p);
      }
      if (p.rows[p.rows.length - 1] !== row) {
        p.rows.push(row);
        p.start.push(p.pos.length);
      }
      p.pos.push(position);
    };
  }

  /**
   * Rows holding any of the query's distinct terms (Milvus's text_match), or at least `minShouldMatch` of them
   * (its minimum_should_match option).
   */
  matchAny(query: string, minShouldMatch = 1): Uint8Array {
    return this.memoized(`a\u0000${minShouldMatch}\u0000${query}`, () => {
      const bits = new Uint8Array((this.rows + 7) >>> 3);
      const terms = [...new Set(this.analyzer.terms(query))];
      if (minShouldMatch <= 1) {
        for (const term of terms) {
          const p = this.postings.get(term);
          if (p !== undefined) for (const r of p.rows) bits[r >>> 3] = (bits[r >>> 3] as number) | (1 << (r & 7));
        }
        return bits;
      }
      if (terms.length < minShouldMatch) return bits;
      const counts = new Uint32Array(this.rows);
      for (const term of terms) {
        const p = this.postings.get(term);
        if (p === undefined) continue;
        for (const r of p.rows) {
          if (++(counts[r] as number) === minShouldMatch) bits[r >>> 3] = (bits[r >>> 3] as number) | (1 << (r & 7));
        }
      }
      return bits;
    });
  }

  /**
   * Rows holding the query's terms as a phrase (Milvus's phrase_match, which runs Tantivy's phrase query): term i
   * at a position p_i such that, with q_i its position in the analyzed query, each step d_i = (p_i - q_i) -
   * (p_{i-1} - q_{i-1}) is between 0 and `slop`. So slop 0 is the exact phrase, slop 1 lets one extra token stand
   * between two neighbours, and the terms never match out of order. A one-term query matches the rows holding
   * the term; a query without terms matches nothing.
   */
  matchPhrase(query: string, slop: number): Uint8Array {
    return this.memoized(`p\u0000${slop}\u0000${query}`, () => {
      const bits = new Uint8Array((this.rows + 7) >>> 3);
      const q = this.analyzer.termsWithPositions(query);
      const lists: Postings[] = [];
      for (const term of q.terms) {
        const p = this.postings.get(term);
        if (p === undefined) return bits;
        lists.push(p);
      }
      if (lists.length === 0) return bits;
      // Walk the rows of the rarest term; find the row in every other term's postings by binary search.
      let rarest = 0;
      for (let i = 1; i < lists.length; i++) if ((lists[i] as Postings).rows.length < (lists[rarest] as Postings).rows.length) rarest = i;
      const cursor = new Array<number>(lists.length).fill(0);
      const driver = lists[rarest] as Postings;
      for (const row of driver.rows) {
        const at: number[] = [];
        let all = true;
        for (let i = 0; i < lists.length; i++) {
          const rows = (lists[i] as Postings).rows;
          const k = lowerBound(rows, row, cursor[i] as number);
          cursor[i] = k;
          if (rows[k] !== row) {
            all = false;
            break;
          }
          at.push(k);
        }
        if (all && phraseInRow(lists, at, q.positions, slop)) bits[row >>> 3] = (bits[row >>> 3] as number) | (1 << (row & 7));
      }
      return bits;
    });
  }

  private memoized(key: string, compute: () => Uint8Array): Uint8Array {
    const hit = this.memo.get(key);
    if (hit !== undefined && hit.rows === this.rows) {
      this.memo.delete(key);
      this.memo.set(key, hit);
      return hit.bits;
    }
    const bits = compute();
    this.memo.delete(key);
    if (this.memo.size >= MEMO_ENTRIES) this.memo.delete(this.memo.keys().next().value as string);
    this.memo.set(key, { rows: this.rows, bits });
    return bits;
  }
}

/** The first index >= from whose value is >= x (values ascending). */
function lowerBound(values: number[], x: number, from: number): number {
  let lo = from;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((values[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Whether one row holds the phrase: the positions of term i in the row, shifted by -q_i, must chain, each next one
 * 0..slop after a reachable previous one. `reach` holds the reachable shifted positions of the term so far.
 */
function phraseInRow(lists: Postings[], at: number[], queryPositions: number[], slop: number): boolean {
  let reach: number[] = [];
  for (let i = 0; i < lists.length; i++) {
    const p = lists[i] as Postings;
    const k = at[i] as number;
    const from = p.start[k] as number;
    const to = k + 1 < p.start.length ? (p.start[k + 1] as number) : p.pos.length;
    const shift = queryPositions[i] as number;
    if (i === 0) {
      for (let j = from; j < to; j++) reach.push((p.pos[j] as number) - shift);
      continue;
    }
    const next: number[] = [];
    let r = 0;
    for (let j = from; j < to; j++) {
      const x = (p.pos[j] as number) - shift;
      // The largest reachable y <= x; it is within slop of x if any is.
      while (r + 1 < reach.length && (reach[r + 1] as number) <= x) r++;
      const y = reach[r] as number;
      if (y <= x && x - y <= slop) next.push(x);
    }
    if (next.length === 0) return false;
    reach = next;
  }
  return true;
}
