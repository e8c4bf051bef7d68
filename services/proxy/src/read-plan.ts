import { KiteError, clip } from '@kite/common';
import { FaissError, isIndexType, parseIntParam, validateSearchParams } from '@kite/faiss';
import { decodePlaceholderGroup, type KeyValuePair, type PlaceholderValue, type QueryRequest, type SearchRequest } from '@kite/proto';
import { annFields, halfBytesToF32, type CollectionMeta, type FieldMeta, type PackedType, type SparseRow } from '@kite/segment';
import { functionScoreOf, type Reranker } from './rerank';
import { sparseMetric, sparseQueries, sparseSearchParams } from './sparse-plan';
import { planExtras, type SearchExtrasPlan } from './search-extras';
import { searchIds, type PrimaryKeys } from './search-ids';

/** Milvus's bounds: at most 16384 query vectors per search, and limit + offset at most 16384 (search and query). */
export const MAX_NQ = 16384;
export const MAX_TOPK = 16384;

const kvs = (list: readonly KeyValuePair[] | undefined): Record<string, string> =>
  Object.fromEntries((list ?? []).map((p) => [p.key, p.value]));

const truthy = (v: unknown): boolean => v === true || (typeof v === 'string' && /^(true|1)$/i.test(v.trim())) || v === 1;
const present = (v: unknown): boolean => v !== undefined && v !== null && v !== '';

/**
 * Search parameters of Milvus that Kite does not implement yet, and the feature each belongs to. A search that sets
 * one is refused by name instead of answering as if it were absent. Flags count as set when true; the others when
 * present at all (top level, as the Node SDK also sends them, or inside `params`).
 */
const UNSUPPORTED_SEARCH_PARAMS: Record<string, { feature: string; flag?: boolean }> = {
  order_by_fields: { feature: 'ordering search results by fields' },
  ignore_growing: { feature: 'ignore_growing (searching sealed segments only)', flag: true },
};

/** Query parameters Kite does not implement yet (same rules). */
const UNSUPPORTED_QUERY_PARAMS: Record<string, { feature: string; flag?: boolean }> = {
  ignore_growing: { feature: 'ignore_growing (querying sealed segments only)', flag: true },
  timezone: { feature: 'Timestamptz fields' },
  time_fields: { feature: 'Timestamptz fields' },
  order_by_fields: { feature: 'ordering query results by fields' },
};

function refuseUnsupported(kind: 'search' | 'query', table: typeof UNSUPPORTED_SEARCH_PARAMS, ...sources: Record<string, unknown>[]): void {
  for (const src of sources) {
    for (const [key, value] of Object.entries(src)) {
      const spec = table[key];
      if (!spec || !(spec.flag ? truthy(value) : present(value))) continue;
      throw new KiteError('ParameterInvalid', `${kind} parameter "${key}" is not supported by Kite yet (${spec.feature}); remove it from the request`);
    }
  }
}

/**
 * An integer request parameter in [min, max], read as the SDKs send integers (faiss's parseIntParam: a number or a
 * string of decimal digits); `fallback` when absent. Names the parameter and the range otherwise.
 */
export function intParam(name: string, raw: unknown, min: number, max: number, fallback: number): number {
  try {
    return parseIntParam(name, raw, min, max) ?? fallback;
  } catch (e) {
    if (!(e instanceof FaissError)) throw e;
    throw new KiteError('ParameterInvalid', `${name} ${clip(JSON.stringify(raw), 64)} is invalid: it must be an integer in [${min}, ${max}]`);
  }
}

export interface SearchPlan {
  field: FieldMeta;
  metric: string;
  limit: number;
  offset: number;
  /** limit + offset: what each level keeps per query. */
  topk: number;
  nq: number;
  /** nq x dim float32s, little-endian (FloatVector fields; empty for sparse ones). */
  vectors: Buffer;
  /** SparseFloatVector fields: the nq query vectors. */
  sparse?: SparseRow[];
  filter: string;
  roundDecimal: number;
  /** Index search parameters for the query nodes (nprobe, ef), validated against the field's index. */
  searchParams: Record<string, string>;
  /** The request's function_score (rerank.ts), applied to the hits before paging. */
  reranker?: Reranker;
  /** Range, grouping and iterator (search-extras.ts). */
  extras: SearchExtrasPlan;
  /** Search by primary keys: the rows whose stored vectors are the queries (`vectors` is then empty). */
  ids?: PrimaryKeys;
}

/**
 * Validates a public SearchRequest against the collection and Milvus's limits and turns it into what the query nodes
 * need. Everything the request sets that Kite does not implement is refused here, by name.
 */
