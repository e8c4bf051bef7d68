import { composeTs } from '@kite/common';
import { counter } from '@kite/observe';
import type { CollectionMeta, SegmentMeta } from '@kite/segment';
import type { Filters } from './exec';

/**
 * The timestamp at or below which a collection's rows are invisible to reads, or undefined when all are visible:
 * the larger of its truncate timestamp (TruncateCollection) and, with a collection TTL (`collection.ttl.seconds`
 * > 0), the hybrid timestamp of `nowMs` minus the TTL. Expired rows disappear from search, query and count at
 * once, whether or not compaction has removed them yet. The TTL cut compares row timestamps (the oracle's clock)
 * with this process's clock, so clock skew between machines shifts expiry by that skew.
 */
export function hiddenUpTo(c: Pick<CollectionMeta, 'truncatedTs' | 'properties'>, nowMs: number = Date.now()): bigint | undefined {
  let cut = c.truncatedTs ? BigInt(c.truncatedTs) : 0n;
  const ttl = Number(c.properties?.['collection.ttl.seconds'] ?? 0);
  if (Number.isFinite(ttl) && ttl > 0) {
    const expired = composeTs(Math.max(0, nowMs - ttl * 1000), 0);
    if (expired > cut) cut = expired;
  }
  return cut > 0n ? cut : undefined;
}

const segmentsSkipped = counter('kite_querynode_segments_skipped_total', 'sealed segments a search or query skipped without reading: no partition it reads, or every row hidden (truncate, TTL)', ['reason']);

/**
 * Whether a sealed segment can be left out of a search or query: it holds none of the partitions read (its
 * `partitionIDs`, written by the data node; absent on older segments) or every row of it is hidden (its largest
 * timestamp is at or below the visibility cut). Counted by reason.
 */
export function skipSegment(seg: Pick<SegmentMeta, 'maxTs' | 'partitionIDs' | 'numRows'>, f: Pick<Filters, 'partitions' | 'hiddenUpTo'>): boolean {
  if (f.hiddenUpTo !== undefined && seg.numRows > 0 && BigInt(seg.maxTs || '0') <= f.hiddenUpTo) {
    segmentsSkipped.inc({ reason: 'hidden' });
    return true;
  }
  if (f.partitions && seg.partitionIDs && !seg.partitionIDs.some((p) => f.partitions!.has(p))) {
    segmentsSkipped.inc({ reason: 'partition' });
    return true;
  }
  return false;
}
