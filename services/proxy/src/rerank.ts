/**
 * Rerankers of hybrid search and of `function_score`, with Milvus 2.6's scores (internal/util/function/rerank):
 *
 * - rrf: sum over the sub-searches that returned a hit of 1 / (k + rank), rank counted from 1, k in (0, 16384),
 *   default 60; best first.
 * - weighted: sum of weight_i * f_i(score_i). With norm_score, f normalises by metric: COSINE (1 + s) / 2,
 *   IP 0.5 + atan(s) / pi, BM25 2 * atan(s) / pi, L2 (and any other distance) 1 - 2 * atan(d) / pi; best first.
 *   Without it, f is the identity, except that when larger-is-better and smaller-is-better metrics are mixed, the
 *   distances are turned around with 1 - 2 * atan(d) / pi; the order is then ascending only when every sub-search
 *   is L2 (smaller is better), descending otherwise. Weights must lie in [0, 1], one per sub-search.
 * - decay: the best score of a hit among the sub-searches (L2 distances first turned into 1 - 2 * atan(d) / pi),
 *   times a decay factor of a numeric field's value: gauss exp(ln(decay) * d^2 / scale^2), exp
 *   exp(ln(decay) / scale * d), linear max(decay, 1 - (1 - decay) / scale * d), where
 *   d = max(0, |value - origin| - offset); best first. (Milvus's documentation says linear decay reaches 0; its
 *   source floors it at `decay`, which is what Milvus returns and what this does.)
 *
 * Milvus computes these in float32; so does this module (Math.fround after each step), so that scores and the order
 * of near ties agree with Milvus. Ties are broken by primary key, ascending. The fused list is cut to offset + limit
 * and the page [offset, offset + limit) returned, scores rounded half up to round_decimal places when it is set.
 */
import { KiteError, clip } from '@kite/common';
import type { FunctionScore, FunctionSchema, KeyValuePair } from '@kite/proto';
import type { CollectionMeta } from '@kite/segment';

const f32 = Math.fround;

/** A primary key as hits carry it. */
export type RankKey = bigint | string;

/** One sub-search's hits for one query vector, best first, as the search returned them. */
export interface RankList {
  metric: string;
  /** `row` is the hit's index in the sub-search's own result (to carry its output fields). */
  hits: { pk: RankKey; score: number; row: number }[];
}

/** A fused hit: its key, fused score, and where it was first seen (sub-search `input`, its `row`). */
export interface Ranked {
  pk: RankKey;
  score: number;
  input: number;
  row: number;
}

export interface RankPage {
  limit: number;
  offset: number;
  /** -1: scores as computed. */
  roundDecimal: number;
}

export interface Reranker {
  readonly name: 'rrf' | 'weighted' | 'decay';
  /** A numeric field whose value each hit needs (decay's input field). */
  readonly inputField?: string;
  /** Sub-searches this ranker expects (weighted: one weight each); undefined when any number will do. */
  readonly inputs?: number;
  /** Fuses the sub-searches' hits of one query; `value(input, row)` reads `inputField` of a hit. */
  rank(lists: RankList[], page: RankPage, value?: (input: number, row: number) => number): Ranked[];
}

/** Larger-is-better metrics, as Milvus's classifyMetricsOrder counts them. */
export function largerIsBetter(metric: string): boolean {
  const m = metric.toUpperCase();
  return m === 'IP' || m === 'COSINE' || m === 'BM25';
}

/** A distance turned into a larger-is-better score in (0, 1]: 1 - 2 * atan(d) / pi. */
export function distanceToScore(d: number): number {
  return f32(1 - f32(f32(2 * f32(Math.atan(d))) / f32(Math.PI)));
}

/** The weighted ranker's normalisation of a score by metric (norm_score true). */
export function normalizeScore(metric: string, s: number): number {
  switch (metric.toUpperCase()) {
    case 'COSINE':
      return f32(f32(1 + s) * 0.5);
    case 'IP':
      return f32(0.5 + f32(f32(Math.atan(s)) / f32(Math.PI)));
    case 'BM25':
      return f32(f32(2 * f32(Math.atan(s))) / f32(Math.PI));
    default:
      return distanceToScore(s);
  }
}

/** Milvus's rounding of fused scores: floor(s * 10^n + 0.5) / 10^n, as float32. */
export function roundScore(s: number, decimals: number): number {
  if (decimals < 0) return s;
  const m = 10 ** decimals;
  return f32(Math.floor(s * m + 0.5) / m);
}

