import { KiteError } from '@kite/common';
import type { FunctionSchema } from '@kite/proto';
import type { CollectionMeta, FieldMeta } from '@kite/segment';
import {
  decayFactor, decayRanker, distanceToScore, functionScoreOf, normalizeScore, rankParamsOf, roundScore, rrfRanker, weightedRanker,
  type RankList, type RankPage,
} from './rerank';

const page = (limit: number, offset = 0, roundDecimal = -1): RankPage => ({ limit, offset, roundDecimal });
const list = (metric: string, hits: [number | string, number][]): RankList => ({
  metric,
  hits: hits.map(([pk, score], row) => ({ pk: typeof pk === 'number' ? BigInt(pk) : pk, score, row })),
});
const ids = (r: { pk: bigint | string }[]): (number | string)[] => r.map((h) => (typeof h.pk === 'bigint' ? Number(h.pk) : h.pk));

function refused(fn: () => unknown, pattern: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(KiteError);
    expect((e as KiteError).kind).toBe('ParameterInvalid');
    expect((e as Error).message).toMatch(pattern);
    return;
  }
  throw new Error(`expected a refusal matching ${pattern}`);
}

describe('rrf', () => {
  it('sums 1 / (k + rank) over the lists, rank from 1, best first', () => {
    const a = list('L2', [[1, 0.1], [2, 0.2], [3, 0.3]]);
    const b = list('IP', [[3, 9], [4, 8], [1, 7]]);
    const out = rrfRanker(60).rank([a, b], page(10));
    const want = new Map([[1, 1 / 61 + 1 / 63], [3, 1 / 63 + 1 / 61], [2, 1 / 62], [4, 1 / 62]]);
    // 1 and 3 tie (both 1/61 + 1/63): smaller key first; so do 2 and 4.
    expect(ids(out)).toEqual([1, 3, 2, 4]);
    for (const h of out) expect(h.score).toBeCloseTo(want.get(Number(h.pk))!, 7);
    // Where each hit was first seen: for carrying its output fields.
    expect(out.map((h) => [h.input, h.row])).toEqual([[0, 0], [0, 2], [0, 1], [1, 1]]);
  });

  it('computes in float32 as Milvus does', () => {
    const out = rrfRanker(60).rank([list('IP', [[7, 1]]), list('IP', [[7, 1]])], page(1));
    const f = Math.fround;
    expect(out[0]!.score).toBe(f(f(1 / f(61)) + f(1 / f(61))));
  });

  it('pages [offset, offset + limit) and rounds half up', () => {
    const a = list('IP', [[1, 1], [2, 1], [3, 1], [4, 1], [5, 1]]);
    const out = rrfRanker(1).rank([a], page(2, 1, 3));
    expect(ids(out)).toEqual([2, 3]);
    expect(out.map((h) => h.score)).toEqual([Math.fround(0.333), Math.fround(0.25)]);
  });

  it('k must lie in (0, 16384)', () => {
    refused(() => rrfRanker(0), /k 0 .*\(0, 16384\)/);
    refused(() => rrfRanker(16384), /\(0, 16384\)/);
    refused(() => rrfRanker(Number.NaN), /k/);
    expect(() => rrfRanker(16383.5)).not.toThrow();
  });

  it('orders string keys lexicographically on ties', () => {
    const out = rrfRanker(60).rank([list('IP', [['b', 1]]), list('IP', [['a', 1]])], page(5));
    expect(ids(out)).toEqual(['a', 'b']);
  });
});

