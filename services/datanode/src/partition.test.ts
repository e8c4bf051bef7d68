import type { Column } from '@kite/segment';
import { chunkRows, rangePartition } from './partition';

test('rangePartition sorts rows by key and cuts disjoint key ranges of about the target size', () => {
  const keys = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 1000);
  const col: Column = { kind: 'int64', data: BigInt64Array.from(keys.map(BigInt)) };
  const rows = Array.from({ length: 1000 }, (_, i) => i);
  const parts = rangePartition(col, rows, 300);
  expect(parts.length).toBe(4);
  expect(parts.flat().sort((a, b) => a - b)).toEqual(rows);
  for (let i = 1; i < parts.length; i++) {
    const prevMax = Math.max(...parts[i - 1]!.map((r) => keys[r]!));
    const min = Math.min(...parts[i]!.map((r) => keys[r]!));
    expect(prevMax).toBeLessThan(min);
  }
  for (const p of parts) expect(p.length).toBeLessThanOrEqual(250);
});

test('equal keys never straddle a cut; only the given rows are placed', () => {
  const keys = ['b', 'a', 'b', 'b', 'c', 'a', 'b', 'd'];
  const col: Column = { kind: 'string', data: keys };
  const parts = rangePartition(col, [0, 1, 2, 3, 4, 5, 6], 2);
  const ranges = parts.map((p) => new Set(p.map((r) => keys[r])));
  for (let i = 0; i < ranges.length; i++) for (let j = i + 1; j < ranges.length; j++) for (const k of ranges[i]!) expect(ranges[j]!.has(k)).toBe(false);
  expect(parts.flat().sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
  expect(parts.flat()).not.toContain(7);
});

test('float keys: NaN last, in a range of its own', () => {
  const col: Column = { kind: 'float', data: Float64Array.from([3, NaN, 1, 2, NaN, 0]) };
  const parts = rangePartition(col, [0, 1, 2, 3, 4, 5], 2);
  expect(parts).toEqual([[5, 2], [3, 0], [1, 4]]);
});

test('chunkRows splits in order into near-equal pieces', () => {
  expect(chunkRows([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
  expect(chunkRows([1, 2, 3, 4, 5], 10)).toEqual([[1, 2, 3, 4, 5]]);
  expect(chunkRows([], 10)).toEqual([]);
});
