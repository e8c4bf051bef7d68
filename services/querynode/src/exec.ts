import { KiteError } from '@kite/common';
import { compareColumn } from '@kite/faiss';
import { answeredByScalarIndexes, decodeParams, decodePlan, evaluate, evaluateAsync, parseExpr, textIndexesOf, useNativeKernels, type ColumnBatch as ExprBatch, type ScalarIndex, type Expr, type SchemaInfo } from '@kite/expr';
import type { TermStats } from '@kite/sparse';
import type { AnnIndex, AnnQueries, AnnSearchParams } from './ann';
import { collectHits, type Collected, type SearchExtras } from './range';
import {
  absentFieldColumn, applyDefault, arrayForFilter, bitAnd, bitClear, bitCount, bitGet, bitmapAll, pkAt, pkOrder, PARTITION, PK, QUERY, SCORE, TS, takeBatch,
  type Column, type ColumnBatch, type FieldMeta,
} from '@kite/segment';
import type { TextIndexes } from './text-index';
import { countFilterKept, timeFilter } from './metrics';

// Filters compare whole columns with the faiss addon's native kernels (several times cheaper than the JavaScript
// loops over Int64 columns; the same bits).
useNativeKernels({ compareColumn });

/** Deletes: primary key -> the largest delete timestamp seen. A row is deleted when a delete is newer than it. */
export class DeleteSet {
  readonly map = new Map<bigint | string, bigint>();
  version = 0;

  add(pk: bigint | string, ts: bigint): void {
    const cur = this.map.get(pk);
    if (cur === undefined || ts > cur) {
      this.map.set(pk, ts);
      this.version++;
    }
  }

  addBatch(b: ColumnBatch): void {
    const pks = b.columns.get(PK);
    const ts = b.columns.get(TS) as Extract<Column, { kind: 'int64' }> | undefined;
    if (!pks || !ts) return;
    for (let i = 0; i < b.numRows; i++) this.add(pkAt(pks, i), ts.data[i]!);
  }

  get size(): number {
    return this.map.size;
  }

  toBatch(pkKind: 'int64' | 'string'): ColumnBatch {
    const keys = [...this.map.keys()];
    const ts = BigInt64Array.from(this.map.values());
    const pk: Column = pkKind === 'int64' ? { kind: 'int64', data: BigInt64Array.from(keys as bigint[]) } : { kind: 'string', data: keys as string[] };
    return { numRows: keys.length, columns: new Map<string, Column>([[PK, pk], [TS, { kind: 'int64', data: ts }]]) };
  }
}

/** Primary key -> row numbers, for applying deletes to a batch of rows. */
export class PkIndex {
  private readonly first = new Map<bigint | string, number>();
  private readonly more = new Map<bigint | string, number[]>();

  add(pk: bigint | string, row: number): void {
    if (!this.first.has(pk)) this.first.set(pk, row);
    else {
      const list = this.more.get(pk);
      if (list) list.push(row);
      else this.more.set(pk, [row]);
    }
  }

  addColumn(c: Column, base: number): void {
    if (c.kind === 'int64' || c.kind === 'string') for (let i = 0; i < c.data.length; i++) this.add(c.data[i]!, base + i);
  }

  has(pk: bigint | string): boolean {
    return this.first.has(pk);
  }

  rows(pk: bigint | string): number[] {
    const f = this.first.get(pk);
    if (f === undefined) return [];
    const more = this.more.get(pk);
    return more ? [f, ...more] : [f];
  }
}

/** Something a search or query runs over: a sealed segment or a delegator's growing rows. */
export interface RowSource {
  batch: ColumnBatch;
  pkIndex: PkIndex;
  index(field: string): AnnIndex | undefined;
  /** Rows this source may return before filters (growing: rows above the watermark); undefined = all. */
  baseMask(): Uint8Array | undefined;
  /** Resolves once pending changes to the rows (appends, compaction) are in place; absent when rows never change. */
  settle?(): Promise<void>;
  /** The source's text indexes (text_match / phrase_match), kept with its rows; absent: built per evaluation. */
  textIndexes?: TextIndexes;
  /** The source's scalar index over a field (sealed segments with a built index file); absent: filters scan. */
  scalarIndex?(field: string): ScalarIndex | undefined;
  /** Filter results kept per filter (sealed segments, whose rows never change); absent: evaluated every time. */
  filterBits?: FilterBitsCache;
}

