import type { SealedPlacement, SyncDistributionRequest } from '@kite/rpc';
import type { ReplicaRecord } from '@kite/segment';
import { channelOn, delegators, placement, type DistSnapshot } from '../distribution';
import { NO_HANDOFF, type Handoff } from '../handoff';
import type { CollectionTarget } from '../target';
import type { Task } from '../tasks';
import { watermark } from './common';

/** What the leader checker remembers between passes (read-only to it; the caller applies `LeaderPlan`). */
export interface LeaderMemory {
  /** Last known place of each sealed segment, by `<replica>/<segment>`. */
  readonly lastPlace: ReadonlyMap<string, SealedPlacement>;
  /** The last request sent to each delegator, by `<node>/<replica>/<channel>` (its JSON). */
  readonly synced: ReadonlyMap<string, string>;
}

export interface LeaderPlan {
  tasks: Task[];
  /** Places seen in this pass, to remember. */
  placed: [string, SealedPlacement][];
  /** Requests sent in this pass, to remember. */
  synced: [string, string][];
}

export const syncKey = (node: number, replica: number, channel: string): string => `${node}/${replica}/${channel}`;

/**
 * Sealed-segment lists of delegators: each delegator of the replica is told where its channel's sealed segments
 * are and the watermark they cover. A segment whose node failed keeps its last known place (searches fail over to
 * another replica or retry) until it is loaded elsewhere: a delegator never silently serves fewer rows, and its
 * watermark never goes back. A request is sent again until the delegator reports serviceable at its watermark (a
 * delegator started anew on the same node, after an unwatch, has the same key and request but has not been told).
 */
export function checkLeaders(t: CollectionTarget, r: ReplicaRecord, snap: DistSnapshot, memory: LeaderMemory, handoff: Handoff = NO_HANDOFF, prefer: ReadonlyMap<number, number> = new Map()): LeaderPlan {
  const coll = t.collection.collectionID;
  const placed = placement(snap, coll, r, prefer);
  const plan: LeaderPlan = { tasks: [], placed: [], synced: [] };
  const places = new Map(memory.lastPlace);
  for (const channel of t.channels) {
    for (const leader of delegators(snap, r, channel)) {
      const reported = channelOn(leader, r.replicaID, channel)!;
      const sealed: SealedPlacement[] = [];
      for (const s of t.all.values()) {
        // A compaction's results join the list together, once all are loaded in the replica (handoff.ts).
        if (s.channel !== channel || s.numRows === 0 || handoff.hiddenResults.has(s.segmentID)) continue;
        const n = placed.get(s.segmentID);
        const key = `${r.replicaID}/${s.segmentID}`;
        if (n) {
          const p = { segment_id: s.segmentID, node_id: n.id, address: n.address, end_offset: s.endOffset };
          places.set(key, p);
          plan.placed.push([key, p]);
        }
        const p = places.get(key);
        if (p && (n || s.endOffset <= reported.watermark)) sealed.push(p);
      }
      for (const [id, src] of handoff.servedSources) {
        if (src.channel === channel) sealed.push({ segment_id: id, node_id: src.node.id, address: src.node.address, end_offset: src.endOffset });
      }
      sealed.sort((a, b) => a.segment_id - b.segment_id);
      const wm = Math.max(watermark(t, channel, placed), reported.watermark);
      const req: SyncDistributionRequest = { collection_id: coll, channel, replica_id: r.replicaID, sealed, watermark: wm };
      const sig = JSON.stringify(req);
      const key = syncKey(leader.id, r.replicaID, channel);
      if (memory.synced.get(key) === sig && reported.watermark === wm && reported.serviceable) continue;
      plan.synced.push([key, sig]);
      plan.tasks.push({ kind: 'sync', node: leader.id, req });
    }
  }
  return plan;
}
