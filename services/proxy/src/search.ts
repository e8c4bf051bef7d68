import { KiteError } from '@kite/common';
import type { MilvusResponse } from '@kite/proto';
import {
  channelsOf, concatBatches, decodeBatch, emptyColumn, mergeGroupHits, mergeHits, pkAt, takeBatch, PK, QUERY, SCORE,
  type CollectionMeta, type Column, type ColumnBatch, type FieldMeta, type GroupSpec, type KeyRange,
} from '@kite/segment';
import { encodeSparseQueries } from '@kite/sparse';
import { collectionBm25 } from './bm25';
import type { ProxyCore } from './core';
import { fieldData, idsOf, type Outputs } from './output';
import type { SearchPlan } from './read-plan';
import type { RankList, Reranker } from './rerank';
import { extrasParams, keepInRange } from './search-extras';
import { OK } from './status';

/** What one search needs besides its plan: the checked filter, the partitions, the columns to return, and when. */
export interface SearchRun {
  filter: { text: string; params: string; plan: string };
  partitions: number[];
  /** Output columns (stored names) the hits carry. */
  columns: string[];
  /** Per channel, the WAL offset its delegator must have consumed first (Strong and Session reads). */
  offsets: Map<string, number>;
  deadline: number;
  /** Hits (or groups) per query instead of the plan's topk: range, grouping and iterator passes ask for more. */
  k?: number;
  /** The score range the hits must lie in (range search, iterator pages). */
  range?: KeyRange;
  /** Grouping: per query the best groups, each with its best hits. */
  group?: GroupSpec;
  /** Only this query vector of the plan (a grouping search's second pass runs per query). */
  query?: number;
}

/** The plan of one of a plan's query vectors. */
function oneQuery(plan: SearchPlan, q: number): SearchPlan {
  if (plan.sparse) return { ...plan, nq: 1, sparse: [plan.sparse[q]!] };
  const bytes = plan.vectors.length / plan.nq;
  return { ...plan, nq: 1, vectors: plan.vectors.subarray(q * bytes, (q + 1) * bytes) };
}

/**
 * Runs one search on every channel's delegator (router.ts retries on other replicas) and merges the hits: per query
 * vector, the best `plan.topk` hits, best first, as a ColumnBatch with `$query`, `$score`, `$pk` and the output
 * columns. Search pages these; HybridSearch fuses several of them.
 */
export async function runSearch(core: ProxyCore, c: CollectionMeta, whole: SearchPlan, run: SearchRun): Promise<ColumnBatch> {
  const { router } = core;
  const plan = run.query === undefined ? whole : oneQuery(whole, run.query);
  const { field, metric, nq, vectors } = plan;
  const { filter, partitions, columns, offsets, deadline, range, group } = run;
  const topk = run.k ?? plan.topk;
  const searchParams = range || group ? { ...plan.searchParams, ...extrasParams(range, group) } : plan.searchParams;
  const sparseQueries = plan.sparse ? encodeSparseQueries(plan.sparse) : Buffer.alloc(0);
  // BM25: the collection-wide statistics of the query's terms first, then the search scores with them (bm25.ts).
  const bm25Stats = metric === 'BM25' ? await collectionBm25(core, c, plan, partitions, offsets, deadline) : '';
  const parts = await Promise.all(channelsOf(c).map((channel) =>
    router.onChannel(c, channel, deadline, async (n, leader) => {
      const res = await n.Search({
        collection_id: c.collectionID, channel, replica_id: leader.replica_id, delegator: true, segment_ids: [], anns_field: field.name,
        metric_type: metric, topk, nq, vectors, filter: filter.text, filter_params: filter.params, filter_plan: filter.plan,
        partition_ids: partitions, search_params: searchParams, output_fields: columns,
        min_consumed_offset: offsets.get(channel) ?? 0, watermark: 0, deletes: Buffer.alloc(0),
        timeout_ms: router.nodeTimeoutMs(deadline), sparse_queries: sparseQueries, bm25_stats: bm25Stats, bm25_stats_only: false,
      }, { timeoutMs: router.nodeTimeoutMs(deadline) });
      return decodeBatch(res.hits);
    }),
  ));
  // The proxy keeps only hits inside the range itself too (a query node of an older version ignores it).
  const inRange = range ? parts.map((p) => keepInRange(p, range, metric)) : parts;
  return group ? mergeGroupHits(inRange, nq, topk, group, metric) : mergeHits(inRange, nq, topk, metric);
}

/** The output columns a search must fetch when its ranker reads a field (decay's input field) besides them. */
export function withRankInput(columns: string[], reranker: Reranker | undefined): string[] {
  const f = reranker?.inputField;
  return f && !columns.includes(f) ? [...columns, f] : columns;
}

