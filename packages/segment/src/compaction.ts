import { KiteError } from '@kite/common';

/**
 * Compaction records, kept (JSON) in the meta store. A compaction (manual or automatic) is a set of plans, one per
 * group of a channel's sealed segments. The coordinator writes a plan as 'executing'; the data node that runs it
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

const under = (root: string, rest: string): string => `${root}/${rest}`;

export const compactionKeys = {
  compaction: (root: string, id: number) => under(root, `meta/compaction/${id}`),
  compactions: (root: string) => under(root, 'meta/compaction/'),
  plan: (root: string, compactionID: number, planID: number) => under(root, `meta/compaction-plan/${compactionID}/${planID}`),
  plans: (root: string, compactionID?: number) => under(root, `meta/compaction-plan/${compactionID === undefined ? '' : `${compactionID}/`}`),
};

function decodeRecord<T>(what: string, text: string, key: string, nums: string[]): T {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new KiteError('MetaFailed', `meta key ${key}: ${what} is not JSON`, { retriable: false });
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new KiteError('MetaFailed', `meta key ${key}: ${what} is not an object`, { retriable: false });
  for (const n of nums) {
    if (typeof (v as Record<string, unknown>)[n] !== 'number') throw new KiteError('MetaFailed', `meta key ${key}: ${what} field ${n} is not a number`, { retriable: false });
  }
  return v as T;
}

export const compactionCodecs = {
  compaction: {
    encode: (v: CompactionRecord): string => JSON.stringify(v),
    decode: (text: string, key: string): CompactionRecord => decodeRecord('compaction', text, key, ['compactionID', 'collectionID']),
  },
  plan: {
    encode: (v: CompactionPlanRecord): string => JSON.stringify(v),
    decode: (text: string, key: string): CompactionPlanRecord => decodeRecord('compaction plan', text, key, ['compactionID', 'planID', 'collectionID']),
  },
};
