import type { ChannelDist, DistributionResponse, SegmentDist } from '@kite/rpc';
import type { SegmentMeta } from '@kite/segment';
import { checkLeaders } from './checkers/leader';
import { checkRedundantSegments, checkSegments } from './checkers/segment';
import { watermark } from './checkers/common';
import type { DistSnapshot, NodeView } from './distribution';
import { handoffOf, handoffPending } from './handoff';
import { makeTarget } from './target';
import { collection, segment } from './testing/fakes';

const C = collection(1, 1, 1);
const CH = 'kite-dml-1#0';
const R = { replicaID: 11, nodes: [1, 2] };
const origin = { compactionID: 50, planID: 51, sources: [101, 102], type: 'clustering' as const, purgedUpTo: '0', deltasUpTo: 200 };
const result = (id: number, rows: number): SegmentMeta => ({ ...segment(C, id, 0, 0, rows), endOffset: 200, numRows: rows, compaction: origin });
// After the swap: 101 and 102 ([0,200)) replaced by two key-range results covering [0,200); 103 and 104 untouched.
const T = makeTarget(C, [result(201, 120), result(202, 60), segment(C, 103, 0, 200, 100), segment(C, 104, 0, 300, 100)]);

function snap(held: Record<number, number[]>, delegatorOn = 1): DistSnapshot {
  const m = new Map<number, NodeView>();
  for (const [key, ids] of Object.entries(held)) {
    const id = Number(key);
    const segments: SegmentDist[] = ids.map((s) => ({ collection_id: 1, segment_id: s, replica_id: 11, num_rows: 100, channel: CH }));
    const channels: ChannelDist[] = id === delegatorOn ? [{ collection_id: 1, channel: CH, replica_id: 11, consumed_offset: 400, watermark: 400, growing_rows: 0, serviceable: true }] : [];
    const dist: DistributionResponse = { node_id: id, channels, segments, indexing_segments: [] };
    m.set(id, { id, role: 'querynode', address: `n${id}`, state: 'healthy', since: 0, stopping: false, failures: 0, dist });
  }
  return { seq: 1, startedAt: 0, nodes: m };
}

const sealedOf = (s: DistSnapshot, switchedAt: Map<string, number> = new Map(), now = 0): number[] => {
  const h = handoffOf(T, R, s, switchedAt, now, 1000);
  const plan = checkLeaders(T, R, s, { lastPlace: new Map(), synced: new Map() }, h);
  const sync = plan.tasks[0];
  return sync?.kind === 'sync' ? sync.req.sealed.map((p) => p.segment_id) : [];
};

test('while the results are not all loaded in the replica, it serves the sources whole and keeps them', () => {
  const s = snap({ 1: [101, 102, 103, 104], 2: [201] });
  const h = handoffOf(T, R, s, new Map(), 0, 1000);
  expect([...h.hiddenResults].sort()).toEqual([201, 202]);
  expect([...h.keep].sort()).toEqual([101, 102]);
  expect(sealedOf(s)).toEqual([101, 102, 103, 104]);
  // The results are loaded, the sources are not released.
  expect(checkSegments(T, R, s).map((t) => t.kind === 'load' && t.segment)).toEqual([202]);
  expect(checkRedundantSegments(T, R, s, [], h.keep)).toEqual([]);
  expect(handoffPending(T, [R], s)).toEqual(new Set([201, 202]));
  // Without the handoff the sources would go at once (what the checkers did before compaction existed).
  expect(checkRedundantSegments(T, R, s, []).flatMap((t) => (t.kind === 'release' ? t.segments : []))).toEqual([101, 102]);
});

