import type { Logger } from '@kite/common';
import { counter, gauge } from '@kite/observe';

/**
 * Gray-failure defences of the read path (router.ts): the delay after which a read to one replica is hedged (sent
 * to another replica too), a budget that bounds how many reads are hedged, and outlier detection, which takes a
 * query node that is far slower (or fails far more) than its peers out of routing for a back-off period.
 */

/** The last `size` latencies (ms) of one shard; a quantile of them, recomputed every few samples. */
export class LatencyWindow {
  private readonly buf: Float64Array;
  private n = 0;
  private next = 0;
  private sorted: Float64Array | undefined;

  constructor(readonly size: number) {
    this.buf = new Float64Array(size);
  }

  get count(): number {
    return this.n;
  }

  add(ms: number): void {
    this.buf[this.next] = ms;
    this.next = (this.next + 1) % this.size;
    if (this.n < this.size) this.n++;
    this.sorted = undefined;
  }

  /** The q-quantile (nearest rank) of the window; undefined while it is empty. */
  quantile(q: number): number | undefined {
    if (this.n === 0) return undefined;
    // Sorted again only after new samples (a few µs for 200 numbers).
    this.sorted ??= this.buf.slice(0, this.n).sort();
    const rank = Math.min(this.n - 1, Math.max(0, Math.ceil(q * this.n) - 1));
    return this.sorted[rank];
  }
}

export interface HedgeDelayOptions {
  quantile: number;
  minDelayMs: number;
  maxDelayMs: number;
  windowSize: number;
  /** Below this many samples of a shard the delay is maxDelayMs (no estimate yet). */
  minSamples: number;
}

/**
 * The hedge delay of each shard (collection and channel): the chosen quantile of the latencies of its recent
 * answered calls, each measured from its own send, between a floor and a cap. Losers cancelled by a hedge are not
 * recorded, so a stalled replica does not pull the estimate (and so the delay) up.
 */
export class HedgeDelays {
  private readonly windows = new Map<string, LatencyWindow>();

  constructor(private readonly o: HedgeDelayOptions) {}

  record(shard: string, ms: number): void {
    let w = this.windows.get(shard);
    if (!w) this.windows.set(shard, (w = new LatencyWindow(this.o.windowSize)));
    w.add(ms);
  }

  delayMs(shard: string): number {
    const w = this.windows.get(shard);
    if (!w || w.count < this.o.minSamples) return this.o.maxDelayMs;
    const q = w.quantile(this.o.quantile) ?? this.o.maxDelayMs;
    return Math.min(this.o.maxDelayMs, Math.max(this.o.minDelayMs, Math.ceil(q)));
  }

  forget(prefix: string): void {
    for (const k of this.windows.keys()) if (k.startsWith(prefix)) this.windows.delete(k);
  }
}

/**
 * Bounds hedges to `percent` of reads: every read earns percent/100 of a token (up to `burst` tokens), a hedge
 * spends one. When the whole cluster is slow, hedging would only double the load; the budget stops that. The
 * bucket starts full.
 */
export class HedgeBudget {
  /** In hundredths of a hedge, so that the sums stay exact. */
  private tokens: number;

  constructor(
    private readonly percent: number,
    private readonly burst: number,
  ) {
    this.tokens = burst * 100;
  }

  earn(): void {
    this.tokens = Math.min(this.burst * 100, this.tokens + this.percent);
  }

  take(): boolean {
    if (this.tokens < 100) return false;
    this.tokens -= 100;
    return true;
  }
}

export interface OutlierOptions {
  enabled: boolean;
  windowMs: number;
  minSamples: number;
  /** A node is slow when its share of slow calls is at least this many times the median share of its peers... */
  slowRatio: number;
  /** ...and at least this share (percent). */
  minSlowPercent: number;
  /** Retriable failures (percent of calls) that eject a node whose peers fail less than half as often. */
  errorPercent: number;
  ejectMs: number;
  maxEjectMs: number;
  /** After a hedge beat a call to a node: how long the node gets no new reads (0: never). */
  holdMs: number;
}

interface Sample {
  t: number;
  slow: boolean;
  error: boolean;
}

