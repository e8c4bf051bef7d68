import { KiteError, clip } from '@kite/common';
import {
  bitClear, bitGet, groupValueAt, inRange, mergeGroupHits, mergeHits, pastRange, scoreKey, GROUP_PARAM, RANGE_PARAM,
  type Column, type ColumnBatch, type GroupSpec, type KeyRange,
} from '@kite/segment';
import { queryAt, type AnnIndex, type AnnQueries, type AnnSearchParams } from './ann';

/**
 * Range search, grouping search and the search iterator on one index: the index answers top-k, so the search asks
 * again for more (the rows it already returned masked out) until it has `k` hits (or `k` groups) inside the range,
 * the last hit it got lies past the range, or it has seen every visible row. Exact on FLAT, as good as the index on
 * IVF and HNSW (an IVF search ends when the probed lists are exhausted).
 */

/** faiss's largest k for one call. */
const MAX_K = 16384;

export interface SearchExtras {
  range?: KeyRange;
  group?: GroupSpec;
}

/** Reads the range and grouping the proxy put in an internal SearchRequest's search_params. */
export function searchExtras(params: Record<string, string>): SearchExtras {
  const out: SearchExtras = {};
  const read = <T>(key: string): T | undefined => {
    const raw = params[key];
    if (raw === undefined || raw === '') return undefined;
    try {
      return JSON.parse(raw) as T;
    } catch {
      throw new KiteError('ParameterInvalid', `internal search param ${key} is not JSON: ${clip(raw, 128)}`);
    }
  };
  const range = read<KeyRange>(RANGE_PARAM);
  if (range) out.range = range;
  const group = read<GroupSpec>(GROUP_PARAM);
  if (group) {
    if (typeof group.field !== 'string' || !(group.size >= 1)) throw new KiteError('ParameterInvalid', `internal search param ${GROUP_PARAM} is malformed: ${clip(params[GROUP_PARAM]!, 128)}`);
    out.group = group;
  }
  return out;
}

/** Merges hit batches of one search as its kind asks: groups for a grouping search, else the best `k` hits. */
export function mergeSearchHits(parts: ColumnBatch[], nq: number, k: number, metric: string, extras: SearchExtras): ColumnBatch {
  return extras.group ? mergeGroupHits(parts, nq, k, extras.group, metric) : mergeHits(parts, nq, k, metric);
}

export interface Collected {
  rows: number[];
  queryOf: number[];
  scores: number[];
}

export interface CollectArgs {
  index: AnnIndex;
  queries: AnnQueries;
  nq: number;
  /** Hits (or groups) wanted per query. */
  k: number;
  metric: string;
  params: AnnSearchParams;
  /** The visible rows of the batch the index's ids refer to. */
  mask: Uint8Array;
  /** Rows in the batch (the mask's length in bits). */
  numRows: number;
  /** Visible rows. */
  count: number;
  extras: SearchExtras;
  /** The group column of the batch (grouping search). */
  groupColumn?: Column;
  /** Date.now() value after which the search stops with DeadlineExceeded instead of asking the index again. */
  deadline?: number;
}

/** Searches each query until it has what the range and grouping ask for; hits per query best first. */
export async function collectHits(a: CollectArgs): Promise<Collected> {
  const out: Collected = { rows: [], queryOf: [], scores: [] };
  // Every query's first search starts now, synchronously with the caller (see exec.ts searchSource). On a growing
  // source (FLAT) of at most MAX_K rows that first search is the only one.
  const all = await Promise.all(Array.from({ length: a.nq }, (_, q) => collectOne(a, queryAt(a.queries, q, a.nq))));
  for (let q = 0; q < a.nq; q++) {
    for (const h of all[q]!) {
      out.rows.push(h.row);
      out.queryOf.push(q);
      out.scores.push(h.score);
    }
  }
  return out;
}

interface Hit {
  row: number;
  score: number;
  key: number;
}

async function collectOne(a: CollectArgs, query: AnnQueries): Promise<Hit[]> {
  const { range = {}, group } = a.extras;
  const filter = a.mask.slice();
  let remaining = a.count;
  let masked = a.count !== a.numRows;
  // A FLAT search costs the same whatever k: take as many rows at once as one call may.
  const flat = a.index.exact;
  let want = Math.min(remaining, MAX_K, flat ? MAX_K : Math.max(64, a.k * (group ? 2 * group.size : 2)));
  const found: Hit[] = [];
  const groups = new Map<unknown, number>();
  const order: unknown[] = [];
  const enough = (): boolean => {
    if (!group) return found.length >= a.k;
    if (order.length < a.k) return false;
    if (!group.strict) return true;
    for (let i = 0; i < a.k; i++) if ((groups.get(order[i]) ?? 0) < group.size) return false;
    return true;
  };
  for (let call = 0; want > 0; call++) {
    // A later call runs after the first one's results came back: by then a growing source may have compacted (its
    // index freed and its rows renumbered) or a segment been released. The router retries the search then.
    if (call > 0 && a.index.isFreed) {
      throw new KiteError('ServiceUnavailable', 'the rows searched changed (compacted or released) while a range or grouping search was ranking them; retry the search', { retriable: true });
    }
    const ef = a.params.ef === undefined ? undefined : Math.max(a.params.ef, want);
    const res = await a.index.search(query, want, { params: { ...a.params, ef }, filter: masked ? filter : undefined });
    let valid = 0;
    let last = -Infinity;
    for (let j = 0; j < want; j++) {
      const id = res.ids[j]!;
      if (id < 0n) continue;
      const row = Number(id);
      if (!bitGet(filter, row)) continue;
      bitClear(filter, row);
      valid++;
      const score = res.distances[j]!;
      const key = scoreKey(score, a.metric);
      if (key > last) last = key;
      if (!inRange(key, range)) continue;
      if (group) {
        const v = groupValueAt(a.groupColumn, row);
        const n = groups.get(v);
        if (n === undefined) {
          groups.set(v, 1);
          order.push(v);
        } else if (n >= group.size) continue;
        else groups.set(v, n + 1);
      }
      found.push({ row, score, key });
    }
    remaining -= valid;
    masked = true;
    if (valid < want || remaining <= 0 || pastRange(last, range) || enough()) break;
    want = Math.min(remaining, MAX_K, want * 2);
    if (a.deadline !== undefined && Date.now() > a.deadline) {
      throw new KiteError('DeadlineExceeded', `the search ran out of time after ${a.count - remaining} of ${a.count} rows of a segment were ranked (range or grouping search); narrow the range or the filter, or raise the timeout`);
    }
  }
  found.sort((x, y) => x.key - y.key || x.row - y.row);
  if (!group) return found.slice(0, a.k);
  const keep = new Set(order.slice(0, a.k));
  return found.filter((h) => keep.has(groupValueAt(a.groupColumn, h.row)));
}
