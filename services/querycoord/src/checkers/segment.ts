import type { ReplicaRecord } from '@kite/segment';
import { activeNodes, holders, replicaNodes, rowsOn, type DistSnapshot, type NodeView } from '../distribution';
import type { CollectionTarget } from '../target';
import type { Task } from '../tasks';
import { lightest } from './common';

/** Rows per active node of the replica: what it reports plus the loads planned to it in this pass. */
export function plannedRows(snap: DistSnapshot, r: ReplicaRecord, planned: readonly Task[]): Map<number, number> {
  const rows = new Map<number, number>(activeNodes(snap, r).map((n) => [n.id, rowsOn(n)]));
  for (const t of planned) if (t.kind === 'load' && t.replica === r.replicaID && rows.has(t.node)) rows.set(t.node, rows.get(t.node)! + t.rows);
  return rows;
}

/**
 * Segments of the target that no active member of the replica holds (new ones, or ones on a gone, suspect or
 * stopping node) are loaded on the active member with the fewest rows, counting loads planned in this pass.
 */
export function checkSegments(t: CollectionTarget, r: ReplicaRecord, snap: DistSnapshot): Task[] {
  const active = activeNodes(snap, r);
  if (active.length === 0) return [];
  const coll = t.collection.collectionID;
  const onActive = holders(coll, r, active);
  const all = holders(coll, r, replicaNodes(snap, r));
  const out: Task[] = [];
  for (const s of t.segments) {
    if (onActive.has(s.segmentID)) continue;
    const rows = plannedRows(snap, r, out);
    const dest = lightest(active, (n) => rows.get(n.id) ?? 0);
    const why = all.has(s.segmentID) ? 'moving off a stopping node' : 'lacks segment';
    out.push({ kind: 'load', node: dest.id, collection: coll, replica: r.replicaID, segment: s.segmentID, rows: s.numRows, why });
  }
  return out;
}

/** Of several active nodes holding a segment, the one that keeps it: the least loaded. */
function preferredHolder(ns: readonly NodeView[], rows: ReadonlyMap<number, number>): NodeView {
  return lightest(ns.filter((n) => !n.stopping), (n) => rows.get(n.id) ?? 0);
}

/**
 * Copies nobody needs are released: segments not in the target, and copies also held by an active member
 * elsewhere (the copy on a stopping node, or on the more loaded of two active nodes, once a move has loaded it).
 * `planned` are the loads planned in this pass (they count towards rows); `keep` are compaction sources kept;
 * `moving` are segments a LoadBalance move is moving (it releases their old copies itself).
 */
export function checkRedundantSegments(t: CollectionTarget, r: ReplicaRecord, snap: DistSnapshot, planned: readonly Task[], keep: ReadonlySet<number> = new Set(), moving: ReadonlySet<number> = new Set()): Task[] {
  const active = activeNodes(snap, r);
  if (active.length === 0) return [];
  const coll = t.collection.collectionID;
  const onActive = holders(coll, r, active);
  const rows = plannedRows(snap, r, planned);
  const targetIds = new Set(t.segments.map((s) => s.segmentID));
  const out: Task[] = [];
  for (const n of replicaNodes(snap, r)) {
    const extra = n.dist.segments.filter((s) => {
      if (s.collection_id !== coll || s.replica_id !== r.replicaID || moving.has(s.segment_id)) return false;
      // A compaction's sources stay while the replica serves them or switched from them a moment ago (handoff.ts).
      if (!targetIds.has(s.segment_id)) return !keep.has(s.segment_id);
      const others = (onActive.get(s.segment_id) ?? []).filter((o) => o !== n);
      return others.length > 0 && (n.stopping || preferredHolder(others.concat(n), rows) !== n);
    });
    if (extra.length) out.push({ kind: 'release', node: n.id, collection: coll, replica: r.replicaID, segments: extra.map((s) => s.segment_id) });
  }
  return out;
}