describe('weighted', () => {
  const f = Math.fround;
  it('normalises by metric with norm_score', () => {
    expect(normalizeScore('COSINE', 0.5)).toBe(f(0.75));
    expect(normalizeScore('IP', 2)).toBeCloseTo(0.5 + Math.atan(2) / Math.PI, 6);
    expect(normalizeScore('BM25', 3)).toBeCloseTo((2 * Math.atan(3)) / Math.PI, 6);
    expect(normalizeScore('L2', 4)).toBeCloseTo(1 - (2 * Math.atan(4)) / Math.PI, 6);
    expect(distanceToScore(0)).toBe(1);
    const out = weightedRanker([0.25, 0.75], true).rank([list('L2', [[1, 0.5], [2, 2]]), list('COSINE', [[2, 0.9], [3, 0.1]])], page(10));
    const s1 = 0.25 * (1 - (2 * Math.atan(0.5)) / Math.PI);
    const s2 = 0.25 * (1 - (2 * Math.atan(2)) / Math.PI) + 0.75 * 0.95;
    const s3 = 0.75 * 0.55;
    expect(ids(out)).toEqual([2, 3, 1]);
    expect(out.map((h) => h.score)).toEqual([s2, s3, s1].map((x) => expect.closeTo(x, 6)));
  });

  it('without norm_score: identity, ascending when every list is L2', () => {
    const out = weightedRanker([1, 0.5], false).rank([list('L2', [[1, 0.2], [2, 0.4]]), list('L2', [[2, 0.1], [3, 1.0]])], page(10));
    // 1: 0.2; 2: 0.4 + 0.05 = 0.45; 3: 0.5: smaller is better.
    expect(ids(out)).toEqual([1, 2, 3]);
    expect(out[1]!.score).toBe(f(f(0.4) + f(f(0.5) * f(0.1))));
  });

  it('without norm_score on mixed metrics: distances turned around, descending', () => {
    const out = weightedRanker([0.5, 0.5], false).rank([list('L2', [[1, 3], [2, 0]]), list('IP', [[1, 2]])], page(10));
    const s1 = 0.5 * (1 - (2 * Math.atan(3)) / Math.PI) + 0.5 * 2;
    expect(ids(out)).toEqual([1, 2]);
    expect(out[0]!.score).toBeCloseTo(s1, 6);
    expect(out[1]!.score).toBeCloseTo(0.5, 6);
  });

  it('needs one weight in [0, 1] per list', () => {
    refused(() => weightedRanker([], true), /weights/);
    refused(() => weightedRanker([0.5, 1.2], true), /weights\[1\]/);
    refused(() => weightedRanker([0.5, 0.5], true).rank([list('IP', [[1, 1]])], page(1)), /mismatch.*2 weights for 1/);
  });
});

describe('decay', () => {
  const p = { origin: 100, scale: 10, offset: 2, decay: 0.5 };
  it('gauss, exp and linear reach `decay` at scale beyond the offset, and are 1 within it', () => {
    for (const fn of ['gauss', 'exp', 'linear'] as const) {
      expect(decayFactor({ ...p, function: fn }, 101)).toBe(1);
      expect(decayFactor({ ...p, function: fn }, 98)).toBe(1);
      expect(decayFactor({ ...p, function: fn }, 112)).toBeCloseTo(0.5, 12);
      expect(decayFactor({ ...p, function: fn }, 88)).toBeCloseTo(0.5, 12);
    }
  });

  it('follows each curve between and beyond', () => {
    const d = 7; // |105 + 4 - 100| - 2
    expect(decayFactor({ ...p, function: 'gauss' }, 109)).toBeCloseTo(Math.exp((Math.log(0.5) * d * d) / 100), 12);
    expect(decayFactor({ ...p, function: 'exp' }, 109)).toBeCloseTo(Math.exp((Math.log(0.5) / 10) * d), 12);
    expect(decayFactor({ ...p, function: 'linear' }, 109)).toBeCloseTo(1 - 0.05 * d, 12);
    // Milvus floors linear decay at `decay` (its documentation says it reaches 0).
    expect(decayFactor({ ...p, function: 'linear' }, 150)).toBe(0.5);
    expect(decayFactor({ ...p, function: 'gauss' }, 150)).toBeLessThan(0.5);
  });

  it('multiplies the best score of a hit (L2 turned around) by the decay factor of its field', () => {
    const values = [[100, 130], [130]];
    const r = decayRanker('ts', { ...p, function: 'exp' });
    const out = r.rank([list('L2', [[1, 0.5], [2, 0.1]]), list('COSINE', [[2, 0.99]])], page(10), (input, row) => values[input]![row]!);
    expect(r.inputField).toBe('ts');
    // 1: ts 100 (factor 1) x (1 - 2 atan(0.5) / pi); 2: ts 130 x max(1 - 2 atan(0.1) / pi, 0.99).
    const s1 = 1 - (2 * Math.atan(0.5)) / Math.PI;
    const s2 = Math.exp((Math.log(0.5) / 10) * 28) * 0.99;
    expect(ids(out)).toEqual([1, 2]);
    expect(out[0]!.score).toBeCloseTo(s1, 6);
    expect(out[1]!.score).toBeCloseTo(s2, 6);
  });
});