export function planSearch(c: CollectionMeta, r: SearchRequest, maxResults: number): SearchPlan {
  if (r.sub_reqs?.length) throw new KiteError('ParameterInvalid', 'search sub-requests (sub_reqs, a search over several vector fields) are not supported by Kite yet; send one search per field');
  if (r.highlighter) throw new KiteError('ParameterInvalid', 'highlighter (search result highlighting) is not supported by Kite yet; remove it from the request');
  const ids = searchIds(r);
  const sp = kvs(r.search_params);
  let params: Record<string, unknown> = {};
  if (sp.params) {
    try {
      const parsed: unknown = JSON.parse(sp.params);
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      params = parsed as Record<string, unknown>;
    } catch {
      throw new KiteError('ParameterInvalid', `search param "params" must be a JSON object, got ${clip(sp.params, 128)}`);
    }
  }
  if (params.params && typeof params.params === 'object') params = { ...params, ...(params.params as Record<string, unknown>) };
  refuseUnsupported('search', UNSUPPORTED_SEARCH_PARAMS, sp, params);

  const vecFields = annFields(c);
  const annsName = sp.anns_field || (vecFields.length === 1 ? vecFields[0]!.name : '');
  const field = vecFields.find((f) => f.name === annsName);
  if (!field) {
    throw new KiteError('ParameterInvalid', `anns_field "${clip(annsName, 128)}" is not a vector field of ${c.name}; name one of ${vecFields.map((f) => f.name).join(', ')}`);
  }
  const index = c.indexes.find((i) => i.fieldName === field.name);
  const requested = (sp.metric_type || String(params.metric_type ?? '')).toUpperCase();
  const sparse = field.dataType === 'SparseFloatVector';
  const binary = field.dataType === 'BinaryVector';
  const allowedMetrics = binary ? ['HAMMING', 'JACCARD'] : ['L2', 'IP', 'COSINE'];
  if (!sparse && requested && !allowedMetrics.includes(requested)) {
    throw new KiteError('ParameterInvalid', `metric_type ${clip(requested, 64)} is not supported for ${field.dataType} field ${field.name}: use ${allowedMetrics.join(', ')}`);
  }
  if (!sparse && requested && index && requested !== index.metricType) {
    throw new KiteError('ParameterInvalid', `metric type not match: the index on ${field.name} uses ${index.metricType}, the search asks for ${requested}; search with ${index.metricType} or leave metric_type empty`);
  }
  const metric = sparse ? sparseMetric(c, field, requested) : requested || index?.metricType || (binary ? 'HAMMING' : 'COSINE');
  const limit = intParam('limit (topk)', sp.topk ?? sp.limit ?? 10, 1, MAX_TOPK, 10);
  const offset = intParam('offset', sp.offset ?? params.offset, 0, MAX_TOPK, 0);
  if (limit + offset > MAX_TOPK) throw new KiteError('ParameterInvalid', `offset + limit is ${offset + limit}: it must be at most ${MAX_TOPK}`);
  const roundDecimal = intParam('round_decimal', sp.round_decimal, -1, 6, -1);
  const get = (k: string): unknown => params[k] ?? sp[k];
  const filter = (r.dsl ?? '').trim();
  if (sparse) {
    if (ids) throw new KiteError('ParameterInvalid', `search by primary keys (ids) on the SparseFloatVector field ${field.name} is not supported by Kite yet; send the query vectors or texts in data instead`);
    const ph = onePlaceholder(r.placeholder_group);
    const extras = planExtras(c, get, metric, (ph.values ?? []).length, limit, offset);
    checkNq((ph.values ?? []).length, r, limit, offset, extras, maxResults);
    const queries = sparseQueries(c, field, ph);
    return {
      field, metric, limit, offset, topk: limit + offset, nq: queries.length, vectors: Buffer.alloc(0), sparse: queries,
      filter, roundDecimal, searchParams: sparseSearchParams(field, params, sp), reranker: searchReranker(c, r), extras,
    };
  }

  const dim = Number(field.typeParams.dim);
  const { nq, vectors } = ids ? { nq: ids.values.length, vectors: Buffer.alloc(0) } : binary ? binaryQueries(r, field, dim) : denseQueries(r, field, dim);
  const extras = planExtras(c, get, metric, nq, limit, offset);
  if (ids) checkHits(nq, limit, offset, extras, maxResults);
  else checkNq(nq, r, limit, offset, extras, maxResults);

  const searchParams: Record<string, string> = {};
  for (const k of ['nprobe', 'ef']) if (present(params[k] ?? sp[k])) searchParams[k] = String(params[k] ?? sp[k]);
  if (binary && searchParams.nprobe !== undefined) {
    try {
      parseIntParam('nprobe', searchParams.nprobe, 1, 65536);
    } catch (e) {
      if (e instanceof FaissError) throw new KiteError('ParameterInvalid', `search params for the ${index?.indexType ?? 'BinaryVector'} index on ${field.name}: ${e.message}`);
      throw e;
    }
  }
  if (index && isIndexType(index.indexType)) {
    try {
      // A range search and the iterator ask the index for as many rows as they need, and the index raises ef to the
      // k it is asked for (a search iterator's batch is not bounded by ef).
      validateSearchParams(index.indexType, extras.range || extras.iterator ? 1 : limit + offset, searchParams);
    } catch (e) {
      if (e instanceof FaissError) throw new KiteError('ParameterInvalid', `search params for the ${index.indexType} index on ${field.name}: ${e.message}`);
      throw e;
    }
  }
  const plan: SearchPlan = { field, metric, limit, offset, topk: limit + offset, nq, vectors, filter, roundDecimal, searchParams, reranker: searchReranker(c, r), extras };
  if (ids) plan.ids = ids;
  return plan;
}

