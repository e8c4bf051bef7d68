import { KiteError } from '@kite/common';
import { decodeBatch, encodeBatch, type SparseRow } from '@kite/segment';
import type { Bm25Query, TermStats } from './index-impl';

/**
 * How sparse queries and BM25 statistics travel between the proxy and the query nodes (internal SearchRequest
 * fields sparse_queries, bm25_stats and SearchResponse.bm25_stats).
 */

const QUERY_COLUMN = '$query';

export function encodeSparseQueries(rows: SparseRow[]): Buffer {
  return encodeBatch({ numRows: rows.length, columns: new Map([[QUERY_COLUMN, { kind: 'sparse', data: rows }]]) });
}

export function decodeSparseQueries(buf: Uint8Array): SparseRow[] {
  const b = decodeBatch(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength));
  const c = b.columns.get(QUERY_COLUMN);
  if (!c || c.kind !== 'sparse') throw new KiteError('ParameterInvalid', 'sparse_queries holds no sparse query column');
  return c.data;
}

export function encodeBm25Query(q: Bm25Query): string {
  return JSON.stringify({ k1: q.k1, b: q.b, numDocs: q.numDocs, avgdl: q.avgdl, df: [...q.df] });
}

export function decodeBm25Query(text: string): Bm25Query {
  const v = JSON.parse(text) as { k1: number; b: number; numDocs: number; avgdl: number; df: [number, number][] };
  return { k1: v.k1, b: v.b, numDocs: v.numDocs, avgdl: v.avgdl, df: new Map(v.df) };
}

export function encodeTermStats(s: TermStats): string {
  return JSON.stringify(s);
}

export function decodeTermStats(text: string): TermStats {
  return JSON.parse(text) as TermStats;
}

/** Sums statistics of disjoint sets of rows (segments, channels). */
export function addTermStats(parts: TermStats[], numTerms: number): TermStats {
  const out: TermStats = { numDocs: 0, sumDocLen: 0, df: new Array<number>(numTerms).fill(0) };
  for (const p of parts) {
    out.numDocs += p.numDocs;
    out.sumDocLen += p.sumDocLen;
    for (let i = 0; i < numTerms; i++) out.df[i]! += p.df[i] ?? 0;
  }
  return out;
}

/** The distinct terms of some queries, ascending (what a statistics request asks about). */
export function distinctTerms(rows: readonly SparseRow[]): number[] {
  const set = new Set<number>();
  for (const r of rows) for (const t of r.indices) set.add(t);
  return [...set].sort((a, b) => a - b);
}