/**
 * The bits a filter gave on one source whose rows never change (a sealed segment), kept by filter so that the same
 * filter sent again (a dashboard's, an application's fixed tenant filter) is not evaluated again over every row:
 * for `tag < 10` over 100,000 rows that evaluation was a third of the event loop's time per search. Keyed by the
 * node's compiled filter objects (QueryNode.expr keeps one per collection, schema and filter text, so the key
 * changes with the schema), least recently used out first, at most `max` per source; a source's entries go with it.
 * Only the filter's own bits are kept: partitions, the visibility cut and deletes are applied per request on a copy
 * (maskOf), so a delete or a truncate is never hidden by a kept result. Nothing is kept for a request whose filter
 * was compiled for it alone (Filters.exprShared false) or whose collection has fields with a default value (what
 * such a field reads is per request: Filters.defaults).
 */
export class FilterBitsCache {
  private readonly entries = new Map<Expr, Uint8Array>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(expr: Expr): Uint8Array | undefined {
    const bits = this.entries.get(expr);
    if (bits !== undefined) {
      this.entries.delete(expr);
      this.entries.set(expr, bits);
    }
    return bits;
  }

  set(expr: Expr, bits: Uint8Array): void {
    if (this.max <= 0) return;
    this.entries.delete(expr);
    this.entries.set(expr, bits);
    for (const old of this.entries.keys()) {
      if (this.entries.size <= this.max) break;
      this.entries.delete(old);
    }
  }
}

/** The filter fields of an internal Search or Query request. */
export interface FilterFields {
  filter: string;
  filter_params: string;
  filter_plan: string;
}

/**
 * The filter of a request, ready to evaluate (undefined: none). The proxy checks a filter once and sends its plan
 * (@kite/expr encodePlan), which is only compiled here. A request without a plan comes from a proxy of the previous
 * version, which sends the text alone: that text is parsed here, as that version's query nodes did (this fallback can
 * go once no such proxy is left). Errors are ExpressionInvalid, naming the problem.
 */
export function compileFilter(schema: SchemaInfo, r: FilterFields, maxLength: number): Expr | undefined {
  if (!r.filter.trim() && !r.filter_plan) return undefined;
  try {
    if (r.filter_plan) return decodePlan(r.filter_plan, schema, r.filter);
    return parseExpr(r.filter, schema, decodeParams(r.filter_params), { maxLength });
  } catch (err) {
    // The parser's message quotes the start of the expression (it may be a megabyte long).
    throw new KiteError('ExpressionInvalid', (err as Error).message);
  }
}

export interface Filters {
  expr?: Expr;
  /**
   * The expr object is the node's own compiled filter, the same object for every request with this filter text and
   * schema: its bits on a sealed segment may be kept under it (FilterBitsCache; not when `defaults` is set).
   */
  exprShared?: boolean;
  partitions?: Set<number>;
  deletes: DeleteSet[];
  /** Date.now() value after which evaluating the expression stops with DeadlineExceeded. */
  deadline?: number;
  /** Rows with a timestamp at or below this are invisible (truncate, collection TTL; see visibility.ts). */
  hiddenUpTo?: bigint;
  /** The collection's fields with a default value, by name (see columnOf); absent = none. */
  defaults?: ReadonlyMap<string, FieldMeta>;
}

/**
 * A column as the collection reads it. NULL slots of a field with a default value can only be rows written before
 * the field was added (inserts fill in the default), and those read the default; so does a batch without the column.
 * Any other absent column stays absent (NULL for the evaluator, filled in by the proxy on output).
 */
function columnOf(b: ColumnBatch, name: string, defaults: Filters['defaults']): Column | undefined {
  const c = b.columns.get(name);
  const field = defaults?.get(name);
  if (field === undefined) return c;
  return c ? applyDefault(c, field) : absentFieldColumn(field, b.numRows);
}

/**
 * A source's rows at one moment. A growing source replaces its batch (and on compaction its primary-key index)
 * rather than changing them, so a view stays consistent while the source moves on; its primary-key index only
 * gains rows past the view's batch, which are ignored.
 */
