import { KiteError, clip } from '@kite/common';
import { encodeParams, templateParams, type Expr } from '@kite/expr';
import type { TemplateValue } from '@kite/proto';
import { beforeDeadline } from '@kite/rpc';
import { channelsOf, concatBatches, decodeBatch, emptyColumn, firstByPk, takeBatch, PK, SCORE, type CollectionMeta, type Column, type ColumnBatch, type FieldMeta, type KeyRange } from '@kite/segment';
import { counter, histogram } from '@kite/observe';
import { parseChannel } from '@kite/wal';
import type { Handlers, ProxyCore } from './core';
import { checkVectorReplySize, fieldData, idsOf, outputsOf, primaryField, withPrimaryKey } from './output';
import { exactGroupSearch, pageGroups, pageHits } from './grouping';
import { iteratorPage } from './iterator';
import { planQuery, planSearch } from './read-plan';
import { rerankedSearch, runSearch, withRankInput } from './search';
import { idsFilter, vectorsOfRows, type PrimaryKeys } from './search-ids';
import { keyPartitions, partitionKeyField, prunePartitions, refuseManualPartitions } from './partition-key';
import { OK } from './status';
import { onWal } from './wal';

const searchNq = histogram('kite_proxy_search_nq', 'query vectors per Search request', [], [1, 2, 5, 10, 20, 50, 100, 500, 1000]);
const searchTopk = histogram('kite_proxy_search_topk', 'limit + offset per Search request', [], [1, 5, 10, 20, 50, 100, 500, 1000, 16384]);

/**
 * A filter as the query nodes get it: the checked plan they compile, plus the text and its template parameters,
 * which only query nodes of the previous version read (they parse the text; this version reads `plan`).
 */
export interface ShippedFilter {
  text: string;
  params: string;
  plan: string;
}

const NO_FILTER: ShippedFilter = { text: '', params: '', plan: '' };

/**
 * Parses and checks a filter against the collection's schema once, here (or takes it from the proxy's filter cache), so that a bad filter fails on the proxy
 * rather than on every node, and the nodes get the checked plan instead of text to parse again.
 */
export function checkFilter(core: Pick<ProxyCore, 'filters'>, c: CollectionMeta, text: string, values: Record<string, TemplateValue> | null | undefined): { shipped: ShippedFilter; expr?: Expr } {
  const tparams = templateParams(values);
  if (!text) return { shipped: NO_FILTER };
  let checked: { expr: Expr; plan: string };
  try {
    checked = core.filters.check(c, text, tparams);
  } catch (e) {
    throw new KiteError('ExpressionInvalid', `cannot parse expression: ${clip(text, 512)}: ${(e as Error).message}`);
  }
  return { shipped: { text, params: encodeParams(tparams), plan: checked.plan }, expr: checked.expr };
}

export function ensureLoaded(c: CollectionMeta): NonNullable<CollectionMeta['load']> {
  if (!c.load) throw new KiteError('CollectionNotLoaded', `collection not loaded[collection=${c.name}]: call load_collection first`);
  return c.load;
}

/**
 * The partitions a read covers: the named ones, each of which must be loaded, or else every loaded partition
 * (an empty list means all, when the whole collection is loaded).
 */
export function readPartitions(core: ProxyCore, c: CollectionMeta, names: readonly string[] | undefined): number[] {
  const load = ensureLoaded(c);
  refuseManualPartitions(c, names);
  const loaded = load.all ? undefined : new Set(load.partitionIDs);
  if (names && names.length) {
    return names.map((n) => {
      const id = core.partitionID(c, n);
      if (loaded && !loaded.has(id)) throw new KiteError('CollectionNotLoaded', `partition not loaded[partition=${clip(n, 128)}]: load it first`);
      return id;
    });
  }
  return loaded ? [...loaded] : [];
}

/** Strong and Session reads wait until each delegator consumed the WAL up to its end as of now. */
export async function minOffsets(core: ProxyCore, c: CollectionMeta, level: string, deadline: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const strong = level === 'Strong' || level === 'Session';
  for (const ch of channelsOf(c)) {
    const ref = parseChannel(ch);
    out.set(ch, strong ? await onWal(ref, beforeDeadline(core.wal.endOffset(ref), deadline, 'end offset')) : 0);
  }
  return out;
}

export function consistency(c: CollectionMeta, r: { use_default_consistency: boolean; consistency_level: string | number }): string {
  if (r.use_default_consistency || !r.consistency_level) return c.consistencyLevel;
  return String(r.consistency_level);
}

export interface QueryRowsOptions {
  filter?: ShippedFilter;
  /** Output columns (stored names); none for a count or for primary keys alone. */
  columns?: string[];
  partitions: number[];
  /** Rows per channel, 0 = all. */
  limit?: number;
  countOnly?: boolean;
  level: string;
  deadline: number;
  orderByPk?: boolean;
}

