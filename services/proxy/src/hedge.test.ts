import { silentLogger } from '@kite/common';
import { HedgeBudget, HedgeDelays, LatencyWindow, OutlierDetector, outlierReason, type OutlierOptions } from './hedge';

describe('hedge delay estimator', () => {
  const opts = { quantile: 0.95, minDelayMs: 10, maxDelayMs: 500, windowSize: 100, minSamples: 20 };

  test('the quantile of the window, nearest rank', () => {
    const w = new LatencyWindow(100);
    expect(w.quantile(0.95)).toBeUndefined();
    for (let i = 1; i <= 100; i++) w.add(i);
    expect(w.quantile(0.95)).toBe(95);
    expect(w.quantile(0.5)).toBe(50);
    // The window keeps the last 100: 50 more samples of 1000 push out 1..50.
    for (let i = 0; i < 50; i++) w.add(1000);
    expect(w.count).toBe(100);
    expect(w.quantile(0.5)).toBe(100);
    expect(w.quantile(0.95)).toBe(1000);
  });

  test('the cap until a shard has enough samples, then its p95 between the floor and the cap', () => {
    const d = new HedgeDelays(opts);
    expect(d.delayMs('1/ch0')).toBe(500);
    for (let i = 0; i < 19; i++) d.record('1/ch0', 30);
    expect(d.delayMs('1/ch0')).toBe(500);
    d.record('1/ch0', 30);
    expect(d.delayMs('1/ch0')).toBe(30);
    // 5 % of the calls at 200 ms: p95 is still 30, 6 % lifts it.
    for (let i = 0; i < 75; i++) d.record('1/ch0', 30);
    for (let i = 0; i < 5; i++) d.record('1/ch0', 200);
    expect(d.delayMs('1/ch0')).toBe(30);
    d.record('1/ch0', 200);
    expect(d.delayMs('1/ch0')).toBe(200);
    // Floor and cap.
    for (let i = 0; i < 100; i++) d.record('1/ch1', 1);
    expect(d.delayMs('1/ch1')).toBe(10);
    for (let i = 0; i < 100; i++) d.record('1/ch2', 5000);
    expect(d.delayMs('1/ch2')).toBe(500);
    // Shards are separate; forget drops a collection's.
    expect(d.delayMs('2/ch0')).toBe(500);
    d.forget('1/');
    expect(d.delayMs('1/ch1')).toBe(500);
  });

  test('the budget allows a share of reads to be hedged, with a small burst', () => {
    const b = new HedgeBudget(10, 2);
    expect(b.take()).toBe(true);
    expect(b.take()).toBe(true);
    expect(b.take()).toBe(false);
    for (let i = 0; i < 9; i++) b.earn();
    expect(b.take()).toBe(false);
    b.earn();
    expect(b.take()).toBe(true);
    const none = new HedgeBudget(0, 0);
    none.earn();
    expect(none.take()).toBe(false);
  });
});