interface View {
  batch: ColumnBatch;
  pkIndex: PkIndex;
  base: Uint8Array | undefined;
  text: TextIndexes | undefined;
  scalar: ((field: string) => ScalarIndex | undefined) | undefined;
  kept: FilterBitsCache | undefined;
}

const viewOf = (src: RowSource): View => ({
  batch: src.batch, pkIndex: src.pkIndex, base: src.baseMask(), text: src.textIndexes,
  scalar: src.scalarIndex === undefined ? undefined : (field: string) => src.scalarIndex?.(field),
  kept: src.filterBits,
});

/** The view's rows as the expression evaluator reads them: columns, and the source's text indexes. */
function exprBatch(v: View, defaults: Filters['defaults']): ExprBatch {
  const { text, scalar } = v;
  return {
    numRows: v.batch.numRows,
    column: (name: string) => {
      const c = columnOf(v.batch, name, defaults);
      // Array fields: the evaluator reads the offsets and flat values in place.
      return (c?.kind === 'array' ? arrayForFilter(c) : c) as never;
    },
    ...(text === undefined ? {} : { textIndex: (field: string, analyzer: string) => text.get(v.batch, field, analyzer) }),
    ...(scalar === undefined
      ? {}
      : {
          scalarIndex: (field: string) => {
            const index = scalar(field);
            return index === undefined ? undefined : { index, firstRow: 0 };
          },
        }),
  };
}

/** Bits of the rows of `v` that pass the expression (undefined when there is none), computed in slices that yield. */
async function expressionBits(v: View, f: Filters): Promise<Uint8Array | undefined> {
  if (!f.expr) return undefined;
  const keep = f.exprShared === true && f.defaults === undefined ? v.kept : undefined;
  const kept = keep?.get(f.expr);
  if (kept !== undefined) {
    countFilterKept();
    return kept;
  }
  const bits = await evaluateBits(v, f.expr, f);
  keep?.set(f.expr, bits);
  return bits;
}

async function evaluateBits(v: View, expr: Expr, f: Filters): Promise<Uint8Array> {
  const text = textIndexesOf(expr);
  if (text.length > 0 && v.text !== undefined) await v.text.prepare(v.batch, text, f.deadline);
  const batch = exprBatch(v, f.defaults);
  const done = timeFilter(answeredByScalarIndexes(expr, batch) ? 'index' : 'scan');
  try {
    return await evaluateAsync(expr, batch, { deadline: f.deadline });
  } finally {
    done();
  }
}

/**
 * Calls `visit` with each set row of `mask` below `n`, ascending, until it returns false. Zero words (32 rows) are
 * skipped at once: the mask of a selective filter is mostly zero.
 */
export function forEachSetRow(mask: Uint8Array, n: number, visit: (row: number) => boolean | void): void {
  const words = (mask.byteOffset & 3) === 0 ? new Uint32Array(mask.buffer, mask.byteOffset, mask.length >>> 2) : undefined;
  const wordBytes = words === undefined ? 0 : words.length << 2;
  for (let byte = 0; byte < mask.length; byte++) {
    if (byte < wordBytes && (byte & 3) === 0 && words![byte >>> 2] === 0) {
      byte += 3;
      continue;
    }
    let bits = mask[byte]!;
    while (bits !== 0) {
      const low = bits & -bits;
      bits ^= low;
      const i = (byte << 3) + 31 - Math.clz32(low);
      if (i >= n || visit(i) === false) return;
    }
  }
}

/**
 * The rows of a view that pass partitions, the expression (its bits from expressionBits) and deletes. Read only:
 * when nothing hides a row it is the shared all-rows mask (allRows); callers that change a mask copy it first.
 */