/**
 * Runs a query on every channel and concatenates the rows; with `orderByPk` (a query with a limit) merges them in
 * primary-key order and keeps the first `limit`.
 */
export async function queryRows(core: ProxyCore, c: CollectionMeta, q: QueryRowsOptions): Promise<{ rows: ColumnBatch; count: number }> {
  const { filter = NO_FILTER, columns = [], partitions, limit = 0, countOnly = false, level, deadline, orderByPk = false } = q;
  ensureLoaded(c);
  const { router } = core;
  const offsets = await minOffsets(core, c, level, deadline);
  const res = await Promise.all(channelsOf(c).map((channel) =>
    router.onChannel(c, channel, deadline, async (n, leader) => {
      const x = await n.Query({
        collection_id: c.collectionID, channel, replica_id: leader.replica_id, delegator: true, segment_ids: [],
        filter: filter.text, filter_params: filter.params, filter_plan: filter.plan, partition_ids: partitions, output_fields: columns,
        limit, count_only: countOnly, min_consumed_offset: offsets.get(channel) ?? 0, watermark: 0,
        deletes: Buffer.alloc(0), timeout_ms: router.nodeTimeoutMs(deadline), order_by_pk: orderByPk,
      }, { timeoutMs: router.nodeTimeoutMs(deadline) });
      return { rows: x.rows.length ? decodeBatch(x.rows) : { numRows: 0, columns: new Map() }, count: x.count };
    }),
  ));
  const nonEmpty = res.map((x) => x.rows).filter((b) => b.numRows > 0);
  let rows: ColumnBatch = nonEmpty.length ? concatBatches(nonEmpty) : { numRows: 0, columns: new Map() };
  if (orderByPk) rows = firstByPk(rows, limit);
  return { rows, count: res.reduce((s, x) => s + x.count, 0) };
}

/** The query vectors of a search by primary keys: the stored vectors of those rows (search-ids.ts). */
async function idsVectors(core: ProxyCore, c: CollectionMeta, field: FieldMeta, ids: PrimaryKeys, partitions: number[], level: string, deadline: number): Promise<Buffer> {
  const { shipped } = checkFilter(core, c, idsFilter(primaryField(c), ids), undefined);
  const { rows } = await queryRows(core, c, { filter: shipped, columns: [field.name], partitions, level, deadline });
  return vectorsOfRows(rows, field, ids);
}

const keyReads = counter('kite_proxy_partition_key_reads_total', 'searches and queries on partition-key collections, by whether a filter on the key pruned partitions', ['collection', 'pruned']);
const keyPartitionsRead = counter('kite_proxy_partition_key_partitions_read_total', 'partitions covered by searches and queries on partition-key collections (after pruning)', ['collection']);

/** On a partition-key collection, the partitions a filter on the key leaves (partition-key.ts), counted. */
function keyPruned(c: CollectionMeta, expr: Expr | undefined, partitions: number[]): number[] {
  if (!partitionKeyField(c)) return partitions;
  const kept = prunePartitions(c, expr, partitions);
  const all = partitions.length ? partitions.length : keyPartitions(c).length;
  const n = kept.length === 0 ? all : kept.length === 1 && kept[0] === -1 ? 0 : kept.length;
  keyReads.inc({ collection: c.name, pruned: String(n < all) });
  keyPartitionsRead.inc({ collection: c.name }, n);
  return kept;
}