interface NodeState {
  samples: Sample[];
  /** Out of routing until then (0: in routing). */
  ejectedUntil: number;
  /** Consecutive ejections: each doubles the back-off, up to maxEjectMs; reset after a clean window back in. */
  strikes: number;
  returnedAt: number;
  /** Calls since its last answer that got none (failed retriably, or cancelled because a hedge answered first). */
  misses: number;
  /** When the first of those was recorded (0: none). */
  missSince: number;
  /** When it last answered a call (0: never). */
  lastAnswer: number;
  /** Why it was last ejected. */
  reason: string;
  /** Held back after a lost hedge race until then (0: not held). */
  heldUntil: number;
}

/** Unanswered calls in a row that, over a whole window with a peer answering, make a node unresponsive. */
export const UNRESPONSIVE_MIN_CALLS = 3;

const ejections = counter('kite_proxy_outlier_ejections_total', 'query nodes taken out of read routing as outliers, by reason', ['node', 'reason']);
const holds = counter('kite_proxy_outlier_holds_total', 'query nodes held back from new reads for proxy.outlierHoldMs because a hedge to another replica answered first', ['node']);
const ejectedGauge = gauge('kite_proxy_node_ejected', 'per query node: 1 while out of read routing as an outlier, else 0', ['node']);

/**
 * Outlier detection over the calls of the last `windowMs`: a node whose share of slow calls (slower than the
 * shard's hedge delay, or cancelled because a hedge to another replica answered first) or of retriable failures is
 * far above its peers' is taken out of routing for a back-off period (doubling on repeated ejections), then routed
 * to again: that is the probe; if it is still an outlier it goes out again for longer. A node is never ejected
 * when no other node it was compared with is in routing, and routing falls back to ejected nodes when a channel has
 * no other replica (router.ts), so the last replica always serves.
 *
 * The shares need `minSamples` calls in the window, which a proxy with little traffic may never see. So, in
 * addition, a node that answered none of its last UNRESPONSIVE_MIN_CALLS or more calls over a whole window, while a
 * peer in routing answered since, is ejected as `unresponsive` (the node a proxy cannot reach through a network
 * partition: its calls hang until a hedge wins or their deadline passes). A node that stalls for less than the
 * window answers in between and is left to the share rules.
 */
export class OutlierDetector {
  private readonly nodes = new Map<string, NodeState>();
  private lastCheck = 0;