function maskOf(v: View, f: Filters, exprBits: Uint8Array | undefined): Uint8Array {
  const n = v.batch.numRows;
  if (everyRow(v, f, exprBits)) return allRows(n);
  let mask: Uint8Array;
  if (v.base) mask = exprBits ? bitAnd(v.base.slice(), exprBits) : v.base.slice();
  else if (exprBits && exprBits.length === (n + 7) >> 3) {
    // A copy of the filter's bits (the evaluator may share them) instead of an all-set mask and a pass ANDing them
    // in; bits past the last row are cleared, as bitmapAll leaves them.
    mask = exprBits.slice();
    if (n & 7) mask[mask.length - 1]! &= (1 << (n & 7)) - 1;
  } else mask = exprBits ? bitAnd(bitmapAll(n), exprBits) : bitmapAll(n);
  const ts = v.batch.columns.get(TS) as Extract<Column, { kind: 'int64' }>;
  // Partitions and the visibility cut are checked on the rows still set only: a selective filter leaves few, and
  // most bytes of the mask zero.
  const parts = f.partitions;
  const cut = f.hiddenUpTo;
  if (parts !== undefined || cut !== undefined) {
    // A view that never held a row (a delegator of a collection whose rows all came from sealed segments, e.g. a
    // bulk import) has no columns at all: none of its rows is in any partition.
    const pcol = v.batch.columns.get(PARTITION) as Extract<Column, { kind: 'int64' }> | undefined;
    if (parts !== undefined && pcol === undefined) return new Uint8Array(mask.length);
    const p = parts === undefined ? undefined : pcol!.data;
    forEachSetRow(mask, n, (i) => {
      if ((p !== undefined && !parts!.has(Number(p[i]))) || (cut !== undefined && ts.data[i]! <= cut)) bitClear(mask, i);
    });
  }
  // Deletes: a row is gone when a delete of its key is newer than it. Walked from the cheaper side: every delete
  // (looking its rows up), or, when fewer rows are still set than there are deletes, every row set (looking its key
  // up). The channel's delete sets hold every delete it ever carried, so a small segment searched without a filter
  // must not pay for all of them either: a mixed workload's searches slowed down without bound as deletes piled up.
  const deletes = f.deletes.reduce((sum, d) => sum + d.size, 0);
  const pks = v.batch.columns.get(PK);
  if (deletes > 0 && pks !== undefined && bitCount(mask) < deletes) {
    forEachSetRow(mask, n, (i) => {
      const key = pkAt(pks, i);
      for (const d of f.deletes) {
        const dts = d.map.get(key);
        if (dts !== undefined && ts.data[i]! < dts) {
          bitClear(mask, i);
          break;
        }
      }
    });
  } else if (deletes > 0) {
    for (const d of f.deletes) {
      for (const [pk, dts] of d.map) {
        for (const row of v.pkIndex.rows(pk)) if (row < n && ts.data[row]! < dts) bitClear(mask, row);
      }
    }
  }
  return mask;
}

/** The rows of `src` that pass partitions, the expression and deletes, with the batch they refer to. */
export async function visibleRows(src: RowSource, f: Filters): Promise<{ batch: ColumnBatch; mask: Uint8Array }> {
  const v = viewOf(src);
  const bits = await expressionBits(v, f);
  return { batch: v.batch, mask: maskOf(v, f, bits) };
}

export interface SearchSpec {
  field: string;
  metric: string;
  k: number;
  nq: number;
  queries: AnnQueries;
  params: AnnSearchParams;
  outputs: string[];
  /** Range and grouping (range.ts); absent for a plain top-k search. */
  extras?: SearchExtras;
}

/**
 * Runs a top-k search over one source; returns hits ($query, $score, $pk, outputs). `onStart` is called at the
 * moment the search starts, synchronously with it: a delegator fans out to the sealed segments' nodes there, so
 * both sides see the same watermark.
 */
export async function searchSource(src: RowSource, spec: SearchSpec, f: Filters, onStart?: () => void): Promise<ColumnBatch> {
  // The row numbers the index returns must refer to the batch the mask was computed on, and the index must be
  // taken (and its search started) before the source can compact and free it. So the mask is computed on a view,
  // and the view is checked to be still the source's, with no yield between that check and the search. When a
  // growing source changed meanwhile (rows folded in, a new watermark, a compaction), the search waits for it to
  // settle and evaluates again; the third attempt evaluates without yielding.
  for (let attempt = 0; ; attempt++) {
    const v = viewOf(src);
    const bits = f.expr === undefined ? undefined : attempt < 2 ? await expressionBits(v, f) : evaluateNow(v, f.expr, f.defaults);
    if (src.batch === v.batch && src.pkIndex === v.pkIndex && src.baseMask() === v.base) {
      const hits = searchView(src, v, maskOf(v, f, bits), spec, f.deadline, f.defaults);
      onStart?.();
      return hits;
    }
    await src.settle?.();
  }
}