/** The query vectors of a search on a BinaryVector field: dim/8 bytes each, as sent (placeholder type BinaryVector). */
function binaryQueries(r: SearchRequest, field: FieldMeta, dim: number): { nq: number; vectors: Buffer } {
  const ph = onePlaceholder(r.placeholder_group);
  if (ph.type !== 'BinaryVector' && ph.type !== 100) {
    throw new KiteError('ParameterInvalid', `placeholder type ${String(ph.type)} does not match field ${field.name} (BinaryVector): send binary vectors (${dim / 8} bytes each)`);
  }
  const values: Buffer[] = (ph.values ?? []) as Buffer[];
  const nq = values.length;
  if (nq === 0) throw new KiteError('ParameterInvalid', 'the search has no query vectors (placeholder_group is empty)');
  if (nq > MAX_NQ) throw new KiteError('ParameterInvalid', `nq (number of query vectors) is ${nq}: it must be at most ${MAX_NQ}; split the search`);
  const width = dim / 8;
  values.forEach((v, i) => {
    if (v.length !== width) throw new KiteError('DimensionMismatch', `query vector ${i} has dimension ${v.length * 8}, but field ${field.name} has dim ${dim}`);
  });
  return { nq, vectors: Buffer.concat(values) };
}

/** Placeholder types (PlaceholderType enum) of dense query vectors: name, number, bytes per element. */
const DENSE_PLACEHOLDERS = { FloatVector: [101, 4], Float16Vector: [102, 2], BFloat16Vector: [103, 2], Int8Vector: [105, 1] } as const;

/** The placeholder types a dense field accepts: its own, and float32 queries on a half-precision field. */
function placeholderOf(ph: PlaceholderValue, field: FieldMeta): keyof typeof DENSE_PLACEHOLDERS | undefined {
  const want = field.dataType as keyof typeof DENSE_PLACEHOLDERS;
  const accepted = want === 'FloatVector' || want === 'Int8Vector' ? [want] : [want, 'FloatVector' as const];
  return accepted.find((t) => ph.type === t || ph.type === DENSE_PLACEHOLDERS[t][0]);
}

/**
 * The query vectors a request carries in its placeholder group, checked against the dense field, as float32 (the
 * elements of Float16Vector and BFloat16Vector queries widened exactly).
 */
function denseQueries(r: SearchRequest, field: FieldMeta, dim: number): { nq: number; vectors: Buffer } {
  const ph = onePlaceholder(r.placeholder_group);
  const type = placeholderOf(ph, field);
  if (!type) {
    const send = field.dataType === 'FloatVector' ? 'float vectors' : field.dataType === 'Int8Vector' ? 'Int8Vector vectors' : `${field.dataType} or float vectors`;
    throw new KiteError('ParameterInvalid', `placeholder type ${String(ph.type)} does not match field ${field.name} (${field.dataType}): send ${send}`);
  }
  const width = DENSE_PLACEHOLDERS[type][1];
  const values: Buffer[] = (ph.values ?? []) as Buffer[];
  const nq = values.length;
  if (nq === 0) throw new KiteError('ParameterInvalid', 'the search has no query vectors (placeholder_group is empty)');
  if (nq > MAX_NQ) throw new KiteError('ParameterInvalid', `nq (number of query vectors) is ${nq}: it must be at most ${MAX_NQ}; split the search`);
  const vectors = Buffer.alloc(nq * dim * 4);
  values.forEach((v, i) => {
    if (v.length !== dim * width) throw new KiteError('DimensionMismatch', `query vector ${i} has dimension ${v.length / width}, but field ${field.name} has dim ${dim}`);
    if (width === 4) v.copy(vectors, i * dim * 4);
    else {
      const f = halfBytesToF32(type as PackedType, v);
      Buffer.from(f.buffer, f.byteOffset, f.byteLength).copy(vectors, i * dim * 4);
    }
  });
  const qv = new Float32Array(vectors.buffer, vectors.byteOffset, nq * dim);
  for (let i = 0; i < qv.length; i++) {
    if (!Number.isFinite(qv[i]!)) throw new KiteError('ParameterInvalid', `query vector ${Math.floor(i / dim)} holds ${qv[i]}: vector values must be finite numbers`);
  }
  return { nq, vectors };
}

