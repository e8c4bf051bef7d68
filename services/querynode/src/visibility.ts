import { counter } from '@kite/observe';
import type { SegmentMeta } from '@kite/segment';
import type { Filters } from './exec';
import { mayMatch } from './prune';

/** The read visibility cut (truncate, TTL) lives with the collection's types, shared with the proxy. */
export { hiddenUpTo } from '@kite/segment';

const segmentsSkipped = counter('kite_querynode_segments_skipped_total', 'sealed segments a search or query skipped without reading: no partition it reads, every row hidden (truncate, TTL), or the filter cannot match its field value ranges (range)', ['reason']);

/**
 * Whether a sealed segment can be left out of a search or query: it holds none of the partitions read (its
 * `partitionIDs`, written by the data node; absent on older segments) or every row of it is hidden (its largest
 * timestamp is at or below the visibility cut), or the filter cannot match any value in the segment's recorded field
 * ranges (`fieldStats`: numeric fields and the clustering key; see prune.ts). Counted by reason.
 */
export function skipSegment(seg: Pick<SegmentMeta, 'maxTs' | 'partitionIDs' | 'numRows' | 'fieldStats'>, f: Pick<Filters, 'partitions' | 'hiddenUpTo' | 'expr'>): boolean {
  if (f.hiddenUpTo !== undefined && seg.numRows > 0 && BigInt(seg.maxTs || '0') <= f.hiddenUpTo) {
    segmentsSkipped.inc({ reason: 'hidden' });
    return true;
  }
  if (f.partitions && seg.partitionIDs && !seg.partitionIDs.some((p) => f.partitions!.has(p))) {
    segmentsSkipped.inc({ reason: 'partition' });
    return true;
  }
  // Value ranges per field (the clustering key's among them): a filter none of whose values can fall in them.
  if (f.expr && seg.fieldStats && !mayMatch(f.expr.ir, seg.fieldStats)) {
    segmentsSkipped.inc({ reason: 'range' });
    return true;
  }
  return false;
}