test('once every result is loaded the sealed list switches in one sync; the sources go after the grace period', () => {
  const s = snap({ 1: [101, 102, 103, 104], 2: [201, 202] });
  const h = handoffOf(T, R, s, new Map(), 5000, 1000);
  expect(h.hiddenResults.size).toBe(0);
  expect([...h.switched]).toEqual([['11/51', 5000]]);
  expect(sealedOf(s, new Map(h.switched), 5000)).toEqual([103, 104, 201, 202]);
  expect(checkRedundantSegments(T, R, s, [], h.keep)).toEqual([]);
  const later = handoffOf(T, R, s, new Map(h.switched), 6000, 1000);
  expect(later.keep.size).toBe(0);
  expect(checkRedundantSegments(T, R, s, [], later.keep).flatMap((t) => (t.kind === 'release' ? t.segments : []))).toEqual([101, 102]);
  expect(handoffPending(T, [R], s).size).toBe(0);
});

test('the watermark never passes a segment with rows that is not loaded; results covering the same offsets all count', () => {
  const placed = (ids: number[]): Map<number, true> => new Map(ids.map((i) => [i, true]));
  expect(watermark(T, CH, placed([201, 202, 103, 104]))).toBe(400);
  expect(watermark(T, CH, placed([201, 103, 104]))).toBe(0);
  expect(watermark(T, CH, placed([201, 202, 104]))).toBe(200);
});

test("a bulk import's segments join the delegators' lists together, once all are loaded in the replica, and do not hold the watermark back", () => {
  const imported = (id: number): SegmentMeta => ({ ...segment(C, id, 0, 0, 50), startOffset: 0, endOffset: 0, numRows: 50, importTaskID: 77 });
  const t = makeTarget(C, [segment(C, 103, 0, 0, 200), imported(301), imported(302)]);
  const sealed = (s: DistSnapshot): number[] => {
    const h = handoffOf(t, R, s, new Map(), 0, 1000);
    const plan = checkLeaders(t, R, s, { lastPlace: new Map(), synced: new Map() }, h);
    const sync = plan.tasks[0];
    return sync?.kind === 'sync' ? sync.req.sealed.map((p) => p.segment_id) : [];
  };
  const one = snap({ 1: [103, 301] });
  expect(sealed(one)).toEqual([103]);
  expect(handoffPending(t, [R], one)).toEqual(new Set([301, 302]));
  expect(watermark(t, CH, new Map([[103, 1], [301, 1]]))).toBe(200);
  expect(sealed(snap({ 1: [103, 301], 2: [302] }))).toEqual([103, 301, 302]);
});

test("a bulk import's segments, once served together, keep their last known places when a node holding some of them fails", () => {
  const imported = (id: number): SegmentMeta => ({ ...segment(C, id, 0, 0, 50), startOffset: 0, endOffset: 0, numRows: 50, importTaskID: 77 });
  const t = makeTarget(C, [imported(301), imported(302), imported(303)]);
  // Both nodes hold the import: it joins the list, and the coordinator remembers where each segment was.
  const whole = snap({ 1: [301, 302], 2: [303] });
  const h1 = handoffOf(t, R, whole, new Map(), 0, 1000);
  const first = checkLeaders(t, R, whole, { lastPlace: new Map(), synced: new Map() }, h1);
  const lastPlace = new Map(first.placed);
  // Node 2 dies (its segment 303 is not placed anywhere yet): the delegator must not lose 301 and 302 from its list,
  // which would answer every search and count(*) with a third of the rows missing, and 303 stays at its last place.
  const after = snap({ 1: [301, 302] });
  const h2 = handoffOf(t, R, after, new Map(), 0, 1000, h1.joinedImports);
  const plan = checkLeaders(t, R, after, { lastPlace, synced: new Map() }, h2);
  const sync = plan.tasks[0];
  expect(sync?.kind === 'sync' ? sync.req.sealed.map((p) => [p.segment_id, p.node_id]) : []).toEqual([[301, 1], [302, 1], [303, 2]]);
  expect(h2.hiddenResults.size).toBe(0);
  expect([...h1.joinedImports, ...h2.joinedImports]).toEqual(['11/77', '11/77']);
  // A replica that never served the import whole still waits for all of it.
  expect([...handoffOf(t, R, after, new Map(), 0, 1000).hiddenResults].sort()).toEqual([301, 302, 303]);
});
