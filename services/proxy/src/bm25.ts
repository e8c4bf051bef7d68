import { termId } from '@kite/analyzer';
import { addTermStats, decodeTermStats, distinctTerms, encodeBm25Query, encodeSparseQueries, type TermStats } from '@kite/sparse';
import { channelsOf, type CollectionMeta, type SparseRow } from '@kite/segment';
import type { ProxyCore } from './core';
import type { SearchPlan } from './read-plan';

/**
 * BM25's collection-wide statistics for one search (see docs/architecture.md, "BM25 statistics"). Before the search
 * proper, every channel's delegator reports, for the query's terms, its live rows (growing and sealed, deletes
 * applied), their total length and each term's document frequency; their sum gives N, avgdl and df for the whole
 * collection, which the search then carries to every segment, so that a row scores the same wherever it lives.
 */
export async function collectionBm25(core: ProxyCore, c: CollectionMeta, plan: SearchPlan, partitions: number[], offsets: Map<string, number>, deadline: number): Promise<string> {
  const rows = plan.sparse ?? [];
  const terms = distinctTerms(rows);
  const index = c.indexes.find((i) => i.fieldName === plan.field.name);
  const k1 = Number(index?.params.bm25_k1 ?? 1.2);
  const b = Number(index?.params.bm25_b ?? 0.75);
  // Only the terms travel: the statistics request carries one query holding each distinct term once.
  const probe = encodeSparseQueries([{ indices: Uint32Array.from(terms), values: new Float32Array(terms.length).fill(1) }]);
  const { router } = core;
  const parts: TermStats[] = await Promise.all(channelsOf(c).map((channel) =>
    router.onChannel(c, channel, deadline, async (n, leader) => {
      const res = await n.Search({
        collection_id: c.collectionID, channel, replica_id: leader.replica_id, delegator: true, segment_ids: [], anns_field: plan.field.name,
        metric_type: 'BM25', topk: 1, nq: 1, vectors: Buffer.alloc(0), filter: '', filter_params: '', filter_plan: '',
        partition_ids: partitions, search_params: {}, output_fields: [], min_consumed_offset: offsets.get(channel) ?? 0, watermark: 0,
        deletes: Buffer.alloc(0), timeout_ms: router.nodeTimeoutMs(deadline), sparse_queries: probe, bm25_stats: '', bm25_stats_only: true,
      }, { timeoutMs: router.nodeTimeoutMs(deadline) });
      return decodeTermStats(res.bm25_stats ?? '');
    }),
  ));
  const total = addTermStats(parts, terms.length);
  return encodeBm25Query({
    k1, b, numDocs: total.numDocs, avgdl: total.numDocs > 0 ? total.sumDocLen / total.numDocs : 0,
    df: new Map(terms.map((t, i) => [t, total.df[i]!])),
  });
}

/** A text's terms as BM25's sparse vector: term id (the analyzer's uint32 hash) -> how often the term occurs. */
export function termFrequencies(terms: readonly string[]): SparseRow {
  const counts = new Map<number, number>();
  for (const t of terms) {
    const id = termId(t);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  const indices = Uint32Array.from([...counts.keys()].sort((a, b) => a - b));
  return { indices, values: Float32Array.from(indices, (i) => counts.get(i)!) };
}
