import type { ChannelDist, DistributionResponse, SegmentDist } from '@kite/rpc';
import type { DistSnapshot, NodeView } from '../distribution';
import { makeTarget } from '../target';
import { collection, segment } from '../testing/fakes';
import { checkChannelBalance, checkSegmentBalance } from './balance';
import { checkChannels } from './channel';
import { checkDataChannels } from './data-channel';
import { checkLeaders } from './leader';
import { checkReleases } from './release';
import { checkReplicas } from './replica';
import { checkRedundantSegments, checkSegments } from './segment';

const C = collection(1, 1, 1);
const CH = 'kite-dml-1#0';
const R = { replicaID: 11, nodes: [1, 2] };
const segs = [segment(C, 101, 0, 0, 100), segment(C, 102, 0, 100, 100), segment(C, 103, 0, 200, 100), segment(C, 104, 0, 300, 100)];
const T = makeTarget(C, segs);

interface NodeSpec {
  segments?: number[];
  channels?: { channel: string; serviceable: boolean; watermark?: number }[];
  stopping?: boolean;
  state?: NodeView['state'];
  role?: NodeView['role'];
  replica?: number;
}

function snap(nodes: Record<number, NodeSpec>): DistSnapshot {
  const m = new Map<number, NodeView>();
  for (const [key, n] of Object.entries(nodes)) {
    const id = Number(key);
    const replica = n.replica ?? 11;
    const segments: SegmentDist[] = (n.segments ?? []).map((s) => ({ collection_id: 1, segment_id: s, replica_id: replica, num_rows: 100, channel: CH }));
    const channels: ChannelDist[] = (n.channels ?? []).map((c) => ({ collection_id: 1, channel: c.channel, replica_id: replica, consumed_offset: 400, watermark: c.watermark ?? 0, growing_rows: 0, serviceable: c.serviceable }));
    const dist: DistributionResponse = { node_id: id, channels, segments, indexing_segments: [] };
    const stopping = n.stopping ?? false;
    m.set(id, { id, role: n.role ?? 'querynode', address: `n${id}`, state: n.state ?? (stopping ? 'stopping' : 'healthy'), since: 0, stopping, failures: 0, dist });
  }
  return { seq: 1, startedAt: 0, nodes: m };
}

test('replica checker: replicas get disjoint node sets; a joining node goes to the smallest; a stopping node stays but never joins', () => {
  const nodes = [...snap({ 1: {}, 2: {}, 3: {}, 4: { stopping: true }, 5: { state: 'gone' } }).nodes.values()];
  const plan = checkReplicas(1, 2, undefined, nodes);
  expect(plan.replicas).toEqual([
    { replicaID: 11, nodes: [1, 3] },
    { replicaID: 12, nodes: [2] },
  ]);
  expect(plan.changed).toBe(true);
  // Node 3 gone, node 6 joins: it goes to the replica left smaller.
  const later = [...snap({ 1: {}, 2: {}, 6: {} }).nodes.values()];
  expect(checkReplicas(1, 2, plan.replicas, later).replicas).toEqual([
    { replicaID: 11, nodes: [1, 6] },
    { replicaID: 12, nodes: [2] },
  ]);
  // A replica left with only a stopping member borrows an active node from one that keeps one.
  const borrow = checkReplicas(1, 2, [{ replicaID: 11, nodes: [1, 3] }, { replicaID: 12, nodes: [2] }], [...snap({ 1: {}, 2: { stopping: true }, 3: {} }).nodes.values()]);
  expect(borrow.replicas).toEqual([
    { replicaID: 11, nodes: [1] },
    { replicaID: 12, nodes: [2, 3] },
  ]);
  expect(borrow.borrowed).toEqual([{ node: 3, from: 11, to: 12 }]);
  // Membership is stable when nothing changed.
  expect(checkReplicas(1, 2, borrow.replicas, [...snap({ 1: {}, 2: { stopping: true }, 3: {} }).nodes.values()]).changed).toBe(false);
});

test('segment checker: missing segments go to the lightest active member; a stopping member gets none', () => {
  const s = snap({ 1: { segments: [101] }, 2: {}, 3: { stopping: true } });
  const r = { replicaID: 11, nodes: [1, 2, 3] };
  expect(checkSegments(T, r, s).map((t) => t.kind === 'load' && [t.node, t.segment, t.why])).toEqual([
    [2, 102, 'lacks segment'],
    [1, 103, 'lacks segment'],
    [2, 104, 'lacks segment'],
  ]);
});

test('balance after a join: one segment moves from the heaviest to the new node, only while no load is pending', () => {
  const s = snap({ 1: { segments: [101, 102, 103, 104] }, 2: {} });
  expect(checkSegments(T, R, s)).toEqual([]);
  expect(checkSegmentBalance(T, R, s, [])).toEqual([{ kind: 'load', node: 2, collection: 1, replica: 11, segment: 101, rows: 100, why: 'balance' }]);
  const pendingLoad = { key: 'load/11/101', task: { kind: 'load' as const, node: 2, collection: 1, replica: 11, segment: 101, rows: 100, why: 'balance' }, state: 'running' as const, created: 0, started: 0, returned: undefined };
  expect(checkSegmentBalance(T, R, s, [pendingLoad])).toEqual([]);
  // Once the move shows, the copy on the heavier node is released.
  const moved = snap({ 1: { segments: [101, 102, 103, 104] }, 2: { segments: [101] } });
  expect(checkRedundantSegments(T, R, moved, [])).toEqual([{ kind: 'release', node: 1, collection: 1, replica: 11, segments: [101] }]);
  // Balanced (gap below twice a segment): nothing moves.
  expect(checkSegmentBalance(T, R, snap({ 1: { segments: [101, 102] }, 2: { segments: [103, 104] } }), [])).toEqual([]);
});