/** Nothing hides a row of the view: no filter, base mask, partition list, visibility cut or delete. */
function everyRow(v: View, f: Filters, exprBits: Uint8Array | undefined): boolean {
  return exprBits === undefined && v.base === undefined && f.partitions === undefined && f.hiddenUpTo === undefined && f.deletes.every((d) => d.size === 0);
}

/**
 * All-set masks by row count, shared (read only: maskOf's callers copy a mask before changing it), so that an
 * unfiltered read does not build and count a mask of every row per segment: about 15 us per 100,000 rows.
 */
const allMasks = new Map<number, Uint8Array>();

function allRows(n: number): Uint8Array {
  let m = allMasks.get(n);
  if (m === undefined) {
    if (allMasks.size >= 256) allMasks.clear();
    m = bitmapAll(n);
    allMasks.set(n, m);
  }
  return m;
}

/** The rows set in a mask of `n` rows from maskOf (the shared all-rows mask is not counted). */
function rowsSet(mask: Uint8Array, n: number): number {
  return mask === allMasks.get(n) ? n : bitCount(mask);
}

function evaluateNow(v: View, expr: Expr, defaults: Filters['defaults']): Uint8Array {
  return evaluate(expr, exprBatch(v, defaults));
}

async function searchView(src: RowSource, v: View, mask: Uint8Array, spec: SearchSpec, deadline?: number, defaults?: Filters['defaults']): Promise<ColumnBatch> {
  const batch = v.batch;
  const n = batch.numRows;
  if (n === 0) return { numRows: 0, columns: new Map() };
  const index = src.index(spec.field);
  // Every source with rows has an index per vector field until it is freed, so none here means the segment was
  // released while the search waited (moved to another node, or this node handing its work over as it stops):
  // retriable, so the proxy sends the search to another replica instead of failing it.
  if (!index) throw new KiteError('ReplicaNotAvailable', `the segment searched for field ${spec.field} was released during the search (moved off this node); retry on another replica`);
  if (index.metric !== spec.metric) {
    throw new KiteError('ParameterInvalid', `metric type not match: the index of field ${spec.field} uses ${index.metric}, the search asked for ${spec.metric}; search with ${index.metric} or rebuild the index`);
  }
  const count = rowsSet(mask, n);
  if (count === 0) return { numRows: 0, columns: new Map() };
  const k = Math.min(spec.k, count);
  const { rows, queryOf, scores } = spec.extras?.range || spec.extras?.group
    ? await collectHits({ index, queries: spec.queries, nq: spec.nq, k: spec.k, metric: spec.metric, params: spec.params, mask, numRows: n, count, extras: spec.extras, groupColumn: spec.extras.group && batch.columns.get(spec.extras.group.field), deadline })
    : await topk(index, mask, spec, k, count === n, count, n);
  const cols = new Map<string, Column>();
  cols.set(QUERY, { kind: 'int', data: Int32Array.from(queryOf) });
  cols.set(SCORE, { kind: 'float', data: Float32Array.from(scores) });
  const picked = takeBatch(projection(batch, [PK, ...spec.outputs], defaults), rows);
  for (const [name, c] of picked.columns) cols.set(name, c);
  return { numRows: rows.length, columns: cols };
}

/**
 * Distance terms (candidate rows x query floats) a search may compute on the event loop over a selective filter's
 * candidates instead of handing a pass over every row to the search threads: about a millisecond of work.
 */
const SYNC_EXACT_TERMS = 1 << 20;

/** The rows set in the first `n` bits of `mask`, ascending, when there are `count` of them. */
export function maskRows(mask: Uint8Array, n: number, count: number): Int32Array {
  const rows = new Int32Array(count);
  if (count === 0) return rows;
  let at = 0;
  forEachSetRow(mask, n, (i) => {
    rows[at++] = i;
    return at < count;
  });
  return at === count ? rows : rows.subarray(0, at);
}

