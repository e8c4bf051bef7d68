/**
 * Compaction records, kept (JSON) in the meta store under `keys.compaction` and `keys.compactionPlan` (layout.ts,
 * with their codecs). A compaction (manual or automatic) is a set of plans, one per group of a channel's sealed
 * segments. The coordinator writes a plan as 'executing'; the data node that runs it
 * replaces the plan's source segment records by its result records and marks the plan 'completed' in one
 * transaction, so readers of the meta store see the sources or the results, never both and never neither.
 */
export type CompactionType = 'mix' | 'clustering';

export interface CompactionRecord {
  compactionID: number;
  collectionID: number;
  /** ManualCompaction with majorCompaction (pymilvus `is_clustering=True`): clustering by the clustering key. */
  clustering: boolean;
  trigger: 'manual' | 'auto';
  planIDs: number[];
  createdAt: number;
}

export interface CompactionPlanRecord {
  compactionID: number;
  planID: number;
  collectionID: number;
  channel: string;
  type: CompactionType;
  /** The segments to rewrite: a run of the channel's segments contiguous in offsets. */
  sources: number[];
  state: 'executing' | 'completed' | 'failed';
  /** The segments written (on completion); empty when the plan had nothing to do (the sources stay). */
  results: number[];
  /** Why the plan failed, or that it had nothing to do. */
  reason?: string;
  createdAt: number;
  updatedAt: number;
}