test('graceful stop, channels: a stopping delegator gets a successor; it is unwatched only once the successor is serviceable', () => {
  const all = [101, 102, 103, 104];
  const before = snap({ 1: { stopping: true, segments: all, channels: [{ channel: CH, serviceable: true }] }, 2: {} });
  expect(checkChannels(T, R, before, [])).toEqual([{ kind: 'watch', node: 2, collection: 1, replica: 11, channel: CH, from: 400, why: 'moving off a stopping node' }]);
  const starting = snap({ 1: { stopping: true, segments: all, channels: [{ channel: CH, serviceable: true }] }, 2: { channels: [{ channel: CH, serviceable: false }] } });
  expect(checkChannels(T, R, starting, [])).toEqual([]);
  const serving = snap({ 1: { stopping: true, segments: all, channels: [{ channel: CH, serviceable: true }] }, 2: { channels: [{ channel: CH, serviceable: true }] } });
  expect(checkChannels(T, R, serving, [])).toEqual([{ kind: 'unwatch', node: 1, collection: 1, replica: 11, channel: CH }]);
  // The stopping node's segments move to node 2, and are released from node 1 once node 2 holds them.
  expect(checkSegments(T, R, serving).map((t) => t.kind === 'load' && [t.node, t.segment, t.why])).toEqual(all.map((id) => [2, id, 'moving off a stopping node']));
  const copied = snap({ 1: { stopping: true, segments: all }, 2: { segments: [101, 102], channels: [{ channel: CH, serviceable: true }] } });
  expect(checkRedundantSegments(T, R, copied, [])).toEqual([{ kind: 'release', node: 1, collection: 1, replica: 11, segments: [101, 102] }]);
  // The delegator is told the stopping node still serves what has not moved.
  const plan = checkLeaders(T, R, copied, { lastPlace: new Map(), synced: new Map() });
  expect(plan.tasks).toHaveLength(1);
  const sync = plan.tasks[0]!;
  expect(sync.kind === 'sync' && sync.req.sealed.map((p) => [p.segment_id, p.node_id])).toEqual([[101, 2], [102, 2], [103, 1], [104, 1]]);
});

test('channel balance: delegators start on a node while it is two or more lighter, counting those planned in the pass', () => {
  const two = makeTarget(collection(1, 3, 1), []);
  const chans = ['kite-dml-1#0', 'kite-dml-1#1', 'kite-dml-1#2'];
  const s = snap({ 1: { channels: chans.map((channel) => ({ channel, serviceable: true })) }, 2: {} });
  // 3 against 0: one starts on node 2; 3 against 1: another; 3 against 2: balanced.
  expect(checkChannelBalance(two, R, s, []).map((t) => t.kind === 'watch' && [t.node, t.channel, t.why])).toEqual([
    [2, 'kite-dml-1#0', 'balance'],
    [2, 'kite-dml-1#1', 'balance'],
  ]);
});

test('data channels: one healthy data node per channel, spread; extra owners unwatch; suspect data nodes are skipped', () => {
  const c2 = collection(2, 2, undefined);
  const s = snap({ 50: { role: 'datanode' }, 51: { role: 'datanode' }, 52: { role: 'datanode', state: 'suspect' } });
  expect(checkDataChannels([C, c2], s).map((t) => [t.kind, t.node, 'channel' in t ? t.channel : ''])).toEqual([
    ['dn-watch', 50, 'kite-dml-1#0'],
    ['dn-watch', 51, 'kite-dml-2#0'],
    ['dn-watch', 50, 'kite-dml-2#1'],
  ]);
  const twice = snap({ 50: { role: 'datanode', channels: [{ channel: CH, serviceable: true }] }, 51: { role: 'datanode', channels: [{ channel: CH, serviceable: true }, { channel: 'gone#0', serviceable: true }] } });
  expect(checkDataChannels([C], twice).map((t) => [t.kind, t.node, 'channel' in t ? t.channel : ''])).toEqual([
    ['dn-unwatch', 51, CH],
    ['dn-unwatch', 51, 'gone#0'],
  ]);
});

test('releases: what no loaded replica holds a node for is released and unwatched', () => {
  const s = snap({ 1: { segments: [101], channels: [{ channel: CH, serviceable: true }] }, 3: { segments: [102], channels: [{ channel: CH, serviceable: true }] } });
  expect(checkReleases(new Map([[1, [R]]]), s)).toEqual([
    { kind: 'release', node: 3, collection: 1, replica: 11, segments: [102] },
    { kind: 'unwatch', node: 3, collection: 1, replica: 11, channel: CH },
  ]);
});