  constructor(
    private readonly o: OutlierOptions,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  private state(node: string): NodeState {
    let s = this.nodes.get(node);
    if (!s) this.nodes.set(node, (s = { samples: [], ejectedUntil: 0, strikes: 0, returnedAt: 0, misses: 0, missSince: 0, lastAnswer: 0, reason: '', heldUntil: 0 }));
    return s;
  }

  /**
   * One finished call to `node`; `answered` false when it got no answer (by default: when it failed). Checks for
   * outliers at most every windowMs/8, and for an unresponsive node at every unanswered call.
   */
  record(node: string, slow: boolean, error: boolean, answered = !error): void {
    if (!this.o.enabled) return;
    const t = this.now();
    const s = this.state(node);
    s.samples.push({ t, slow, error });
    if (answered) {
      s.lastAnswer = t;
      s.misses = 0;
      s.missSince = 0;
    } else {
      if (s.misses++ === 0) s.missSince = t;
      if (!s.ejectedUntil && s.misses >= UNRESPONSIVE_MIN_CALLS && t - s.missSince >= this.o.windowMs) {
        const peerAnswered = [...this.nodes].some(([n, p]) => n !== node && !p.ejectedUntil && p.lastAnswer >= s.missSince);
        if (peerAnswered) this.eject(node, s, t, 'unresponsive', { n: s.misses, slow: 0, errors: 1 });
      }
    }
    if (t - this.lastCheck >= this.o.windowMs / 8) {
      this.lastCheck = t;
      this.check(t);
    }
  }

  /** Whether `node` is out of routing now; a node whose back-off ended is logged back in. */
  isEjected(node: string): boolean {
    const s = this.nodes.get(node);
    if (!s || s.ejectedUntil === 0) return false;
    const t = this.now();
    if (t < s.ejectedUntil) return true;
    s.ejectedUntil = 0;
    s.returnedAt = t;
    s.samples = [];
    ejectedGauge.set({ node }, 0);
    this.log.info({ node, strikes: s.strikes }, 'query node back in read routing after its back-off (probing)');
    return false;
  }

  /**
   * Whether `node` was last ejected because it answered nothing (see `record`) and has not answered since: out of
   * routing now, or back in on probation after its back-off.
   */
  isUnresponsive(node: string): boolean {
    const s = this.nodes.get(node);
    if (!s || s.reason !== 'unresponsive') return false;
    return this.isEjected(node) || s.lastAnswer < s.returnedAt;
  }

  /**
   * A hedge to another replica answered before a call to `node`: the node gets no new reads for holdMs (while
   * another replica is in routing). A node stopped for a few hundred ms then costs one hedge delay per stall, not one
   * per read until it is ejected; a node that was slow once loses only holdMs of reads.
   */
  hedgeLost(node: string): void {
    if (!this.o.enabled || this.o.holdMs <= 0) return;
    const s = this.state(node);
    const t = this.now();
    if (s.heldUntil <= t) holds.inc({ node });
    s.heldUntil = t + this.o.holdMs;
  }

  /** Whether `node` is held back after a lost hedge race now. */
  isHeld(node: string): boolean {
    const s = this.nodes.get(node);
    return !!s && s.heldUntil > this.now();
  }

  /**
   * Candidates in routing first, in their order; then those held back after a lost hedge race; then ejected ones
   * (used only when the others fail or are slow: they are the hedge and failover targets).
   */
  order<T extends { address: string }>(candidates: T[]): T[] {
    const in_: T[] = [];
    const held: T[] = [];
    const out: T[] = [];
    for (const c of candidates) (this.isEjected(c.address) ? out : this.isHeld(c.address) ? held : in_).push(c);
    return held.length || out.length ? [...in_, ...held, ...out] : candidates;
  }

  private check(t: number): void {
    const stats: { node: string; s: NodeState; n: number; slow: number; errors: number }[] = [];
    for (const [node, s] of this.nodes) {
      const from = t - this.o.windowMs;
      let i = 0;
      while (i < s.samples.length && s.samples[i]!.t < from) i++;
      if (i) s.samples.splice(0, i);
      if (s.ejectedUntil) continue;
      const n = s.samples.length;
      // A node back in routing that answered a full window without being ejected starts from a clean slate.
      if (s.strikes && s.returnedAt && t - s.returnedAt >= this.o.windowMs && n >= this.o.minSamples) s.strikes = 0;
      stats.push({ node, s, n, slow: n ? s.samples.filter((x) => x.slow).length / n : 0, errors: n ? s.samples.filter((x) => x.error).length / n : 0 });
    }
    const judged = stats.filter((x) => x.n >= this.o.minSamples);
    if (judged.length < 2) return;
    for (const x of judged) {
      const peers = judged.filter((p) => p !== x && !p.s.ejectedUntil);
      if (!peers.length) continue;
      const reason = outlierReason(x, peers, this.o);
      if (reason) this.eject(x.node, x.s, t, reason, x);
    }
  }

  private eject(node: string, s: NodeState, t: number, reason: string, x: { n: number; slow: number; errors: number }): void {
    const backoff = Math.min(this.o.maxEjectMs, this.o.ejectMs * 2 ** s.strikes);
    s.strikes++;
    s.ejectedUntil = t + backoff;
    s.reason = reason;
    s.samples = [];
    s.misses = 0;
    s.missSince = 0;
    ejections.inc({ node, reason });
    ejectedGauge.set({ node }, 1);
    this.log.warn({ node, reason, backoffMs: backoff, calls: x.n, slowShare: round(x.slow), errorShare: round(x.errors) }, 'query node taken out of read routing (outlier)');
  }
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Why a node's window makes it an outlier against its peers ('latency', 'errors'), or undefined. */
export function outlierReason(x: { slow: number; errors: number }, peers: { slow: number; errors: number }[], o: Pick<OutlierOptions, 'slowRatio' | 'minSlowPercent' | 'errorPercent'>): string | undefined {
  const peerErrors = median(peers.map((p) => p.errors));
  if (x.errors * 100 >= o.errorPercent && peerErrors < x.errors / 2) return 'errors';
  const peerSlow = median(peers.map((p) => p.slow));
  if (x.slow * 100 >= o.minSlowPercent && x.slow >= o.slowRatio * peerSlow) return 'latency';
  return undefined;
}