async function topk(index: AnnIndex, mask: Uint8Array, spec: SearchSpec, k: number, all: boolean, count: number, n: number): Promise<Collected> {
  const queryFloats = spec.queries.kind === 'dense' ? spec.queries.data.length : 0;
  let res: { ids: BigInt64Array; distances: Float32Array } | undefined;
  // A selective filter: an exact search over its candidates on this thread (what the index's filtered search gives,
  // without a pass over every row and a hand-off to the search threads; see AnnIndex.searchRows).
  if (!all && index.searchRows !== undefined && queryFloats > 0 && count * queryFloats <= SYNC_EXACT_TERMS) {
    res = index.searchRows(spec.queries, k, maskRows(mask, n, count));
  }
  // The search starts (on the thread pool) before this returns; a compaction after it no longer affects it.
  res ??= await index.search(spec.queries, k, { params: spec.params, filter: all ? undefined : mask });
  const rows: number[] = [];
  const queryOf: number[] = [];
  const scores: number[] = [];
  for (let q = 0; q < spec.nq; q++) {
    for (let j = 0; j < k; j++) {
      const id = res.ids[q * k + j]!;
      if (id < 0n) continue;
      const row = Number(id);
      if (!bitGet(mask, row)) continue; // defensive: the index must honour the filter
      rows.push(row);
      queryOf.push(q);
      scores.push(res.distances[q * k + j]!);
    }
  }
  return { rows, queryOf, scores };
}

/**
 * BM25 statistics of a source's sparse field: its live rows (not deleted, not masked out as served elsewhere; the
 * search's filter and partitions do not apply, as the statistics are the collection's), their total length and the
 * document frequency of each term. Zeros for an empty source. Synchronous, like the start of a search: the view,
 * its mask and the index are taken together, so a delegator's fan-out right after it shares its watermark.
 */
export function termStatsOf(src: RowSource, field: string, terms: readonly number[], deletes: DeleteSet[], hiddenUpTo?: bigint): TermStats {
  const v = viewOf(src);
  if (v.batch.numRows === 0) return { numDocs: 0, sumDocLen: 0, df: terms.map(() => 0) };
  const index = src.index(field);
  if (!index?.termStats) throw new KiteError('IndexNotFound', `no sparse index on field ${field} for a loaded segment`);
  // Always with the mask: a growing index may already hold rows past the view's batch, which the mask leaves out.
  // Rows hidden by a truncate or the collection's TTL are not documents of the collection either.
  return index.termStats(terms, maskOf(v, hiddenUpTo === undefined ? { deletes } : { deletes, hiddenUpTo }, undefined));
}

/**
 * The named columns of a batch (absent ones, such as an empty dynamic field or a field added since, are skipped;
 * fields with a default value read it, see columnOf).
 */
export function projection(b: ColumnBatch, names: string[], defaults?: Filters['defaults']): ColumnBatch {
  const columns = new Map<string, Column>();
  for (const name of names) {
    const c = columnOf(b, name, defaults);
    if (c) columns.set(name, c);
  }
  return { numRows: b.numRows, columns };
}

/**
 * Filters rows for a query; returns the matching rows' output columns (with $pk) or just a count. With `orderByPk`
 * the rows are the `limit` matches with the smallest primary keys, in key order (a query with a limit); otherwise the
 * first `limit` matches in storage order.
 */
export async function querySource(src: RowSource, outputs: string[], f: Filters, limit: number, countOnly: boolean, orderByPk = false): Promise<{ rows: ColumnBatch; count: number }> {
  const { batch, mask } = await visibleRows(src, f);
  if (countOnly) return { rows: { numRows: 0, columns: new Map() }, count: rowsSet(mask, batch.numRows) };
  let idx: number[] = [];
  const capped = !orderByPk && limit > 0;
  forEachSetRow(mask, batch.numRows, (i) => {
    idx.push(i);
    return !(capped && idx.length >= limit);
  });
  // An empty growing source has no columns at all: nothing to order.
  if (orderByPk && idx.length > 0) idx = pkOrder(batch.columns.get(PK)!, idx, limit);
  return { rows: takeBatch(projection(batch, [PK, ...outputs], f.defaults), idx), count: idx.length };
}