const compareKeys = (a: RankKey, b: RankKey): number => (a < b ? -1 : a > b ? 1 : 0);

/** Sorts fused scores (ties by key, ascending), cuts to offset + limit and returns the page, rounded. */
function pageOf(scores: Map<RankKey, number>, first: Map<RankKey, { input: number; row: number }>, descending: boolean, page: RankPage): Ranked[] {
  const keys = [...scores.keys()];
  keys.sort((a, b) => {
    const sa = scores.get(a)!;
    const sb = scores.get(b)!;
    if (sa === sb) return compareKeys(a, b);
    return descending ? sb - sa : sa - sb;
  });
  const end = Math.min(keys.length, page.offset + page.limit);
  const out: Ranked[] = [];
  for (let i = page.offset; i < end; i++) {
    const pk = keys[i]!;
    const at = first.get(pk)!;
    out.push({ pk, score: roundScore(scores.get(pk)!, page.roundDecimal), input: at.input, row: at.row });
  }
  return out;
}

/** Accumulates `term(list, position, hit)` per key over every list, remembering where each key was first seen. */
function accumulate(lists: RankList[], term: (list: number, position: number, score: number) => number) {
  const scores = new Map<RankKey, number>();
  const first = new Map<RankKey, { input: number; row: number }>();
  lists.forEach((list, i) => {
    list.hits.forEach((h, position) => {
      const t = term(i, position, h.score);
      const prev = scores.get(h.pk);
      if (prev === undefined) {
        scores.set(h.pk, t);
        first.set(h.pk, { input: i, row: h.row });
      } else scores.set(h.pk, f32(prev + t));
    });
  });
  return { scores, first };
}

export const RRF_DEFAULT_K = 60;
export const RRF_MAX_K = 16384;

export function rrfRanker(k: number = RRF_DEFAULT_K): Reranker {
  if (!Number.isFinite(k) || k <= 0 || k >= RRF_MAX_K) {
    throw new KiteError('ParameterInvalid', `rank param k ${clip(String(k), 32)} is invalid: it must be a number in (0, ${RRF_MAX_K}); the default is ${RRF_DEFAULT_K}`);
  }
  const kk = f32(k);
  return {
    name: 'rrf',
    rank(lists, page) {
      const { scores, first } = accumulate(lists, (_i, position) => f32(1 / f32(kk + (position + 1))));
      return pageOf(scores, first, true, page);
    },
  };
}

export function weightedRanker(weights: number[], normScore: boolean): Reranker {
  if (weights.length === 0) throw new KiteError('ParameterInvalid', 'rank param weights is missing or empty: give one weight in [0, 1] per search request');
  weights.forEach((w, i) => {
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0 || w > 1) {
      throw new KiteError('ParameterInvalid', `rank param weights[${i}] is ${clip(JSON.stringify(w), 32)}: each weight must be a number in [0, 1]`);
    }
  });
  const ws = weights.map(f32);
  return {
    name: 'weighted',
    inputs: weights.length,
    rank(lists, page) {
      if (lists.length !== ws.length) {
        throw new KiteError('ParameterInvalid', `the length of weights param mismatch with ann search requests: ${ws.length} weights for ${lists.length} search requests; give one weight per request`);
      }
      const larger = lists.filter((l) => largerIsBetter(l.metric)).length;
      const mixed = larger > 0 && larger < lists.length;
      const norm = lists.map((l) => {
        if (normScore) return (s: number) => normalizeScore(l.metric, s);
        if (mixed && !largerIsBetter(l.metric)) return distanceToScore;
        return (s: number) => f32(s);
      });
      const { scores, first } = accumulate(lists, (i, _p, s) => f32(ws[i]! * norm[i]!(s)));
      return pageOf(scores, first, normScore || mixed || larger === lists.length, page);
    },
  };
}

export type DecayKind = 'gauss' | 'exp' | 'linear';

export interface DecayParams {
  function: DecayKind;
  origin: number;
  scale: number;
  offset: number;
  decay: number;
}