const field = (name: string, dataType: FieldMeta['dataType'], extra: Partial<FieldMeta> = {}): FieldMeta => ({
  fieldID: 100, name, dataType, isPrimaryKey: false, autoID: false, description: '', typeParams: {}, isDynamic: false, isPartitionKey: false, nullable: false, ...extra,
});
const coll = {
  name: 'c',
  fields: [field('id', 'Int64', { isPrimaryKey: true }), field('ts', 'Int64'), field('title', 'VarChar'), field('maybe', 'Double', { nullable: true })],
} as unknown as CollectionMeta;
const fn = (params: Record<string, string>, extra: Partial<FunctionSchema> = {}): FunctionSchema => ({
  name: 'f', id: '0', description: '', type: 'Rerank' as never, input_field_names: [], input_field_ids: [], output_field_names: [], output_field_ids: [],
  params: Object.entries(params).map(([key, value]) => ({ key, value })), ...extra,
});

describe('function_score', () => {
  it('absent or empty: no ranker', () => {
    expect(functionScoreOf(coll, null)).toBeUndefined();
    expect(functionScoreOf(coll, { functions: [], params: [] })).toBeUndefined();
  });

  it('rrf, weighted and decay as functions', () => {
    expect(functionScoreOf(coll, { functions: [fn({ reranker: 'rrf', k: '10' })], params: [] })?.name).toBe('rrf');
    const w = functionScoreOf(coll, { functions: [fn({ reranker: 'weighted', weights: '[0.1,0.9]', norm_score: 'True' })], params: [] });
    expect(w?.name).toBe('weighted');
    expect(w?.inputs).toBe(2);
    const d = functionScoreOf(coll, { functions: [fn({ reranker: 'decay', function: 'linear', origin: '0', scale: '5' }, { input_field_names: ['ts'] })], params: [] });
    expect(d?.inputField).toBe('ts');
  });

  it('refuses what Kite does not run, naming it', () => {
    const one = (f: FunctionSchema) => () => functionScoreOf(coll, { functions: [f], params: [] });
    refused(one(fn({ reranker: 'model', provider: 'tei' })), /model/);
    refused(one(fn({ reranker: 'boost' })), /unsupported reranker "boost"/);
    refused(one(fn({})), /no "reranker" param/);
    refused(one(fn({ reranker: 'rrf', k: '60', depth: '3' })), /unknown param "depth"/);
    refused(one(fn({ reranker: 'rrf', k: 'sixty' })), /rank param k must be a number/);
    refused(one(fn({ reranker: 'rrf', k: '0' })), /\(0, 16384\)/);
    refused(one(fn({ reranker: 'rrf' }, { input_field_names: ['ts'] })), /takes no input fields/);
    refused(one(fn({ reranker: 'weighted' })), /needs param weights/);
    refused(one(fn({ reranker: 'weighted', weights: '[0.5]', norm_score: 'maybe' })), /norm_score/);
    refused(one(fn({ reranker: 'decay', function: 'exp', origin: '1', scale: '1' })), /exactly one numeric input field/);
    refused(one(fn({ reranker: 'decay', function: 'exp', origin: '1', scale: '1' }, { input_field_names: ['title'] })), /title is VarChar/);
    refused(one(fn({ reranker: 'decay', function: 'exp', origin: '1', scale: '1' }, { input_field_names: ['nope'] })), /nope is not a field/);
    refused(one(fn({ reranker: 'decay', function: 'exp', origin: '1', scale: '1' }, { input_field_names: ['maybe'] })), /nullable/);
    refused(one(fn({ reranker: 'decay', function: 'cubic', origin: '1', scale: '1' }, { input_field_names: ['ts'] })), /function is "cubic"/);
    refused(one(fn({ reranker: 'decay', function: 'exp', scale: '1' }, { input_field_names: ['ts'] })), /needs param origin/);
    refused(one(fn({ reranker: 'decay', function: 'exp', origin: '1', scale: '0' }, { input_field_names: ['ts'] })), /scale must be > 0/);
    refused(one(fn({ reranker: 'decay', function: 'exp', origin: '1', scale: '1', decay: '1' }, { input_field_names: ['ts'] })), /decay must be in \(0, 1\)/);
    refused(one(fn({ reranker: 'decay', function: 'exp', origin: '1', scale: '1', offset: '-1' }, { input_field_names: ['ts'] })), /offset must be >= 0/);
    refused(one(fn({ reranker: 'rrf' }, { type: 'BM25' as never })), /type Rerank only/);
    refused(one(fn({ reranker: 'rrf' }, { output_field_names: ['x'] })), /output fields/);
    refused(() => functionScoreOf(coll, { functions: [fn({ reranker: 'rrf' }), fn({ reranker: 'rrf' })], params: [] }), /exactly one rerank function/);
    refused(() => functionScoreOf(coll, { functions: [fn({ reranker: 'rrf' })], params: [{ key: 'boost_mode', value: 'x' }] }), /boost_mode/);
  });
});

