import { SCORE, type CollectionMeta, type Column } from '@kite/segment';
import { groupOf, iteratorRange, keepInRange, rangeOf } from './search-extras';

const from = (o: Record<string, unknown>) => (k: string): unknown => o[k];

describe('rangeOf', () => {
  test('L2: range_filter <= distance < radius', () => {
    expect(rangeOf('L2', from({ radius: 2, range_filter: '0.5' }))).toEqual({ lo: 0.5, hi: 2, hiOpen: true });
    expect(() => rangeOf('L2', from({ radius: 1, range_filter: 2 }))).toThrow('range_filter must be less than radius');
  });
  test('IP, COSINE and BM25: radius < score <= range_filter, as keys where smaller is better', () => {
    for (const m of ['IP', 'COSINE', 'BM25']) {
      expect(rangeOf(m, from({ radius: 0.2, range_filter: 0.9 }))).toEqual({ lo: -Math.fround(0.9), hi: -Math.fround(0.2), hiOpen: true });
      expect(() => rangeOf(m, from({ radius: 0.9, range_filter: 0.2 }))).toThrow('range_filter must be greater than radius');
    }
  });
  test('refuses range_filter alone and values that are not numbers', () => {
    expect(rangeOf('L2', from({}))).toBeUndefined();
    expect(() => rangeOf('L2', from({ range_filter: 1 }))).toThrow(/range_filter needs radius/);
    expect(() => rangeOf('L2', from({ radius: 'far' }))).toThrow(/radius must be a finite number/);
  });
});

describe('iteratorRange', () => {
  test('the next page starts strictly after the last bound, inside the request range', () => {
    expect(iteratorRange('L2', undefined, 1.5)).toEqual({ lo: 1.5, loOpen: true });
    expect(iteratorRange('IP', { hi: -0.1, hiOpen: true }, 0.7)).toEqual({ lo: -0.7, loOpen: true, hi: -0.1, hiOpen: true });
    expect(iteratorRange('L2', { lo: 2 }, 1)).toEqual({ lo: 2 });
  });
});

describe('groupOf', () => {
  const c = {
    name: 'c',
    fields: [
      { name: 'i8', dataType: 'Int8' },
      { name: 'f', dataType: 'Float' },
    ],
  } as unknown as CollectionMeta;
  test('reads the group field and size, refuses other field types naming the supported ones', () => {
    expect(groupOf(c, from({ group_by_field: 'i8', group_size: '3', strict_group_size: 'True' }))).toEqual({ field: 'i8', size: 3, strict: true });
    expect(groupOf(c, from({ group_by_field: 'i8' }))).toEqual({ field: 'i8', size: 1, strict: false });
    expect(() => groupOf(c, from({ group_by_field: 'f' }))).toThrow('group_by_field f is a Float field: grouping search groups by Bool, Int8, Int16, Int32, Int64, VarChar fields only');
    expect(() => groupOf(c, from({ group_size: 2 }))).toThrow(/group_size needs group_by_field/);
    expect(() => groupOf(c, from({ group_by_field: 'i8', group_size: 0 }))).toThrow(/group_size/);
  });
});

describe('keepInRange', () => {
  test('drops hits outside the range (a node that ignored it), keeps the rest in order', () => {
    const hits = { numRows: 4, columns: new Map<string, Column>([[SCORE, { kind: 'float', data: Float32Array.from([0.9, 0.7, 0.5, 0.2]) }]]) };
    const kept = keepInRange(hits, rangeOf('IP', from({ radius: 0.2, range_filter: 0.8 })), 'IP');
    // 0.2 compares as float32, as the scores are: the hit scored 0.2f is not above radius 0.2.
    expect(Array.from(kept.columns.get(SCORE)!.data as Float32Array)).toEqual([Math.fround(0.7), 0.5]);
    expect(keepInRange(hits, undefined, 'IP')).toBe(hits);
  });
});
