/**
 * Gray failure: a query node that answers slowly instead of failing. test/chaos/gray.ts runs the measurement: 2
 * query nodes, a collection loaded with 2 replicas (one on each node), two proxies against the same cluster (one
 * with the defaults: hedged reads and outlier detection; one with both off) under the same open-loop search load at
 * the same time: steady blocks and fault blocks (one query node stopped with SIGSTOP for 300 ms of every second)
 * alternating 6 times, then an after phase. `make bench-gray` prints the same run as a table (docs/failover.md,
 * "Gray failures", quotes it).
 *
 * Two statistics per proxy, both against the steady latency of both proxies together: the pooled ratio (fault-phase
 * p99 over steady-phase p99, nearest rank over 1200 fault searches per proxy and 2400 steady ones) is the goal as
 * issue #17 states it; the median over the 6 rounds of the ratio of each round's fault block to its steady block
 * (gray.ts, roundRatio) is not moved by a burst of other work in one or two blocks, which on a shared machine can
 * put the pooled p99 of both phases at the size of the stall and so hide the fault (and a missing defence) from the
 * pooled ratio.
 *
 * Asserted:
 * - without the defences: round ratio > 3, i.e. the fault was real and large enough that the next assertions mean
 *   something (if the machine is so loaded that a 300 ms stall does not show, the test fails here and says so); and
 *   no hedge, no ejection (the configuration took effect);
 * - with the defences: round ratio <= 2 and pooled ratio <= 2, no failed search, hedges sent and won, the slow node
 *   taken out of routing (ejected, or held back after lost hedge races) during the fault and back in routing after it.
 */
import { GrayBench, grayTable, p99, ratio, roundRatio, type GrayResult } from './gray';

jest.setTimeout(900_000);

/** The goal of issue #17: fault-phase p99 within this factor of the steady p99, with 2 replicas. */
const GOAL = 2;
/** Without the defences the fault must raise the p99 at least this much for the run to tell them apart. */
const REAL_FAULT = 3;

let bench: GrayBench | undefined;
let r: GrayResult;
const lines: string[] = [];

beforeAll(async () => {
  bench = await GrayBench.start({ log: (l) => lines.push(l) });
  r = await bench.run();
  lines.push(grayTable(r));
}, 900_000);

afterAll(async () => {
  console.log(lines.join('\n'));
  await bench?.dispose();
}, 180_000);

test('every search answered correctly, in both proxies and every phase', () => {
  for (const run of [r.on, r.off]) {
    for (const x of [run.steady, run.fault, run.after]) {
      expect(x.errors).toEqual([]);
      expect(x.failed).toBe(0);
      expect(x.skipped).toBe(0);
    }
    expect(run.steady.latencies.length).toBeGreaterThanOrEqual(r.options.requests);
    expect(run.fault.latencies.length).toBeGreaterThanOrEqual(r.options.requests);
  }
  expect(r.cycles).toBeGreaterThanOrEqual(20);
});

test('without hedging and outlier detection the stall breaks the goal (the fault was real)', () => {
  const off = r.off;
  expect(off.hedges).toEqual({});
  expect(off.faultEjections + off.steadyEjections).toBe(0);
  if (roundRatio(off) <= REAL_FAULT) {
    throw new Error(
      `the stall raised the off proxy's p99 only ${roundRatio(off).toFixed(2)}x (median of the rounds ${off.roundRatios.map((x) => x.toFixed(2)).join(', ')}; ` +
        `pooled: steady ${off.steadyP99.toFixed(0)} ms, fault ${p99(off.fault).toFixed(0)} ms): the steady latency is too high or noisy ` +
        `(load average up to ${Math.max(...off.steady.loads).toFixed(1)}) for this run to show whether the defences work`,
    );
  }
});

test('with hedging and outlier detection: fault p99 <= 2x steady p99, hedges sent, the slow node ejected or held, and back', () => {
  const on = r.on;
  expect((on.hedges.hedge_won ?? 0) + (on.hedges.primary_won ?? 0)).toBeGreaterThan(0);
  expect(on.hedges.hedge_won ?? 0).toBeGreaterThan(0);
  // The stalled node was kept from reads during the fault: ejected, or held after losing hedge races
  // (proxy.outlierHoldMs). On a quiet machine the holds alone do it (one run: 93 holds, no ejection, ratio 1.29).
  expect(on.faultEjections + on.faultHolds).toBeGreaterThan(0);
  expect(r.returnedAfterS).toBeDefined();
  expect(roundRatio(on)).toBeLessThanOrEqual(GOAL);
  expect(ratio(on)).toBeLessThanOrEqual(GOAL);
});
