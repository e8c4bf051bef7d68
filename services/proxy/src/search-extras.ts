import { randomUUID } from 'node:crypto';
import { KiteError, clip } from '@kite/common';
import { higherIsBetter, inRange, scoreKey, takeBatch, GROUP_PARAM, RANGE_PARAM, SCORE, type CollectionMeta, type Column, type ColumnBatch, type GroupSpec, type KeyRange } from '@kite/segment';

/**
 * The parts of a search request beyond plain top-k, read as Milvus reads them: range search (radius,
 * range_filter), grouping search (group_by_field, group_size, strict_group_size) and the search iterator v2
 * (search_iter_v2, search_iter_batch_size, search_iter_last_bound, search_iter_id). Each may be set at the top level
 * of search_params (the Node SDK's group_* keys, pymilvus's search_iter_* keys) or inside `params` (radius).
 */
export interface SearchExtrasPlan {
  range?: KeyRange;
  group?: GroupSpec;
  iterator?: IteratorPlan;
}

export interface IteratorPlan {
  /** Hits per page. */
  batch: number;
  /** The score of the last hit of the previous page; absent on the first page. */
  lastBound?: number;
  /** The iterator's id, echoed back (a new one on the first call). */
  token: string;
}

/** Field types a grouping search may group by (Milvus's). */
const GROUPABLE = ['Bool', 'Int8', 'Int16', 'Int32', 'Int64', 'VarChar'];

const truthy = (v: unknown): boolean => v === true || (typeof v === 'string' && /^(true|1)$/i.test(v.trim())) || v === 1;
const present = (v: unknown): boolean => v !== undefined && v !== null && v !== '';

/** A float parameter, rounded to float32 as Milvus reads it (scores are float32: 0.2 must compare as 0.2f). */
function floatParam(name: string, raw: unknown): number {
  const v = Math.fround(typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN);
  if (!Number.isFinite(v)) throw new KiteError('ParameterInvalid', `search param ${name} must be a finite number, got ${clip(JSON.stringify(raw) ?? String(raw), 64)}`);
  return v;
}

function intIn(name: string, raw: unknown, min: number, max: number): number {
  const v = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(v) || v < min || v > max) throw new KiteError('ParameterInvalid', `search param ${name} must be an integer in [${min}, ${max}], got ${clip(JSON.stringify(raw) ?? String(raw), 64)}`);
  return v;
}

/**
 * Milvus's range: for L2 (smaller is better) hits with range_filter <= distance < radius; for IP, COSINE and BM25
 * (larger is better) radius < score <= range_filter. As keys (smaller is better, see scoreKey): scoreKey(range_filter)
 * <= key < scoreKey(radius) for every metric.
 */
export function rangeOf(metric: string, get: (k: string) => unknown): KeyRange | undefined {
  const rawRadius = get('radius');
  const rawFilter = get('range_filter');
  if (!present(rawRadius)) {
    if (present(rawFilter)) throw new KiteError('ParameterInvalid', 'search param range_filter needs radius: a range search is set by radius (and optionally range_filter); add radius or remove range_filter');
    return undefined;
  }
  const radius = floatParam('radius', rawRadius);
  const range: KeyRange = { hi: scoreKey(radius, metric), hiOpen: true };
  if (present(rawFilter)) {
    const rangeFilter = floatParam('range_filter', rawFilter);
    if (higherIsBetter(metric)) {
      if (radius >= rangeFilter) throw new KiteError('ParameterInvalid', `range_filter must be greater than radius for ${metric}, range_filter:${rangeFilter}, radius:${radius}`);
    } else if (radius <= rangeFilter) {
      throw new KiteError('ParameterInvalid', `range_filter must be less than radius for ${metric}, range_filter:${rangeFilter}, radius:${radius}`);
    }
    range.lo = scoreKey(rangeFilter, metric);
  }
  return range;
}