describe('outlier detection', () => {
  const o: OutlierOptions = { enabled: true, windowMs: 1000, minSamples: 10, slowRatio: 3, minSlowPercent: 20, errorPercent: 50, ejectMs: 1000, maxEjectMs: 4000, holdMs: 250 };
  let now = 0;
  const clock = (): number => now;

  /** `n` calls to each node spread over 300 ms, `slow[node]` of every 10 slow and `errors[node]` of every 10 failed. */
  function traffic(d: OutlierDetector, nodes: Record<string, { slow?: number; errors?: number }>, n = 20): void {
    for (let i = 0; i < n; i++) {
      now += 300 / n;
      for (const [node, x] of Object.entries(nodes)) d.record(node, i % 10 < (x.slow ?? 0), i % 10 < (x.errors ?? 0));
    }
  }

  beforeEach(() => (now = 1_000_000));

  test('the rule: slow share far above the peers and above the floor; error share above the threshold and twice the peers', () => {
    expect(outlierReason({ slow: 0.3, errors: 0 }, [{ slow: 0.05, errors: 0 }], o)).toBe('latency');
    expect(outlierReason({ slow: 0.15, errors: 0 }, [{ slow: 0 , errors: 0 }], o)).toBeUndefined();
    expect(outlierReason({ slow: 0.3, errors: 0 }, [{ slow: 0.2, errors: 0 }], o)).toBeUndefined();
    expect(outlierReason({ slow: 0, errors: 0.6 }, [{ slow: 0, errors: 0.1 }], o)).toBe('errors');
    expect(outlierReason({ slow: 0, errors: 0.6 }, [{ slow: 0, errors: 0.4 }], o)).toBeUndefined();
    // The median of several peers: one other slow peer does not hide the outlier.
    expect(outlierReason({ slow: 0.5, errors: 0 }, [{ slow: 0.05, errors: 0 }, { slow: 0.4, errors: 0 }, { slow: 0.05, errors: 0 }], o)).toBe('latency');
  });

  test('a slow node leaves routing for the back-off, comes back to be probed, and goes out for longer if still slow', () => {
    const d = new OutlierDetector(o, silentLogger, clock);
    traffic(d, { a: { slow: 0 }, b: { slow: 0 } });
    expect(d.isEjected('a') || d.isEjected('b')).toBe(false);
    traffic(d, { a: { slow: 6 }, b: { slow: 0 } });
    expect(d.isEjected('a')).toBe(true);
    expect(d.isEjected('b')).toBe(false);
    // Routing puts it last; it is still there as a fallback.
    expect(d.order([{ address: 'a' }, { address: 'b' }]).map((x) => x.address)).toEqual(['b', 'a']);
    // Ejected during the last 300 ms of traffic, for 1000 ms.
    now += 600;
    expect(d.isEjected('a')).toBe(true);
    now += 401;
    expect(d.isEjected('a')).toBe(false);
    // Still slow after the probe: out again, for twice as long.
    traffic(d, { a: { slow: 5 }, b: { slow: 0 } });
    expect(d.isEjected('a')).toBe(true);
    now += 1600;
    expect(d.isEjected('a')).toBe(true);
    now += 401;
    expect(d.isEjected('a')).toBe(false);
    // Recovered: stays in routing, and after a clean window the back-off starts from the first one again.
    for (let i = 0; i < 15; i++) traffic(d, { a: { slow: 0 }, b: { slow: 0 } });
    expect(d.isEjected('a')).toBe(false);
    traffic(d, { a: { slow: 10 }, b: { slow: 0 } }, 60);
    expect(d.isEjected('a')).toBe(true);
    now += 600;
    expect(d.isEjected('a')).toBe(true);
    now += 401;
    expect(d.isEjected('a')).toBe(false);
  });

  test('a node failing far more often than its peers is ejected', () => {
    const d = new OutlierDetector(o, silentLogger, clock);
    traffic(d, { a: { errors: 0 }, b: { errors: 6 }, c: { errors: 0 } });
    expect(['a', 'b', 'c'].filter((n) => d.isEjected(n))).toEqual(['b']);
  });

  test('never ejects the last node in routing, nor when every node is as slow, nor without enough calls', () => {
    const d = new OutlierDetector(o, silentLogger, clock);
    traffic(d, { a: { slow: 5 }, b: { slow: 5 } });
    expect(d.isEjected('a') || d.isEjected('b')).toBe(false);
    // Too few calls in the window to judge.
    const few = new OutlierDetector(o, silentLogger, clock);
    traffic(few, { a: { slow: 9 }, b: { slow: 0 } }, 9);
    expect(few.isEjected('a')).toBe(false);
    // a is out; then b turns slow too: it is the only node left in routing, so it stays.
    const last = new OutlierDetector(o, silentLogger, clock);
    traffic(last, { a: { slow: 5 }, b: { slow: 0 } });
    expect(last.isEjected('a')).toBe(true);
    traffic(last, { b: { slow: 9 } }, 40);
    expect(last.isEjected('b')).toBe(false);
    // A node alone is never judged.
    const alone = new OutlierDetector(o, silentLogger, clock);
    traffic(alone, { a: { slow: 10, errors: 10 } }, 40);
    expect(alone.isEjected('a')).toBe(false);
    // Disabled: nothing is ejected.
    const off = new OutlierDetector({ ...o, enabled: false }, silentLogger, clock);
    traffic(off, { a: { slow: 9 }, b: { slow: 0 } });
    expect(off.isEjected('a')).toBe(false);
  });

  // A node a proxy cannot reach answers nothing; with little traffic the share rules never have minSamples calls.
  test('a node that answered none of 3 or more calls over a whole window, while a peer answered, is ejected as unresponsive', () => {
    const d = new OutlierDetector(o, silentLogger, clock);
    d.record('a', false, false);
    d.record('b', false, false);
    for (let i = 0; i < 4; i++) {
      now += 400;
      d.record('a', true, false, false);
      d.record('b', false, false);
    }
    expect(d.isEjected('a')).toBe(true);
    expect(d.isUnresponsive('a')).toBe(true);
    expect(d.isEjected('b')).toBe(false);
    // Back after its back-off it stays unresponsive (on probation) until it answers.
    now += o.ejectMs + 1;
    expect(d.isEjected('a')).toBe(false);
    expect(d.isUnresponsive('a')).toBe(true);
    now += 10;
    d.record('a', false, false);
    expect(d.isUnresponsive('a')).toBe(false);
    // Not while the peers answer nothing either, nor when the node answers in between, nor before a whole window.
    const none = new OutlierDetector(o, silentLogger, clock);
    for (let i = 0; i < 4; i++) {
      now += 400;
      none.record('a', false, true);
      none.record('b', false, true);
    }
    expect(none.isEjected('a') || none.isEjected('b')).toBe(false);
    const between = new OutlierDetector(o, silentLogger, clock);
    for (let i = 0; i < 8; i++) {
      now += 200;
      between.record('a', true, false, i % 3 === 2);
      between.record('b', false, false);
    }
    expect(between.isEjected('a')).toBe(false);
    const soon = new OutlierDetector(o, silentLogger, clock);
    for (let i = 0; i < 5; i++) {
      now += 150;
      soon.record('a', true, false, false);
      soon.record('b', false, false);
    }
    expect(soon.isEjected('a')).toBe(false);
  });

  test('a node that lost a hedge race gets no new reads for holdMs: after the nodes in routing, before ejected ones', () => {
    const d = new OutlierDetector(o, silentLogger, clock);
    const nodes = [{ address: 'a' }, { address: 'b' }, { address: 'c' }];
    d.hedgeLost('a');
    expect(d.isHeld('a')).toBe(true);
    expect(d.order(nodes).map((x) => x.address)).toEqual(['b', 'c', 'a']);
    // c is ejected: the held node still comes before it (held is a short pause, ejected a judgement).
    traffic(d, { a: { slow: 0 }, b: { slow: 0 }, c: { slow: 8 } });
    expect(d.isEjected('c')).toBe(true);
    d.hedgeLost('a');
    expect(d.order(nodes).map((x) => x.address)).toEqual(['b', 'a', 'c']);
    // The hold ends after holdMs (a later loss restarts it); it does not count towards ejection by itself.
    now += 249;
    expect(d.isHeld('a')).toBe(true);
    now += 1;
    expect(d.isHeld('a')).toBe(false);
    expect(d.isEjected('a')).toBe(false);
    expect(d.order(nodes).map((x) => x.address)).toEqual(['a', 'b', 'c']);
    // Off with holdMs 0 and with outlier detection off.
    for (const off of [new OutlierDetector({ ...o, holdMs: 0 }, silentLogger, clock), new OutlierDetector({ ...o, enabled: false }, silentLogger, clock)]) {
      off.hedgeLost('a');
      expect(off.isHeld('a')).toBe(false);
      expect(off.order(nodes).map((x) => x.address)).toEqual(['a', 'b', 'c']);
    }
  });
});
