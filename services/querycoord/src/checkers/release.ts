import type { ReplicaRecord } from '@kite/segment';
import { answering, type DistSnapshot } from '../distribution';
import type { Task } from '../tasks';

/**
 * Segments and delegators on query nodes that no loaded collection's replica holds them for (released or dropped
 * collections, replicas the node left) are released and unwatched. `replicas` has the loaded collections only.
 */
export function checkReleases(replicas: ReadonlyMap<number, readonly ReplicaRecord[]>, snap: DistSnapshot): Task[] {
  const out: Task[] = [];
  for (const n of snap.nodes.values()) {
    if (n.role !== 'querynode' || !answering(n)) continue;
    const member = (coll: number, replica: number): boolean => (replicas.get(coll) ?? []).some((r) => r.replicaID === replica && r.nodes.includes(n.id));
    const byReplica = new Map<number, { coll: number; ids: number[] }>();
    for (const s of n.dist.segments) {
      if (member(s.collection_id, s.replica_id)) continue;
      const e = byReplica.get(s.replica_id) ?? { coll: s.collection_id, ids: [] };
      e.ids.push(s.segment_id);
      byReplica.set(s.replica_id, e);
    }
    for (const [replica, { coll, ids }] of byReplica) out.push({ kind: 'release', node: n.id, collection: coll, replica, segments: ids });
    for (const ch of n.dist.channels) {
      if (!member(ch.collection_id, ch.replica_id)) out.push({ kind: 'unwatch', node: n.id, collection: ch.collection_id, replica: ch.replica_id, channel: ch.channel });
    }
  }
  return out;
}
