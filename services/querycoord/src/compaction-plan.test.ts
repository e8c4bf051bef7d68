import { composeTs } from '@kite/common';
import type { SegmentMeta } from '@kite/segment';
import { expiredShare, freeRuns, pendingDeletes, planAuto, planManual } from './compaction-plan';

let nextID = 1;
function seg(start: number, end: number, rows: number, extra: Partial<SegmentMeta> = {}): SegmentMeta {
  return {
    segmentID: nextID++, collectionID: 1, channel: 'c#0', startOffset: start, endOffset: end, numRows: rows, dataKey: rows ? 'd' : '', deltaKey: '',
    numDeletes: 0, indexes: [], maxTs: '0', createdAt: 0, ...extra,
  };
}
const opts = { deleteRatio: 0.2, smallSegmentRows: 100, minSmallSegments: 3, maxSegmentRows: 1000 };

test('manual mix: contiguous free runs merged in pieces of at most maxSegmentRows; busy segments split runs', () => {
  nextID = 1;
  const segs = [seg(0, 10, 50), seg(10, 20, 50), seg(20, 30, 0, { numDeletes: 5, deltaKey: 'x' }), seg(30, 40, 900), seg(40, 50, 50), seg(50, 60, 60)];
  const plans = planManual(segs, new Set([5]), false, undefined, opts);
  // 50 + 50 + 0 + 900 rows fit one piece; segment 6 (after the busy 5) alone has nothing to purge: left alone.
  expect(plans.map((p) => p.sources)).toEqual([[1, 2, 3, 4]]);
  expect(planManual(segs, new Set([5]), false, undefined, { ...opts, maxSegmentRows: 500 }).map((p) => p.sources)).toEqual([[1, 2, 3]]);
});

test('manual clustering: one plan per free run with rows; units of one plan stay together', () => {
  nextID = 1;
  const origin = { compactionID: 9, planID: 10, sources: [100], type: 'clustering' as const, purgedUpTo: '0', deltasUpTo: 20 };
  const segs = [seg(0, 20, 10, { compaction: origin }), seg(0, 20, 10, { compaction: origin }), seg(20, 30, 5), seg(30, 40, 5)];
  expect(planManual(segs, new Set(), true, undefined, opts)).toEqual([{ type: 'clustering', sources: [1, 2, 3, 4], why: 'manual clustering' }]);
  // Busy: one member of the unit busy makes the whole unit busy.
  expect(freeRuns(segs, new Set([2])).map((r) => r.map((u) => u.segs.map((s) => s.segmentID)))).toEqual([[[3], [4]]]);
});

test('pending deletes: those consumed at or after the segment start, or after the deltas a compaction applied', () => {
  nextID = 1;
  const a = seg(0, 10, 100);
  const b = seg(10, 20, 100, { numDeletes: 30 });
  const c = seg(20, 30, 0, { numDeletes: 10 });
  const compacted = seg(0, 10, 100, { compaction: { compactionID: 1, planID: 2, sources: [], type: 'mix', purgedUpTo: '0', deltasUpTo: 20 } });
  expect(pendingDeletes(a, [a, b, c])).toBe(40);
  expect(pendingDeletes(c, [a, b, c])).toBe(10);
  expect(pendingDeletes(compacted, [compacted, b, c])).toBe(10);
});

test('expired share is estimated from the timestamp range', () => {
  const t = (ms: number): string => composeTs(ms, 0).toString();
  const s = { numRows: 10, minTs: t(1000), maxTs: t(2000) };
  expect(expiredShare(s, undefined)).toBe(0);
  expect(expiredShare(s, composeTs(500, 0))).toBe(0);
  expect(expiredShare(s, composeTs(1500, 0))).toBeCloseTo(0.5, 2);
  expect(expiredShare(s, composeTs(2000, 0))).toBe(1);
  expect(expiredShare({ numRows: 10, maxTs: t(2000) }, composeTs(1500, 0))).toBe(0);
});

test('auto: purges segments past the delete or expiry ratio, merges runs of small segments, leaves the rest', () => {
  nextID = 1;
  const big1 = seg(0, 10, 1000);
  const big2 = seg(10, 20, 1000);
  const deletes = seg(20, 30, 0, { numDeletes: 300 });
  const small = [seg(30, 40, 10), seg(40, 50, 10), seg(50, 60, 10)];
  const plans = planAuto([big1, big2, deletes, ...small], new Set(), undefined, opts);
  // 300 deletes after the start of big1 and big2: 30% of each. The delete-only segment joins the small ones.
  expect(plans.map((p) => p.sources)).toEqual([[1], [2], [3, 4, 5, 6]]);
  expect(plans[2]!.why).toBe('4 small segments');
  // Fewer than minSmallSegments small ones in a run: nothing.
  expect(planAuto([seg(0, 10, 1000), seg(10, 20, 10), seg(20, 30, 10)], new Set(), undefined, opts)).toEqual([]);
  // Busy segments are not planned.
  expect(planAuto([big1, big2, deletes], new Set([1, 2]), undefined, opts)).toEqual([]);
});