/** The reranker of a search's function_score (one search: at most one weight), if any. */
function searchReranker(c: CollectionMeta, r: SearchRequest): Reranker | undefined {
  const reranker = functionScoreOf(c, r.function_score);
  if (reranker?.inputs !== undefined && reranker.inputs !== 1) {
    throw new KiteError('ParameterInvalid', `the length of weights param mismatch with ann search requests: ${reranker.inputs} weights for 1 search; a search takes one weight`);
  }
  return reranker;
}

/** The one placeholder of a search (the query vectors or texts). */
function onePlaceholder(bytes: Uint8Array | null | undefined): PlaceholderValue {
  let group: ReturnType<typeof decodePlaceholderGroup>;
  try {
    group = decodePlaceholderGroup(bytes ?? Buffer.alloc(0));
  } catch (e) {
    throw new KiteError('ParameterInvalid', `placeholder_group is not a valid serialized PlaceholderGroup: ${clip((e as Error).message, 128)}`);
  }
  const placeholders = group.placeholders ?? [];
  if (placeholders.length !== 1) throw new KiteError('ParameterInvalid', `placeholder_group must hold exactly one placeholder (the query vectors), got ${placeholders.length}`);
  return placeholders[0]!;
}

/** Milvus's bounds on the number of queries of a search, and Kite's on the hits it returns. */
function checkNq(nq: number, r: SearchRequest, limit: number, offset: number, extras: SearchExtrasPlan, maxResults: number): void {
  if (nq === 0) throw new KiteError('ParameterInvalid', 'the search has no query vectors (placeholder_group is empty)');
  if (nq > MAX_NQ) throw new KiteError('ParameterInvalid', `nq (number of query vectors) is ${nq}: it must be at most ${MAX_NQ}; split the search`);
  const declaredNq = Number(r.nq ?? 0);
  if (declaredNq !== 0 && declaredNq !== nq) throw new KiteError('ParameterInvalid', `nq is ${String(r.nq)} but the request carries ${nq} query vectors; they must agree`);
  checkHits(nq, limit, offset, extras, maxResults);
}

/** One search returns at most `maxResults` hits (with grouping: groups x group_size; an iterator: a batch). */
function checkHits(nq: number, limit: number, offset: number, extras: SearchExtrasPlan, maxResults: number): void {
  const perQuery = extras.iterator ? extras.iterator.batch + 1 : (limit + offset) * (extras.group?.size ?? 1);
  if (nq * perQuery > maxResults) {
    throw new KiteError('ParameterInvalid', `nq x (limit + offset)${extras.group ? ' x group_size' : ''} is ${nq * perQuery}: one search returns at most ${maxResults} hits (proxy.maxSearchResults); send fewer queries per request or a smaller limit`);
  }
}

export interface QueryPlan {
  /**
   * 0 = no limit. A query with a limit returns the matching rows with the smallest primary keys, in key order, as
   * Milvus does: every SDK's query iterator pages with `pk > last` and relies on it (pymilvus also sends
   * `iterator`/`reduce_stop_for_best`, the Node SDK nothing).
   */
  limit: number;
  offset: number;
  filter: string;
  countOnly: boolean;
}

/** Validates a public QueryRequest's paging and parameters (the filter is parsed by the caller). */
export function planQuery(r: QueryRequest): QueryPlan {
  const qp = kvs(r.query_params);
  refuseUnsupported('query', UNSUPPORTED_QUERY_PARAMS, qp);
  const limit = intParam('limit', qp.limit, 1, MAX_TOPK, 0);
  const offset = intParam('offset', qp.offset, 0, MAX_TOPK, 0);
  if (offset > 0 && limit === 0) throw new KiteError('ParameterInvalid', 'offset needs a limit: pass limit as well');
  if (limit + offset > MAX_TOPK) throw new KiteError('ParameterInvalid', `offset + limit is ${offset + limit}: it must be at most ${MAX_TOPK}`);
  const filter = (r.expr ?? '').trim();
  const requested: string[] = r.output_fields ?? [];
  const countOnly = requested.some((f) => f.replace(/\s/g, '').toLowerCase() === 'count(*)');
  if (countOnly && (limit > 0 || offset > 0)) throw new KiteError('ParameterInvalid', 'count(*) cannot be combined with limit or offset: remove them');
  if (!filter && !countOnly && limit <= 0) throw new KiteError('ParameterInvalid', 'empty expression should be used with limit: pass a filter or a limit');
  return { limit, offset, filter, countOnly };
}
