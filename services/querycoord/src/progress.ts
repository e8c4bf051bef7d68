import { OK_STATUS } from '@kite/rpc';
import type * as M from '@kite/rpc';
import type { ReplicaRecord, SegmentMeta } from '@kite/segment';
import { channelOn, delegators, placement, type DistSnapshot } from './distribution';
import type { CollectionTarget } from './target';

/** Per replica: the target segments it serves (placed, or held as growing data by a serviceable delegator). */
function servedIn(t: CollectionTarget, r: ReplicaRecord, snap: DistSnapshot): { segments: number; channels: number } {
  const placed = placement(snap, t.collection.collectionID, r);
  // A segment not loaded yet still counts as served while a serviceable delegator holds its rows as growing data
  // (its watermark is at or below the segment's start and it consumed past the segment's end).
  // Imported segments never were growing rows (they have no WAL offsets).
  const growing = (seg: SegmentMeta): boolean =>
    seg.importTaskID === undefined && delegators(snap, r, seg.channel).some((n) => {
      const ch = channelOn(n, r.replicaID, seg.channel)!;
      return ch.serviceable && ch.watermark <= seg.startOffset && ch.consumed_offset >= seg.endOffset;
    });
  // A compaction's result counts as served while the replica serves its sources instead (handoff.ts).
  const bySources = (seg: SegmentMeta): boolean => !!seg.compaction?.sources.some((id) => placed.has(id) && !t.all.has(id));
  const segments = t.segments.filter((s) => placed.has(s.segmentID) || growing(s) || bySources(s)).length;
  const channels = t.channels.filter((ch) => delegators(snap, r, ch).some((n) => channelOn(n, r.replicaID, ch)!.serviceable)).length;
  return { segments, channels };
}

/** Load state and progress of a collection: the share of (segment, replica) and (channel, replica) pairs served. */
export function loadInfo(t: CollectionTarget, replicas: readonly ReplicaRecord[], snap: DistSnapshot): M.LoadInfoResponse {
  const c = t.collection;
  if (!c.load) return { status: OK_STATUS, state: 'NotLoad', progress: 0, replica_number: 0, loaded_partition_ids: [] };
  let done = 0;
  let total = 0;
  for (const r of replicas) {
    const served = servedIn(t, r, snap);
    total += t.segments.length + t.channels.length;
    done += served.segments + served.channels;
  }
  if (replicas.length === 0) total = 1;
  const progress = total === 0 ? 100 : Math.floor((done * 100) / total);
  const partitionIDs = c.load.all ? c.partitions.map((p) => p.partitionID) : c.load.partitionIDs;
  return { status: OK_STATUS, state: progress >= 100 ? 'Loaded' : 'Loading', progress, replica_number: c.load.replicaNumber, loaded_partition_ids: partitionIDs };
}

/** Target segments loaded in every replica. */
export function servedEverywhere(t: CollectionTarget, replicas: readonly ReplicaRecord[], snap: DistSnapshot): number {
  const placed = replicas.map((r) => placement(snap, t.collection.collectionID, r));
  return t.segments.filter((s) => placed.every((p) => p.has(s.segmentID))).length;
}