/** The decay factor of a value: 1 within `offset` of `origin`, `decay` at `scale` beyond that. */
export function decayFactor(p: DecayParams, value: number): number {
  const d = Math.max(0, Math.abs(value - p.origin) - p.offset);
  switch (p.function) {
    case 'gauss':
      return Math.exp((d * d) / ((p.scale * p.scale) / Math.log(p.decay)));
    case 'exp':
      return Math.exp((Math.log(p.decay) / p.scale) * d);
    case 'linear':
      return Math.max(p.decay, 1 - ((1 - p.decay) / p.scale) * d);
  }
}

export function decayRanker(field: string, p: DecayParams): Reranker {
  return {
    name: 'decay',
    inputField: field,
    rank(lists, page, value) {
      if (!value) throw new KiteError('Internal', `the decay ranker needs the values of ${field}`);
      const best = new Map<RankKey, number>();
      const first = new Map<RankKey, { input: number; row: number }>();
      const factor = new Map<RankKey, number>();
      lists.forEach((list, i) => {
        const larger = largerIsBetter(list.metric);
        for (const h of list.hits) {
          const s = larger ? f32(h.score) : distanceToScore(h.score);
          const prev = best.get(h.pk);
          if (prev === undefined) {
            best.set(h.pk, s);
            first.set(h.pk, { input: i, row: h.row });
            factor.set(h.pk, f32(decayFactor(p, value(i, h.row))));
          } else if (s > prev) best.set(h.pk, s);
        }
      });
      const scores = new Map<RankKey, number>();
      for (const [pk, s] of best) scores.set(pk, f32(factor.get(pk)! * s));
      return pageOf(scores, first, true, page);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing: function_score (Milvus 2.6) and the legacy rank_params of HybridSearch

const NUMERIC = new Set(['Int8', 'Int16', 'Int32', 'Int64', 'Float', 'Double']);

/** Go's strconv.ParseBool, which Milvus parses norm_score with. */
function parseBool(name: string, v: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  throw new KiteError('ParameterInvalid', `${name} must be true or false, got ${clip(v, 32)}`);
}

/** A decimal number parameter (Go's strconv.ParseFloat). */
function parseNumber(name: string, v: string): number {
  const n = v.trim() === '' ? NaN : Number(v);
  if (!Number.isFinite(n)) throw new KiteError('ParameterInvalid', `${name} must be a number, got ${clip(JSON.stringify(v), 64)}`);
  return n;
}

function parseWeights(v: string): number[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed)) throw new KiteError('ParameterInvalid', `rank param weights must be a JSON array of numbers in [0, 1], got ${clip(v, 64)}`);
  return parsed as number[];
}

const isRerankType = (t: unknown): boolean => t === 3 || t === 'Rerank';

/** One Rerank function of a FunctionScore as a Reranker; refuses what Kite does not run, by name. */
function rerankerOf(c: CollectionMeta, fn: FunctionSchema): Reranker {
  const label = `rerank function ${clip(JSON.stringify(fn.name ?? ''), 64)}`;
  if (!isRerankType(fn.type)) {
    throw new KiteError('ParameterInvalid', `${label} has type ${clip(String(fn.type), 32)}: a function_score takes functions of type Rerank only`);
  }
  if (fn.output_field_names?.length) throw new KiteError('ParameterInvalid', `${label}: a rerank function has no output fields, remove output_field_names`);
  const params = new Map<string, string>();
  for (const kv of fn.params ?? []) params.set(kv.key.toLowerCase(), kv.value);
  const name = (params.get('reranker') ?? '').toLowerCase();
  const inputs = fn.input_field_names ?? [];
  const allowed = (keys: string[]): void => {
    for (const k of params.keys()) {
      if (k !== 'reranker' && !keys.includes(k)) {
        throw new KiteError('ParameterInvalid', `${label}: unknown param "${clip(k, 64)}" for the ${name} reranker; it takes ${keys.join(', ')}`);
      }
    }
  };
  const noInputs = (): void => {
    if (inputs.length) throw new KiteError('ParameterInvalid', `${label}: the ${name} reranker takes no input fields, got ${clip(inputs.join(', '), 128)}`);
  };
  switch (name) {
    case 'rrf': {
      allowed(['k']);
      noInputs();
      const k = params.has('k') ? parseNumber('rank param k', params.get('k')!) : RRF_DEFAULT_K;
      return rrfRanker(k);
    }
    case 'weighted': {
      allowed(['weights', 'norm_score']);
      noInputs();
      if (!params.has('weights')) throw new KiteError('ParameterInvalid', `${label}: the weighted reranker needs param weights (one number in [0, 1] per search request)`);
      const norm = params.has('norm_score') ? parseBool('norm_score', params.get('norm_score')!) : false;
      return weightedRanker(parseWeights(params.get('weights')!), norm);
    }
    case 'decay': {
      allowed(['function', 'origin', 'scale', 'offset', 'decay']);
      if (inputs.length !== 1) {
        throw new KiteError('ParameterInvalid', `${label}: the decay reranker takes exactly one numeric input field in input_field_names, got ${inputs.length}`);
      }
      const fieldName = inputs[0]!;
      const field = c.fields.find((f) => f.name === fieldName && !f.isDynamic);
      if (!field) throw new KiteError('ParameterInvalid', `${label}: input field ${clip(fieldName, 128)} is not a field of ${c.name}`);
      if (!NUMERIC.has(field.dataType)) {
        throw new KiteError('ParameterInvalid', `${label}: input field ${field.name} is ${field.dataType}; decay needs a numeric field (Int8, Int16, Int32, Int64, Float, Double)`);
      }
      if (field.nullable) throw new KiteError('ParameterInvalid', `${label}: input field ${field.name} is nullable; decay needs a field with a value in every row`);
      const kind = params.get('function') ?? '';
      if (kind !== 'gauss' && kind !== 'exp' && kind !== 'linear') {
        throw new KiteError('ParameterInvalid', `${label}: decay param function is ${clip(JSON.stringify(kind), 64)}; use gauss, exp or linear`);
      }
      for (const k of ['origin', 'scale']) {
        if (!params.has(k)) throw new KiteError('ParameterInvalid', `${label}: the decay reranker needs param ${k}`);
      }
      const p: DecayParams = {
        function: kind,
        origin: parseNumber('decay param origin', params.get('origin')!),
        scale: parseNumber('decay param scale', params.get('scale')!),
        offset: params.has('offset') ? parseNumber('decay param offset', params.get('offset')!) : 0,
        decay: params.has('decay') ? parseNumber('decay param decay', params.get('decay')!) : 0.5,
      };
      if (p.scale <= 0) throw new KiteError('ParameterInvalid', `decay param scale must be > 0, got ${p.scale}`);
      if (p.offset < 0) throw new KiteError('ParameterInvalid', `decay param offset must be >= 0, got ${p.offset}`);
      if (!(p.decay > 0 && p.decay < 1)) throw new KiteError('ParameterInvalid', `decay param decay must be in (0, 1), got ${p.decay}`);
      return decayRanker(field.name, p);
    }
    case 'model':
      throw new KiteError('ParameterInvalid', `${label}: the model reranker calls an external model service, which Kite does not do; use the rrf, weighted or decay reranker`);
    case '':
      throw new KiteError('ParameterInvalid', `${label} has no "reranker" param; set it to rrf, weighted or decay`);
    default:
      throw new KiteError('ParameterInvalid', `${label}: unsupported reranker ${clip(JSON.stringify(name), 64)}; Kite supports rrf, weighted and decay`);
  }
}

/** A request's function_score as a Reranker, or undefined when it has none. Milvus runs one rerank function. */
export function functionScoreOf(c: CollectionMeta, fs: FunctionScore | null | undefined): Reranker | undefined {
  const functions = fs?.functions ?? [];
  const params = fs?.params ?? [];
  if (!functions.length && !params.length) return undefined;
  for (const kv of params) {
    throw new KiteError('ParameterInvalid', `function_score param "${clip(kv.key, 64)}" is not supported; set parameters on the rerank function instead`);
  }
  if (functions.length !== 1) throw new KiteError('ParameterInvalid', `function_score must hold exactly one rerank function, got ${functions.length}`);
  return rerankerOf(c, functions[0]!);
}

export interface RankParams {
  /** Undefined when rank_params name no strategy (function_score, or RRF with k = 60 by default). */
  reranker?: Reranker;
  limit: number;
  offset: number;
  roundDecimal: number;
}

const RANK_KEYS = new Set(['strategy', 'params', 'limit', 'offset', 'round_decimal']);
const GROUP_KEYS = new Set(['group_by_field', 'group_size', 'strict_group_size', 'rank_group_scorer']);

/** An integer rank param, as Milvus's strconv.ParseInt takes it. */
function intParam(name: string, v: string | undefined, min: number, max: number, fallback: number): number {
  if (v === undefined) return fallback;
  const t = v.trim();
  const n = /^[+-]?\d+$/.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new KiteError('ParameterInvalid', `rank param ${name} ${clip(JSON.stringify(v), 32)} is invalid: it must be an integer in [${min}, ${max}]`);
  }
  return n;
}