/** Search, Query and partition statistics: routed to the shard delegators (router.ts) and merged here. */
export function readHandlers(core: ProxyCore): Handlers {
  const { cfg } = core;
  return {
    async Search(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      ensureLoaded(c);
      const plan = planSearch(c, r, cfg.proxy.maxSearchResults);
      const { field, metric, limit, offset, topk, nq, roundDecimal, extras } = plan;
      const { group, iterator } = extras;
      if (plan.reranker && (group || iterator)) {
        throw new KiteError('ParameterInvalid', `function_score cannot be combined with ${group ? 'group_by_field' : 'a search iterator'} in Kite yet; remove one of them`);
      }
      const { shipped: filter, expr: parsed } = checkFilter(core, c, plan.filter, r.expr_template_values);
      const partitions = keyPruned(c, parsed, readPartitions(core, c, r.partition_names));
      const out = outputsOf(c, r.output_fields ?? [], true);
      const hitsPerQuery = iterator ? iterator.batch : topk * (group?.size ?? 1);
      checkVectorReplySize(c, out.columns, nq * hitsPerQuery, cfg.proxy.maxSendMessageBytes);
      const pkf = primaryField(c);
      withPrimaryKey(out, pkf.name);
      searchNq.observe(nq);
      searchTopk.observe(topk);
      const deadline = ctx.deadline;
      const level = consistency(c, r);
      const base = plan.ids ? { ...plan, vectors: await idsVectors(core, c, field, plan.ids, partitions, level, deadline) } : plan;
      const offsets = await minOffsets(core, c, level, deadline);
      // A grouping search needs the group field's value of every hit at every level; a ranker its input field.
      const columns = withRankInput(group && !out.columns.includes(group.field) ? [...out.columns, group.field] : out.columns, plan.reranker);
      // With `query`, searches that query vector alone.
      const search = (k: number, range: KeyRange | undefined, grouping = group, extraFilter?: string, query?: number): Promise<ColumnBatch> => {
        const shipped = extraFilter === undefined ? filter : checkFilter(core, c, plan.filter ? `(${plan.filter}) and (${extraFilter})` : extraFilter, r.expr_template_values).shipped;
        return runSearch(core, c, base, { filter: shipped, partitions, columns, offsets, deadline, k, range, group: grouping, query });
      };
      if (plan.reranker) return rerankedSearch(c, plan, await search(topk, extras.range), out, pkf);
      let page: ColumnBatch;
      let topks: number[];
      let iteratorResults: { token: string; last_bound: number } | undefined;
      if (iterator) {
        const res = await iteratorPage(search, metric, extras.range, iterator);
        page = res.page;
        topks = [page.numRows];
        iteratorResults = { token: iterator.token, last_bound: res.lastBound };
      } else {
        const merged = group
          ? await exactGroupSearch((k, g, extra, query) => search(k, extras.range, g, extra, query), nq, topk, group)
          : await search(topk, extras.range);
        ({ page, topks } = group ? pageGroups(merged, nq, limit, offset, group) : pageHits(merged, nq, limit, offset));
      }
      const scoreCol = page.columns.get(SCORE) as Extract<Column, { kind: 'float' }> | undefined;
      let scores = scoreCol ? Array.from(scoreCol.data) : [];
      if (roundDecimal >= 0) scores = scores.map((s) => Number(s.toFixed(roundDecimal)));
      const pkCol = page.columns.get(PK) ?? emptyColumn(pkf);
      return {
        status: OK,
        results: {
          num_queries: String(nq), top_k: String(limit), fields_data: fieldData(c, page, out.columns, out.dynamicKeys),
          scores, ids: idsOf(pkCol), topks: topks.map(String), output_fields: out.names, primary_field_name: pkf.name, distances: [], recalls: [], all_search_count: String(page.numRows),
          ...(group ? { group_by_field_value: fieldData(c, page, [group.field], [])[0] ?? null } : {}),
          ...(iteratorResults ? { search_iterator_v2_results: iteratorResults } : {}),
        },
        collection_name: c.name,
        session_ts: '0',
      };
    },

    async Query(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      ensureLoaded(c);
      const { limit, offset, filter: text, countOnly } = planQuery(r);
      const { shipped: filter, expr: parsed } = checkFilter(core, c, text, r.expr_template_values);
      const partitions = keyPruned(c, parsed, readPartitions(core, c, r.partition_names));
      const level = consistency(c, r);
      const deadline = ctx.deadline;
      if (countOnly) {
        const res = await queryRows(core, c, { filter, partitions, countOnly: true, level, deadline });
        return {
          status: OK, collection_name: c.name, output_fields: ['count(*)'],
          fields_data: [{ type: 'Int64', field_name: 'count(*)', field_id: '0', is_dynamic: false, valid_data: [], scalars: { long_data: { data: [String(res.count)] } } }],
        };
      }
      const pkf = primaryField(c);
      const requested = r.output_fields ?? [];
      const out = withPrimaryKey(outputsOf(c, requested.length ? requested : [pkf.name], true), pkf.name);
      const res = await queryRows(core, c, { filter, columns: out.columns, partitions, limit: limit > 0 ? limit + offset : 0, level, deadline, orderByPk: limit > 0 });
      let rows = res.rows;
      if (offset > 0 || (limit > 0 && rows.numRows > limit)) {
        const end = limit > 0 ? Math.min(rows.numRows, offset + limit) : rows.numRows;
        rows = takeBatch(rows, Array.from({ length: Math.max(0, end - offset) }, (_, i) => offset + i));
      }
      return { status: OK, collection_name: c.name, output_fields: out.names, fields_data: fieldData(c, rows, out.columns, out.dynamicKeys) };
    },

    async GetPartitionStatistics(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      const p = c.partitions.find((x) => x.name === r.partition_name);
      if (!p) throw new KiteError('PartitionNotFound', `partition not found[partition=${clip(String(r.partition_name), 128)}]`);
      const res = await queryRows(core, c, { partitions: [p.partitionID], countOnly: true, level: 'Strong', deadline: ctx.deadline });
      return { status: OK, stats: [{ key: 'row_count', value: String(res.count) }] };
    },
  };
}