describe('rank_params', () => {
  const kv = (o: Record<string, string>) => Object.entries(o).map(([key, value]) => ({ key, value }));

  it('as the Node SDK and pymilvus send them', () => {
    const node = rankParamsOf(kv({ strategy: 'rrf', params: '{"k":30}', round_decimal: '-1', limit: '6', offset: '2' }), 16384);
    expect(node.reranker?.name).toBe('rrf');
    expect([node.limit, node.offset, node.roundDecimal]).toEqual([6, 2, -1]);
    const py = rankParamsOf(kv({ strategy: 'weighted', params: '{"weights":[0.3,0.7],"norm_score":true}', limit: '10', round_decimal: '3', offset: '0' }), 16384);
    expect(py.reranker?.inputs).toBe(2);
    expect(py.roundDecimal).toBe(3);
    // A Function ranker: rank_params carry the page only.
    expect(rankParamsOf(kv({ limit: '5', round_decimal: '-1', offset: '0' }), 16384).reranker).toBeUndefined();
  });

  it('refuses bad values naming them', () => {
    refused(() => rankParamsOf(kv({ strategy: 'rrf', params: '{}' }), 16384), /limit not found/);
    refused(() => rankParamsOf(kv({ strategy: 'borda', params: '{}', limit: '5' }), 16384), /unsupported rank type "borda"/);
    refused(() => rankParamsOf(kv({ strategy: 'rrf', limit: '5' }), 16384), /params not found/);
    refused(() => rankParamsOf(kv({ strategy: 'rrf', params: '{"k":"60"}', limit: '5' }), 16384), /k must be a number/);
    refused(() => rankParamsOf(kv({ strategy: 'rrf', params: '{"k":0}', limit: '5' }), 16384), /k 0/);
    refused(() => rankParamsOf(kv({ strategy: 'rrf', params: '{"kk":1}', limit: '5' }), 16384), /unknown rank param "kk"/);
    refused(() => rankParamsOf(kv({ strategy: 'weighted', params: '{"norm_score":true}', limit: '5' }), 16384), /weights not found/);
    refused(() => rankParamsOf(kv({ strategy: 'weighted', params: '{"weights":[0.5],"norm_score":"yes"}', limit: '5' }), 16384), /norm_score/);
    refused(() => rankParamsOf(kv({ limit: '0' }), 16384), /limit "0"/);
    refused(() => rankParamsOf(kv({ limit: '10', offset: '16380' }), 16384), /offset \+ limit/);
    refused(() => rankParamsOf(kv({ limit: '10', round_decimal: '7' }), 16384), /round_decimal/);
    refused(() => rankParamsOf(kv({ limit: '10', group_by_field: 'x' }), 16384), /group_by_field/);
    refused(() => rankParamsOf(kv({ limit: '10', nope: 'x' }), 16384), /unknown rank param "nope"/);
  });

  it('rounds as Milvus does: floor(s * 10^n + 0.5) / 10^n', () => {
    expect(roundScore(0.12345, 3)).toBe(Math.fround(0.123));
    expect(roundScore(0.1235, 3)).toBe(Math.fround(0.124));
    expect(roundScore(-0.0005, 3)).toBe(0);
    expect(roundScore(0.4, -1)).toBe(0.4);
  });
});