/**
 * A score rounded as Milvus's search rounds it on the nodes when the search sets round_decimal (segcore, float32:
 * round(d * 10^n) / 10^n, halves away from zero). Rerankers see scores rounded so, as in Milvus.
 */
export function nodeRound(s: number, decimals: number): number {
  if (decimals < 0) return s;
  const m = Math.fround(10 ** decimals);
  const x = Math.fround(s * m);
  return Math.fround((Math.sign(x) * Math.round(Math.abs(x))) / m);
}

/** A merged search result split per query vector into the rankers' input (hits best first, `row` = batch row). */
export function rankLists(hits: ColumnBatch, nq: number, metric: string, roundDecimal: number): RankList[] {
  const lists: RankList[] = Array.from({ length: nq }, () => ({ metric, hits: [] }));
  const q = hits.columns.get(QUERY) as Extract<Column, { kind: 'int' }> | undefined;
  const s = hits.columns.get(SCORE) as Extract<Column, { kind: 'float' }> | undefined;
  const pk = hits.columns.get(PK);
  if (!q || !s || !pk) return lists;
  for (let i = 0; i < hits.numRows; i++) {
    // Scores travel as float32 (SearchResultData.scores); the rankers start from those values, as Milvus's do.
    lists[q.data[i]!]?.hits.push({ pk: pkAt(pk, i), score: Math.fround(nodeRound(s.data[i]!, roundDecimal)), row: i });
  }
  return lists;
}

/** Reads a numeric column of a hit batch (decay's input field) as numbers. */
export function numericValue(batch: ColumnBatch, name: string): (row: number) => number {
  const col = batch.columns.get(name);
  if (!col) return () => NaN;
  switch (col.kind) {
    case 'int':
    case 'float':
      return (row) => col.data[row]!;
    case 'int64':
      return (row) => Number(col.data[row]!);
    default:
      throw new KiteError('Internal', `column ${name} is ${col.kind}, not numeric`);
  }
}

export interface FusedOptions {
  nq: number;
  limit: number;
  offset: number;
  roundDecimal: number;
  reranker: Reranker;
}

/**
 * Fuses the hits of one or more searches (each `{ hits, metric, roundDecimal }`, merged per query) with a ranker and
 * builds the reply: per query the ranker's page of [offset, offset + limit), the output columns carried from the
 * search that first returned each hit.
 */
export function fusedResults(
  c: CollectionMeta,
  searches: { hits: ColumnBatch; metric: string; roundDecimal: number }[],
  opts: FusedOptions,
  out: Outputs,
  pkf: FieldMeta,
): MilvusResponse<'Search'> {
  const { nq, reranker } = opts;
  const perSearch = searches.map((s) => rankLists(s.hits, nq, s.metric, s.roundDecimal));
  const values = reranker.inputField ? searches.map((s) => numericValue(s.hits, reranker.inputField!)) : [];
  const value = (input: number, row: number): number => values[input]!(row);
  // Rows of the concatenated non-empty results: where each search's rows start.
  const nonEmpty: ColumnBatch[] = [];
  const base = searches.map((s) => {
    const at = nonEmpty.reduce((n, b) => n + b.numRows, 0);
    if (s.hits.numRows > 0) nonEmpty.push(s.hits);
    return at;
  });
  const pick: number[] = [];
  const scores: number[] = [];
  const topks: number[] = [];
  for (let qi = 0; qi < nq; qi++) {
    const ranked = reranker.rank(perSearch.map((lists) => lists[qi]!), opts, value);
    for (const h of ranked) {
      pick.push(base[h.input]! + h.row);
      scores.push(h.score);
    }
    topks.push(ranked.length);
  }
  const page: ColumnBatch = nonEmpty.length ? takeBatch(concatBatches(nonEmpty), pick) : { numRows: 0, columns: new Map() };
  const pkCol = page.columns.get(PK) ?? emptyColumn(pkf);
  return {
    status: OK,
    results: {
      num_queries: String(nq), top_k: String(opts.limit), fields_data: fieldData(c, page, out.columns, out.dynamicKeys),
      scores, ids: idsOf(pkCol), topks: topks.map(String), output_fields: out.names, primary_field_name: pkf.name, distances: [], recalls: [], all_search_count: String(page.numRows),
    },
    collection_name: c.name,
    session_ts: '0',
  };
}

/** A Search with a function_score: its hits (limit + offset per query) reranked, then paged. */
export function rerankedSearch(c: CollectionMeta, plan: SearchPlan, hits: ColumnBatch, out: Outputs, pkf: FieldMeta): MilvusResponse<'Search'> {
  const { nq, limit, offset, roundDecimal, metric } = plan;
  return fusedResults(c, [{ hits, metric, roundDecimal }], { nq, limit, offset, roundDecimal, reranker: plan.reranker! }, out, pkf);
}