/**
 * HybridSearchRequest.rank_params as the SDKs send them: strategy (rrf | weighted), params (a JSON object: {"k": 60}
 * or {"weights": [...], "norm_score": bool}), limit, offset, round_decimal. Without a strategy the ranker is RRF
 * with k = 60, unless the request carries a function_score.
 */
export function rankParamsOf(list: readonly KeyValuePair[], maxTopk: number): RankParams {
  const kv = new Map<string, string>();
  for (const p of list) {
    if (GROUP_KEYS.has(p.key)) {
      throw new KiteError('ParameterInvalid', `rank param "${p.key}" (grouping a hybrid search) is not supported by Kite yet; remove it from the request`);
    }
    if (!RANK_KEYS.has(p.key)) throw new KiteError('ParameterInvalid', `unknown rank param "${clip(p.key, 64)}"; rank_params takes ${[...RANK_KEYS].join(', ')}`);
    kv.set(p.key, p.value);
  }
  if (!kv.has('limit')) throw new KiteError('ParameterInvalid', 'limit not found in rank_params: pass the number of fused hits to return');
  const limit = intParam('limit', kv.get('limit'), 1, maxTopk, 10);
  const offset = intParam('offset', kv.get('offset'), 0, maxTopk, 0);
  if (limit + offset > maxTopk) throw new KiteError('ParameterInvalid', `rank params offset + limit is ${limit + offset}: it must be at most ${maxTopk}`);
  const roundDecimal = intParam('round_decimal', kv.get('round_decimal'), -1, 6, -1);
  const strategy = kv.get('strategy');
  if (strategy === undefined) return { limit, offset, roundDecimal };
  const name = unquote(strategy);
  if (name !== 'rrf' && name !== 'weighted') {
    throw new KiteError('ParameterInvalid', `unsupported rank type ${clip(JSON.stringify(name), 64)}: rank param strategy must be rrf or weighted`);
  }
  const raw = kv.get('params');
  if (raw === undefined) throw new KiteError('ParameterInvalid', `params not found in rank_params: the ${name} strategy needs its parameters as a JSON object`);
  let params: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(raw);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    params = parsed as Record<string, unknown>;
  } catch {
    throw new KiteError('ParameterInvalid', `rank param params must be a JSON object, got ${clip(raw, 128)}`);
  }
  const known = name === 'rrf' ? ['k'] : ['weights', 'norm_score'];
  for (const k of Object.keys(params)) {
    if (!known.includes(k)) throw new KiteError('ParameterInvalid', `unknown rank param "${clip(k, 64)}" for the ${name} strategy; it takes ${known.join(', ')}`);
  }
  if (name === 'rrf') {
    const k = params.k ?? RRF_DEFAULT_K;
    if (typeof k !== 'number') throw new KiteError('ParameterInvalid', `rank param k must be a number in (0, ${RRF_MAX_K}), got ${clip(JSON.stringify(k), 32)}`);
    return { reranker: rrfRanker(k), limit, offset, roundDecimal };
  }
  const weights = params.weights;
  if (weights === undefined) throw new KiteError('ParameterInvalid', 'rank param weights not found: the weighted strategy needs one weight in [0, 1] per search request');
  if (!Array.isArray(weights)) throw new KiteError('ParameterInvalid', `rank param weights must be an array of numbers in [0, 1], got ${clip(JSON.stringify(weights), 64)}`);
  const norm = params.norm_score ?? false;
  if (typeof norm !== 'boolean') throw new KiteError('ParameterInvalid', `rank param norm_score must be true or false, got ${clip(JSON.stringify(norm), 32)}`);
  return { reranker: weightedRanker(weights as number[], norm), limit, offset, roundDecimal };
}

/** pymilvus JSON-encodes every rank param value (`"rrf"` with quotes); the Node SDK sends the bare string. */
function unquote(v: string): string {
  const t = v.trim();
  if (t.startsWith('"') && t.endsWith('"') && t.length >= 2) {
    try {
      return String(JSON.parse(t));
    } catch {
      return t;
    }
  }
  return t;
}