export function groupOf(c: CollectionMeta, get: (k: string) => unknown): GroupSpec | undefined {
  const rawField = get('group_by_field');
  if (!present(rawField)) {
    for (const k of ['group_size', 'strict_group_size']) {
      if (k === 'strict_group_size' ? truthy(get(k)) : present(get(k))) throw new KiteError('ParameterInvalid', `search param ${k} needs group_by_field: name the field to group by or remove ${k}`);
    }
    return undefined;
  }
  const name = String(rawField).trim();
  const field = c.fields.find((f) => f.name === name);
  if (!field) throw new KiteError('ParameterInvalid', `group_by_field ${clip(name, 128)} is not a field of ${c.name}`);
  if (!GROUPABLE.includes(field.dataType)) {
    throw new KiteError('ParameterInvalid', `group_by_field ${field.name} is a ${field.dataType} field: grouping search groups by ${GROUPABLE.join(', ')} fields only`);
  }
  // Milvus (nullable-and-default.md): a nullable field cannot be the group_by_field.
  if (field.nullable) throw new KiteError('ParameterInvalid', `group_by_field ${field.name} is nullable: grouping search cannot group by a nullable field; group by a field that is not nullable`);
  const size = present(get('group_size')) ? intIn('group_size', get('group_size'), 1, 1024) : 1;
  return { field: field.name, size, strict: truthy(get('strict_group_size')) };
}

export function iteratorOf(get: (k: string) => unknown, nq: number, limit: number, offset: number): IteratorPlan | undefined {
  if (!truthy(get('search_iter_v2'))) return undefined;
  if (nq !== 1) throw new KiteError('ParameterInvalid', `the search iterator takes exactly one query vector, got ${nq}; iterate one query at a time`);
  if (offset > 0) throw new KiteError('ParameterInvalid', 'offset is not supported by the search iterator: remove it');
  const batch = present(get('search_iter_batch_size')) ? intIn('search_iter_batch_size', get('search_iter_batch_size'), 1, 16384) : limit;
  const rawBound = get('search_iter_last_bound');
  const token = present(get('search_iter_id')) ? String(get('search_iter_id')) : randomUUID();
  const plan: IteratorPlan = { batch, token };
  if (present(rawBound)) plan.lastBound = floatParam('search_iter_last_bound', rawBound);
  return plan;
}

/** Reads range, grouping and iterator parameters; refuses combinations Kite does not serve. */
export function planExtras(c: CollectionMeta, get: (k: string) => unknown, metric: string, nq: number, limit: number, offset: number): SearchExtrasPlan {
  const out: SearchExtrasPlan = {};
  const range = rangeOf(metric, get);
  if (range) out.range = range;
  const group = groupOf(c, get);
  if (group) out.group = group;
  const iterator = iteratorOf(get, nq, limit, offset);
  if (iterator) {
    if (group) throw new KiteError('ParameterInvalid', 'the search iterator cannot be combined with group_by_field: remove one of them');
    out.iterator = iterator;
  }
  return out;
}

/** The key range of one iterator page: the request's range, after the previous page's last bound. */
export function iteratorRange(metric: string, base: KeyRange | undefined, lastBound: number | undefined): KeyRange {
  const r: KeyRange = { ...(base ?? {}) };
  if (lastBound === undefined) return r;
  const lo = scoreKey(lastBound, metric);
  if (r.lo === undefined || lo > r.lo) {
    r.lo = lo;
    r.loOpen = true;
  } else if (lo === r.lo) r.loOpen = true;
  return r;
}

/** The internal search_params entries that carry a range and a grouping to the query nodes. */
export function extrasParams(range: KeyRange | undefined, group: GroupSpec | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (range && Object.keys(range).length > 0) out[RANGE_PARAM] = JSON.stringify(range);
  if (group) out[GROUP_PARAM] = JSON.stringify(group);
  return out;
}

/**
 * The hits of a merged batch inside `range` (all of them without one). Query nodes already keep to the range; this
 * also holds when a node of an older version, which ignores the range parameter, answers.
 */
export function keepInRange(hits: ColumnBatch, range: KeyRange | undefined, metric: string): ColumnBatch {
  if (!range || hits.numRows === 0) return hits;
  const s = (hits.columns.get(SCORE) as Extract<Column, { kind: 'float' }> | undefined)?.data;
  if (!s) return hits;
  const keep: number[] = [];
  for (let i = 0; i < hits.numRows; i++) if (inRange(scoreKey(s[i]!, metric), range)) keep.push(i);
  return keep.length === hits.numRows ? hits : takeBatch(hits, keep);
}
