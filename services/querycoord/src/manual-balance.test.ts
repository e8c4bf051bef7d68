import type { DistributionResponse, SegmentDist } from '@kite/rpc';
import { checkSegmentBalance } from './checkers/balance';
import { checkRedundantSegments } from './checkers/segment';
import { placement, type DistSnapshot, type NodeView } from './distribution';
import { ManualMoves } from './manual-balance';
import { makeTarget } from './target';
import { collection, segment } from './testing/fakes';

const C = collection(1, 1, 1);
const CH = 'kite-dml-1#0';
const R = { replicaID: 11, nodes: [1, 2] };
const T = makeTarget(C, [segment(C, 101, 0, 0, 100), segment(C, 102, 0, 100, 100)]);

function snap(held: Record<number, number[]>): DistSnapshot {
  const m = new Map<number, NodeView>();
  for (const [key, ids] of Object.entries(held)) {
    const id = Number(key);
    const segments: SegmentDist[] = ids.map((s) => ({ collection_id: 1, segment_id: s, replica_id: 11, num_rows: 100, channel: CH }));
    const dist: DistributionResponse = { node_id: id, channels: [], segments, indexing_segments: [] };
    m.set(id, { id, role: 'querynode', address: `n${id}`, state: 'healthy', since: 0, stopping: false, failures: 0, dist });
  }
  return { seq: 1, startedAt: 0, nodes: m };
}

const move = { collection: 1, replica: 11, segment: 101, rows: 100, src: 1, dst: 2 };

test('a move loads on dst, switches placement to dst, then releases the source copy, and resolves once only dst holds it', async () => {
  const moves = new ManualMoves();
  let done = false;
  const waiting = moves.start([move], 60_000).then(() => (done = true));
  // Loading: a load task to dst; placement and redundancy untouched.
  expect(moves.check(T, R, snap({ 1: [101, 102], 2: [] }))).toEqual([{ kind: 'load', node: 2, collection: 1, replica: 11, segment: 101, rows: 100, why: 'load balance' }]);
  expect(moves.preferred(11).size).toBe(0);
  // Both hold it: switching; delegators are pointed at dst, no copy is released yet (not even by the redundancy checker).
  const both = snap({ 1: [101, 102], 2: [101] });
  expect(moves.check(T, R, both)).toEqual([]);
  expect(placement(both, 1, R, moves.preferred(11)).get(101)!.id).toBe(2);
  expect(checkRedundantSegments(T, R, both, [], new Set(), moves.moving(11))).toEqual([]);
  // One pass later: the source copy is released.
  expect(moves.check(T, R, both)).toEqual([{ kind: 'release', node: 1, collection: 1, replica: 11, segments: [101] }]);
  await Promise.resolve();
  expect(done).toBe(false);
  // Only dst holds it: done, and pinned against automatic balance (node 2 is now lighter, 101 would be a candidate).
  expect(moves.check(T, R, snap({ 1: [102], 2: [101] }))).toEqual([]);
  await waiting;
  expect(done).toBe(true);
  expect(moves.pinned(11)).toEqual(new Set([101]));
  expect(checkSegmentBalance(T, R, snap({ 1: [], 2: [101, 102] }), [], [], moves.pinned(11))).toEqual([
    expect.objectContaining({ kind: 'load', node: 1, segment: 102 }),
  ]);
});

test('a move whose segment leaves the target or whose destination stops serving fails naming why', async () => {
  const moves = new ManualMoves();
  const gone = moves.start([move], 60_000);
  moves.check(makeTarget(C, [segment(C, 102, 0, 100, 100)]), R, snap({ 1: [101, 102], 2: [] }));
  await expect(gone).rejects.toThrow(/segment 101 is no longer part of the collection/);
  const stopped = moves.start([move], 60_000);
  moves.check(T, R, snap({ 1: [101, 102] }));
  await expect(stopped).rejects.toThrow(/destination node 2 no longer serves replica 11/);
});

test('a move that does not finish in time fails naming the segments still moving', async () => {
  const moves = new ManualMoves();
  await expect(moves.start([move], 50)).rejects.toThrow(/did not finish within 50 ms: segments still moving: 101/);
});
