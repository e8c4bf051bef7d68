import type { CollectionMeta, Column, ColumnBatch, FieldMeta } from '@kite/segment';
import { PK, QUERY, SCORE } from '@kite/segment';
import { rrfRanker, weightedRanker } from './rerank';
import { fusedResults, nodeRound, rankLists, withRankInput } from './search';

const field = (name: string, dataType: FieldMeta['dataType'], extra: Partial<FieldMeta> = {}): FieldMeta => ({
  fieldID: 100, name, dataType, isPrimaryKey: false, autoID: false, description: '', typeParams: {}, isDynamic: false, isPartitionKey: false, nullable: false, ...extra,
});
const pkf = field('id', 'Int64', { isPrimaryKey: true });
const coll = { name: 'c', fields: [pkf, field('tag', 'VarChar')] } as unknown as CollectionMeta;

/** Hits of one search as the nodes return them: per query, best first. */
function hits(rows: [q: number, pk: number, score: number, tag: string][]): ColumnBatch {
  const columns = new Map<string, Column>([
    [QUERY, { kind: 'int', data: Int32Array.from(rows.map((r) => r[0])) }],
    [PK, { kind: 'int64', data: BigInt64Array.from(rows.map((r) => BigInt(r[1]))) }],
    [SCORE, { kind: 'float', data: Float32Array.from(rows.map((r) => r[2])) }],
    ['id', { kind: 'int64', data: BigInt64Array.from(rows.map((r) => BigInt(r[1]))) }],
    ['tag', { kind: 'string', data: rows.map((r) => r[3]) }],
  ]);
  return { numRows: rows.length, columns };
}

const out = { columns: ['id', 'tag'], dynamicKeys: [] as string[], names: ['id', 'tag'] };

describe('fusion of search results', () => {
  it('rounds node scores as segcore does (halves away from zero, float32)', () => {
    expect(nodeRound(0.12345, 3)).toBe(Math.fround(0.123));
    expect(nodeRound(-2.5, 0)).toBe(-3);
    expect(nodeRound(2.5, 0)).toBe(3);
    expect(nodeRound(0.7, -1)).toBe(0.7);
  });

  it('splits hits per query, keeping their rows', () => {
    const lists = rankLists(hits([[0, 5, 0.9, 'a'], [0, 6, 0.8, 'b'], [1, 7, 0.7, 'c']]), 2, 'IP', -1);
    expect(lists.map((l) => l.hits.map((h) => [Number(h.pk), h.row]))).toEqual([[[5, 0], [6, 1]], [[7, 2]]]);
  });

  it('fuses per query and carries the output fields of the search that first returned each hit', () => {
    const a = hits([[0, 1, 0.1, 'a1'], [0, 2, 0.2, 'a2'], [1, 3, 0.1, 'a3']]);
    const b = hits([[0, 2, 5, 'b2'], [0, 4, 4, 'b4'], [1, 5, 9, 'b5']]);
    const res = fusedResults(coll, [{ hits: a, metric: 'L2', roundDecimal: -1 }, { hits: b, metric: 'IP', roundDecimal: -1 }], { nq: 2, limit: 2, offset: 0, roundDecimal: -1, reranker: rrfRanker(60) }, out, pkf);
    const r = res.results!;
    expect(r.topks).toEqual(['2', '2']);
    // Query 0: 2 (1/62 + 1/61), then 1 and 4 tie at 1/61: key 1 first. Query 1: 3 and 5 tie: key 3 first.
    expect(r.ids).toEqual({ int_id: { data: ['2', '1', '3', '5'] } });
    const tags = r.fields_data?.find((f) => f.field_name === 'tag') as { scalars: { string_data: { data: string[] } } };
    expect(tags.scalars.string_data.data).toEqual(['a2', 'a1', 'a3', 'b5']);
    expect(r.scores).toEqual([Math.fround(Math.fround(1 / 62) + Math.fround(1 / 61)), Math.fround(1 / 61), Math.fround(1 / 61), Math.fround(1 / 61)]);
  });

  it('an empty sub-search still fuses (weighted counts it as one of the inputs)', () => {
    const a = hits([[0, 1, 0.5, 'a1']]);
    const empty: ColumnBatch = { numRows: 0, columns: new Map() };
    const res = fusedResults(coll, [{ hits: empty, metric: 'IP', roundDecimal: -1 }, { hits: a, metric: 'IP', roundDecimal: -1 }], { nq: 1, limit: 5, offset: 0, roundDecimal: -1, reranker: weightedRanker([1, 0.5], false) }, out, pkf);
    expect(res.results!.ids).toEqual({ int_id: { data: ['1'] } });
    expect(res.results!.scores).toEqual([0.25]);
  });

  it('asks the nodes for a ranker input field only when it is not an output already', () => {
    expect(withRankInput(['id'], undefined)).toEqual(['id']);
    expect(withRankInput(['id'], { name: 'decay', inputField: 'ts', rank: () => [] })).toEqual(['id', 'ts']);
    expect(withRankInput(['id', 'ts'], { name: 'decay', inputField: 'ts', rank: () => [] })).toEqual(['id', 'ts']);
  });
});
