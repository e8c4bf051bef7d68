import type { ReplicaRecord } from '@kite/segment';
import { activeNodes, channelOn, delegators, placement, type DistSnapshot } from '../distribution';
import type { PendingTask } from '../scheduler';
import type { CollectionTarget } from '../target';
import type { Task } from '../tasks';
import { delegatorCount, lightest, watches, watermark } from './common';

/**
 * Query-node delegators: every channel of the target has one serving delegator in each replica.
 * - Hand-over: once an active delegator is serviceable, the channel's other delegators in the replica (on stopping
 *   nodes, or balancing leftovers) are unwatched; the one kept is on the node with the fewest delegators.
 * - A channel with no active delegator gets one on the active member with the fewest delegators, from the
 *   replica's watermark, once the channel's sealed segments are in place (so it replays only what they lack); it
 *   does not wait when none of the collection's missing segments has a load pending (it would wait forever).
 */
export function checkChannels(t: CollectionTarget, r: ReplicaRecord, snap: DistSnapshot, pending: readonly PendingTask[], planned: readonly Task[] = []): Task[] {
  const active = activeNodes(snap, r);
  if (active.length === 0) return [];
  const coll = t.collection.collectionID;
  const placed = placement(snap, coll, r);
  const out: Task[] = [];
  const busy = new Set(pending.map((p) => p.key));
  const loadPending = new Set([...pending.map((p) => p.task), ...planned].flatMap((x) => (x.kind === 'load' ? [x.segment] : [])));
  for (const channel of t.channels) {
    const starting = watches(pending, [...planned, ...out]);
    const count = (n: (typeof active)[number]): number => delegatorCount(n, starting);
    const ds = delegators(snap, r, channel);
    const activeDs = ds.filter((n) => !n.stopping);
    const serving = activeDs.filter((n) => channelOn(n, r.replicaID, channel)!.serviceable);
    if (serving.length > 0 && ds.length > 1) {
      const keep = lightest(serving, count);
      for (const extra of ds.filter((n) => n !== keep)) out.push({ kind: 'unwatch', node: extra.id, collection: coll, replica: r.replicaID, channel });
    }
    if (activeDs.length > 0) continue;
    const missing = t.segments.filter((s) => !placed.has(s.segmentID));
    const channelPending = missing.some((s) => s.channel === channel);
    if (channelPending && ds.length === 0 && missing.some((s) => loadPending.has(s.segmentID))) continue;
    // A watch already pending for the channel counts as there (the scheduler would drop the duplicate).
    if (busy.has(`watch/${r.replicaID}/${channel}`)) continue;
    const why = ds.length ? 'moving off a stopping node' : 'lacks delegator';
    out.push({ kind: 'watch', node: lightest(active, count).id, collection: coll, replica: r.replicaID, channel, from: watermark(t, channel, placed), why });
  }
  return out;
}
