import type { ReplicaRecord } from '@kite/segment';
import { activeNodes, channelOn, delegators, holders, placement, rowsOn, type DistSnapshot } from '../distribution';
import type { PendingTask } from '../scheduler';
import type { CollectionTarget } from '../target';
import type { Task } from '../tasks';
import { delegatorCount, heaviest, lightest, loadsPending, watches, watermark } from './common';

/**
 * Segment balance within a replica: when no load is pending in it, one segment moves from the active member with
 * the most rows to the one with the fewest, if the gap is at least twice its rows (the smallest such segment held
 * only there). The copy left behind is released once the move shows (see checkRedundantSegments). Segments a
 * LoadBalance call placed (`pinned`) stay where they are, and nothing moves while such a call is in progress (`busy`).
 */
export function checkSegmentBalance(t: CollectionTarget, r: ReplicaRecord, snap: DistSnapshot, pending: readonly PendingTask[], planned: readonly Task[] = [], pinned: ReadonlySet<number> = new Set(), busy = false): Task[] {
  const active = activeNodes(snap, r);
  if (busy || active.length < 2 || loadsPending(r, pending, planned)) return [];
  const coll = t.collection.collectionID;
  const onActive = holders(coll, r, active);
  const heavy = heaviest(active, rowsOn);
  const light = lightest(active, rowsOn);
  const gap = rowsOn(heavy) - rowsOn(light);
  const candidate = heavy.dist.segments
    .filter((s) => s.collection_id === coll && s.replica_id === r.replicaID && !pinned.has(s.segment_id) && (onActive.get(s.segment_id)?.length ?? 0) === 1)
    .sort((a, b) => a.num_rows - b.num_rows)
    .find((s) => s.num_rows * 2 <= gap);
  const meta = candidate && t.all.get(candidate.segment_id);
  if (!meta) return [];
  return [{ kind: 'load', node: light.id, collection: coll, replica: r.replicaID, segment: meta.segmentID, rows: meta.numRows, why: 'balance' }];
}

/**
 * Delegator balance within a replica: a channel served by one active, serviceable delegator gets a second one on
 * the active member with the fewest delegators when the gap is two or more (the hand-over in checkChannels then
 * unwatches one of the two).
 */
export function checkChannelBalance(t: CollectionTarget, r: ReplicaRecord, snap: DistSnapshot, pending: readonly PendingTask[], planned: readonly Task[] = []): Task[] {
  const active = activeNodes(snap, r);
  if (active.length === 0) return [];
  const placed = placement(snap, t.collection.collectionID, r);
  const out: Task[] = [];
  const busy = new Set(pending.filter((p) => p.task.kind === 'watch').map((p) => p.key));
  for (const channel of t.channels) {
    const activeDs = delegators(snap, r, channel).filter((n) => !n.stopping);
    if (activeDs.length !== 1) continue;
    const holder = activeDs[0]!;
    if (!channelOn(holder, r.replicaID, channel)!.serviceable) continue;
    const starting = watches(pending, [...planned, ...out]);
    const count = (n: typeof holder): number => delegatorCount(n, starting);
    const light = lightest(active, count);
    if (count(holder) - count(light) < 2 || busy.has(`watch/${r.replicaID}/${channel}`)) continue;
    out.push({ kind: 'watch', node: light.id, collection: t.collection.collectionID, replica: r.replicaID, channel, from: watermark(t, channel, placed), why: 'balance' });
  }
  return out;
}
