/**
 * Assertions the chaos suites share (jest's expect): what every fault must leave behind, whatever else its test
 * checks.
 */
import type { FaultResult } from './scenarios';
import { INTACT, intact } from './workload';

/**
 * No search, insert or count(*) failed, every acknowledged row is there exactly once (and known-vector searches
 * find their rows), and no component died.
 */
export function expectNothingFailedOrLost(r: FaultResult): void {
  expect(r.searches.errors).toEqual([]);
  expect(r.searches.failed).toBe(0);
  expect(r.inserts.failed).toBe(0);
  expect(r.counts.failed).toBe(0);
  expect(intact(r.verify)).toEqual(INTACT);
  expect(r.dead).toEqual([]);
}
