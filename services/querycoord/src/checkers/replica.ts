import type { ReplicaRecord } from '@kite/segment';
import type { NodeView } from '../distribution';

export interface ReplicaPlan {
  replicas: ReplicaRecord[];
  /** Whether membership differs from what was given (it must be saved). */
  changed: boolean;
  /** Nodes moved to a replica that had none left. */
  borrowed: { node: number; from: number; to: number }[];
}

/** The replica ids of a collection loaded with `count` replicas. */
export function replicaIds(collectionID: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => collectionID * 10 + i + 1);
}

/**
 * Replica membership: each replica gets a disjoint set of the query nodes that have a session (`nodes`: every
 * state but gone). Members whose session is gone leave; a node in no replica joins the one with the fewest
 * active (not stopping) members. A stopping node stays a member (it serves until its work has moved) but never
 * joins one. A replica left with no active member borrows one from the replica with the most, if that one keeps
 * at least one. Returns new records; the input is not changed.
 */
export function checkReplicas(collectionID: number, want: number, current: readonly ReplicaRecord[] | undefined, nodes: readonly NodeView[]): ReplicaPlan {
  let changed = !current;
  let reps: ReplicaRecord[];
  if (!current || current.length !== want) {
    reps = replicaIds(collectionID, want).map((replicaID) => ({ replicaID, nodes: [] }));
    changed = true;
  } else {
    reps = current.map((r) => ({ replicaID: r.replicaID, nodes: [...r.nodes] }));
  }
  const qns = nodes.filter((n) => n.role === 'querynode' && n.state !== 'gone');
  const live = new Set(qns.map((n) => n.id));
  const stopping = new Set(qns.filter((n) => n.stopping).map((n) => n.id));
  const joinable = qns.filter((n) => !n.stopping).map((n) => n.id).sort((a, b) => a - b);
  for (const r of reps) {
    const kept = r.nodes.filter((id) => live.has(id));
    if (kept.length !== r.nodes.length) {
      r.nodes = kept;
      changed = true;
    }
  }
  const used = new Set(reps.flatMap((r) => r.nodes));
  const active = (r: ReplicaRecord): number => r.nodes.filter((id) => !stopping.has(id)).length;
  for (const id of joinable) {
    if (used.has(id)) continue;
    const smallest = reps.reduce((a, b) => (active(b) < active(a) ? b : a));
    smallest.nodes.push(id);
    used.add(id);
    changed = true;
  }
  const borrowed: ReplicaPlan['borrowed'] = [];
  for (const r of reps) {
    if (active(r) > 0) continue;
    const donor = reps.reduce((a, b) => (active(b) > active(a) ? b : a));
    if (active(donor) < 2) continue;
    const moved = donor.nodes.filter((id) => !stopping.has(id)).pop()!;
    donor.nodes = donor.nodes.filter((id) => id !== moved);
    r.nodes.push(moved);
    changed = true;
    borrowed.push({ node: moved, from: donor.replicaID, to: r.replicaID });
  }
  return { replicas: reps, changed, borrowed };
}
