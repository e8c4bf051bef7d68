import type { ReplicaRecord } from '@kite/segment';
import { channelOn, type NodeView } from '../distribution';
import type { PendingTask } from '../scheduler';
import { segmentsOn, type CollectionTarget } from '../target';
import type { Task } from '../tasks';

/**
 * The offset below which the replica serves a channel from sealed segments: the end of the longest run of
 * segments, from offset 0, that cover the channel's offsets, but no further than the start of any segment with rows
 * not loaded somewhere in the replica (`placed`). Segments of one compaction plan cover the same offsets, so all of
 * them must be placed for the watermark to pass them.
 */
export function watermark(t: CollectionTarget, channel: string, placed: ReadonlyMap<number, unknown>): number {
  let w = 0;
  const segs = segmentsOn(t, channel);
  for (const s of segs) {
    if (s.startOffset > w) break;
    w = Math.max(w, s.endOffset);
  }
  // An imported segment (no WAL offsets) holds no rows a delegator could serve as growing rows: it does not hold the
  // watermark back.
  for (const s of segs) if (s.numRows > 0 && s.importTaskID === undefined && !placed.has(s.segmentID) && s.startOffset < w) w = s.startOffset;
  return w;
}

/** Watch tasks pending (in the scheduler, or planned earlier in this pass). */
export function watches(pending: readonly PendingTask[], planned: readonly Task[] = []): Extract<Task, { kind: 'watch' }>[] {
  return [...pending.map((p) => p.task), ...planned].filter((t): t is Extract<Task, { kind: 'watch' }> => t.kind === 'watch');
}

/**
 * A node's delegators: those it reports plus those being started on it, so one pass never moves two channels to
 * the same light node on stale counts (which made the hand-over move them back: a watch/unwatch ping-pong).
 */
export function delegatorCount(n: NodeView, starting: readonly Extract<Task, { kind: 'watch' }>[]): number {
  const reported = n.dist?.channels.length ?? 0;
  return reported + starting.filter((w) => w.node === n.id && !channelOn(n, w.replica, w.channel)).length;
}

/** Whether the replica has any segment load pending (in the scheduler, or planned in this pass). */
export function loadsPending(r: ReplicaRecord, pending: readonly PendingTask[], planned: readonly Task[] = []): boolean {
  return [...pending.map((p) => p.task), ...planned].some((t) => t.kind === 'load' && t.replica === r.replicaID);
}

/** The node with the least of `weight` (the first such). */
export function lightest<N>(nodes: readonly N[], weight: (n: N) => number): N {
  return nodes.reduce((a, b) => (weight(b) < weight(a) ? b : a));
}

/** The node with the most of `weight` (the first such). */
export function heaviest<N>(nodes: readonly N[], weight: (n: N) => number): N {
  return nodes.reduce((a, b) => (weight(b) > weight(a) ? b : a));
}
