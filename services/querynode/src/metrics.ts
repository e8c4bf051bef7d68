import { counter, gauge, histogram } from '@kite/observe';
import type { Delegator } from './delegator';
import type { SealedSegment } from './segments';

const segmentsGauge = gauge('kite_querynode_segments', 'segments on this query node by state (sealed: loaded; growing: delegator channels)', ['state']);
const rowsGauge = gauge('kite_querynode_rows', 'rows held by state (sealed, growing)', ['state']);
const deletesGauge = gauge(
  'kite_querynode_deletes',
  'entries in the delete sets this query node checks rows against: sealed (its channels\' sealed-segment delete logs, pruned to the keys its segments hold) and growing (its delegators\' deletes above the watermark)',
  ['set'],
);
const delegatorsGauge = gauge('kite_querynode_delegators', 'shard delegators by state (serviceable, replaying)', ['state']);
const filterDuration = histogram(
  'kite_querynode_filter_duration_seconds',
  'time to evaluate a filter over one segment or growing source (wall clock, yields included): path index when scalar indexes answer every condition, scan otherwise',
  ['path'],
  [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
);
const filterKept = counter(
  'kite_querynode_filter_kept_total',
  'filters over a sealed segment answered with the bits kept from an earlier evaluation of the same filter (querynode.filterCacheEntries)',
  [],
);
const loadDuration = histogram('kite_querynode_segment_load_duration_seconds', 'time to load one sealed segment with its index', [], [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]);

/** Sets the query node's gauges from what it holds. */
export function observeHoldings(segments: Map<number, SealedSegment>, delegators: Map<string, Delegator>, sealedDeletes: number): void {
  segmentsGauge.set({ state: 'sealed' }, segments.size);
  segmentsGauge.set({ state: 'growing' }, delegators.size);
  rowsGauge.set({ state: 'sealed' }, [...segments.values()].reduce((s, x) => s + x.meta.numRows, 0));
  rowsGauge.set({ state: 'growing' }, [...delegators.values()].reduce((s, d) => s + d.growing.numRows, 0));
  const ds = [...delegators.values()];
  deletesGauge.set({ set: 'sealed' }, sealedDeletes);
  deletesGauge.set({ set: 'growing' }, ds.reduce((s, d) => s + d.deletes.size, 0));
  delegatorsGauge.set({ state: 'serviceable' }, ds.filter((d) => d.serviceable).length);
  delegatorsGauge.set({ state: 'replaying' }, ds.filter((d) => !d.serviceable).length);
}

/** Starts timing one sealed segment's load; call the result when it is loaded. */
export function timeSegmentLoad(): () => void {
  const end = loadDuration.startTimer();
  return () => void end();
}

/** Counts a filter over a sealed segment answered by the bits kept from an earlier request with the same filter. */
export function countFilterKept(): void {
  filterKept.inc();
}

/** Starts timing one filter evaluation; call the result when its bits are ready. */
export function timeFilter(path: 'index' | 'scan'): () => void {
  const end = filterDuration.startTimer({ path });
  return () => void end();
}
