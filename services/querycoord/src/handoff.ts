import type { ReplicaRecord } from '@kite/segment';
import { placement, type DistSnapshot, type NodeView } from './distribution';
import type { CollectionTarget } from './target';

/**
 * How one replica moves from a compaction's sources to its results. The meta store swaps them in one transaction,
 * so the target names the results only; a replica whose nodes still hold the sources keeps serving them, whole,
 * until every result with rows is loaded in the replica, and then switches its delegators' sealed lists from the
 * sources to the results in one SyncDistribution each. The sources stay loaded for `graceMs` more, for reads that
 * were fanned out to them before the switch, and are released after.
 */
export interface Handoff {
  /**
   * Results not yet loaded everywhere in the replica, and segments of a bulk import not all loaded in it yet: left
   * out of its delegators' sealed lists.
   */
  readonly hiddenResults: ReadonlySet<number>;
  /** Sources the replica serves in their results' place, with where they are and the results' channel and end. */
  readonly servedSources: ReadonlyMap<number, { node: NodeView; channel: string; endOffset: number }>;
  /** Sources not to release yet (served, or switched from less than the grace period ago). */
  readonly keep: ReadonlySet<number>;
  /** Plans whose results the replica serves, by `<replica>/<plan>`, with when it switched (for the caller to keep). */
  readonly switched: ReadonlyMap<string, number>;
  /**
   * Bulk imports whose segments the replica has served together, by `<replica>/<task>` (for the caller to keep and
   * pass back): once joined, an import's segments are never hidden again.
   */
  readonly joinedImports: ReadonlySet<string>;
}

export const NO_HANDOFF: Handoff = { hiddenResults: new Set(), servedSources: new Map(), keep: new Set(), switched: new Map(), joinedImports: new Set() };

export function handoffOf(
  t: CollectionTarget,
  r: ReplicaRecord,
  snap: DistSnapshot,
  switchedAt: ReadonlyMap<string, number>,
  now: number,
  graceMs: number,
  joined: ReadonlySet<string> = new Set(),
): Handoff {
  const placed = placement(snap, t.collection.collectionID, r);
  const groups = new Map<number, { sources: number[]; results: { id: number; rows: number; channel: string; end: number }[] }>();
  for (const s of t.all.values()) {
    if (!s.compaction) continue;
    let g = groups.get(s.compaction.planID);
    if (!g) groups.set(s.compaction.planID, (g = { sources: s.compaction.sources, results: [] }));
    g.results.push({ id: s.segmentID, rows: s.numRows, channel: s.channel, end: s.endOffset });
  }
  const hiddenResults = new Set<number>();
  const servedSources = new Map<number, { node: NodeView; channel: string; endOffset: number }>();
  const keep = new Set<number>();
  const switched = new Map<string, number>();
  // A bulk import's segments join the lists together too, once all are loaded in the replica: the task's rows
  // become visible at once, never some of them. Only the first time: when a node holding some of them fails later,
  // they keep their last known places (leader.ts), as any segment does, so a search waits for them or fails over
  // to another replica instead of getting the rows of the others only.
  const imports = new Map<number, number[]>();
  for (const s of t.all.values()) {
    if (s.importTaskID === undefined || s.numRows === 0) continue;
    let ids = imports.get(s.importTaskID);
    if (!ids) imports.set(s.importTaskID, (ids = []));
    ids.push(s.segmentID);
  }
  const joinedImports = new Set<string>();
  for (const [task, ids] of imports) {
    const key = `${r.replicaID}/${task}`;
    if (joined.has(key) || ids.every((id) => placed.has(id))) joinedImports.add(key);
    else for (const id of ids) hiddenResults.add(id);
  }
  for (const [planID, g] of groups) {
    const held = g.sources.filter((id) => placed.has(id) && !t.all.has(id));
    if (held.length === 0) continue;
    const key = `${r.replicaID}/${planID}`;
    if (g.results.every((x) => x.rows === 0 || placed.has(x.id))) {
      const since = switchedAt.get(key) ?? now;
      switched.set(key, since);
      if (now - since < graceMs) for (const id of held) keep.add(id);
      continue;
    }
    for (const x of g.results) hiddenResults.add(x.id);
    const first = g.results[0]!;
    for (const id of held) {
      servedSources.set(id, { node: placed.get(id)!, channel: first.channel, endOffset: first.end });
      keep.add(id);
    }
  }
  return { hiddenResults, servedSources, keep, switched, joinedImports };
}

/**
 * Results of a compaction that some replica has not switched to yet (it still serves their sources): a new plan
 * must not take them, or that replica would lose the sources' rows before the new results are loaded.
 */
export function handoffPending(t: CollectionTarget, replicas: readonly ReplicaRecord[], snap: DistSnapshot): Set<number> {
  const out = new Set<number>();
  for (const r of replicas) for (const id of handoffOf(t, r, snap, new Map(), 0, 0).hiddenResults) out.add(id);
  return out;
}
