import CircuitBreaker from 'opossum';
import { KiteError, toKiteError, type KiteConfig, type Logger } from '@kite/common';
import type { MetaStore } from '@kite/metastore';
import { gauge, counter } from '@kite/observe';
import { connect, type Client, type QueryNodeApi, type ShardLeader } from '@kite/rpc';
import { codecs, dbOf, idAfter, keys, type CollectionMeta } from '@kite/segment';
import type { Coordinator } from './coordinator';
import { HedgeBudget, HedgeDelays, OutlierDetector } from './hedge';

export type Leader = ShardLeader & { replica_id: number };

const breakerState = gauge('kite_proxy_circuit_breaker_state', 'per query node: 0 closed, 1 half-open, 2 open', ['node']);
const retries = counter('kite_proxy_retries_total', 'reads retried on another replica or after refreshing shard leaders', ['reason']);
const hedges = counter(
  'kite_proxy_hedged_requests_total',
  'reads hedged to a second replica, by outcome: hedge_won, primary_won, failed (no replica answered), budget_exhausted (not sent)',
  ['outcome'],
);

/** The error of a call cancelled because another replica answered first; not a failure of the node. */
const CANCELLED = Symbol('hedge loser');

function cancelled(): Error {
  return Object.assign(new Error('cancelled: another replica answered first'), { [CANCELLED]: true });
}

/**
 * `n` whose calls carry `signal` (aborting it cancels the gRPC call) and reject at once when it aborts, also for
 * in-process calls, which cannot be cancelled.
 */
function withSignal(n: Client<QueryNodeApi>, signal: AbortSignal): Client<QueryNodeApi> {
  return new Proxy(n, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || prop === 'close' || prop === 'channelState') return v;
      return (req: unknown, o?: { timeoutMs?: number }) =>
        new Promise((resolve, reject) => {
          if (signal.aborted) return reject(cancelled());
          const onAbort = (): void => reject(cancelled());
          signal.addEventListener('abort', onAbort, { once: true });
          // The listener goes when the call settles, so that a call that answered holds nothing on the signal.
          (v as (r: unknown, o: unknown) => Promise<unknown>).call(target, req, { ...o, signal }).then(
            (r) => (signal.removeEventListener('abort', onAbort), resolve(r)),
            (e: unknown) => (signal.removeEventListener('abort', onAbort), reject(e)),
          );
        });
    },
  });
}

/** The value of `<root>/leaders/<collection>` as the coordinator publishes it, one list of shards per replica. */
function parseLeaders(v: string, key: string): Leader[][] {
  return codecs.leaders.decode(v, key).map((r) => r.shards.map((sh) => ({ ...sh, replica_id: r.replica_id })));
}

/**
 * Routes reads to shard delegators: shard leaders from the meta store watch, a circuit breaker per query node
 * (opossum), and retries on another replica, then after refreshing the leaders with backoff, until the deadline.
 */
export class Router {
  private readonly nodes = new Map<string, Client<QueryNodeApi>>();
  private readonly breakers = new Map<string, CircuitBreaker<[() => Promise<unknown>], unknown>>();
  private readonly leaders = new Map<number, Leader[][]>();
  private closeWatch: (() => Promise<void>) | undefined;
  private rr = 0;
  private readonly delays: HedgeDelays;
  private readonly budget: HedgeBudget;
  readonly outliers: OutlierDetector;

  constructor(
    private readonly cfg: KiteConfig,
    private readonly store: MetaStore,
    private readonly coordinator: Coordinator,
    private readonly log: Logger,
  ) {
    const p = cfg.proxy;
    this.delays = new HedgeDelays({ quantile: p.hedgeQuantile, minDelayMs: p.hedgeMinDelayMs, maxDelayMs: p.hedgeMaxDelayMs, windowSize: p.hedgeWindowSize, minSamples: 20 });
    this.budget = new HedgeBudget(p.hedgeBudgetPercent, p.hedgeBudgetBurst);
    this.outliers = new OutlierDetector({
      enabled: p.outlierEnabled, windowMs: p.outlierWindowMs, minSamples: p.outlierMinSamples, slowRatio: p.outlierSlowRatio,
      minSlowPercent: p.outlierMinSlowPercent, errorPercent: p.outlierErrorPercent, ejectMs: p.outlierEjectMs, maxEjectMs: p.outlierMaxEjectMs,
      holdMs: p.outlierHoldMs,
    }, log);
  }

  /** The coordinator publishes shard leaders when they change; the cache takes them at once instead of expiring. */
  async start(): Promise<void> {
    const prefix = keys.allLeaders(this.cfg.common.rootPath);
    const put = (k: string, v: string): void => {
      this.leaders.set(idAfter(prefix, k), parseLeaders(v, k));
    };
    const snap = await this.store.getPrefix(prefix);
    for (const kv of snap.kvs) put(kv.key, kv.value);
    const w = await this.store.watchPrefix(prefix, snap.revision + 1, {
      onEvents: (evs) => {
        for (const e of evs) {
          if (e.type === 'put') put(e.kv.key, e.kv.value);
          else this.leaders.delete(idAfter(prefix, e.key));
        }
      },
      onResync: (s2) => {
        this.leaders.clear();
        for (const kv of s2.kvs) put(kv.key, kv.value);
      },
    });
    this.closeWatch = () => w.close();
  }

  async close(): Promise<void> {
    await this.closeWatch?.();
    for (const n of this.nodes.values()) n.close();
    for (const b of this.breakers.values()) b.shutdown();
  }

  /** Drops the cached leaders of a collection (after a release). */
  forget(collectionID: number): void {
    this.leaders.delete(collectionID);
    this.delays.forget(`${collectionID}/`);
  }

  /**
   * Shard leaders: the copy the meta store watch keeps current (the coordinator publishes every change), else, and
   * on `refresh` after a failed call, read again from the published key; the coordinator is asked only for a
   * collection it has not published yet. So searches need no coordinator while it fails over.
   */
  private async shardLeaders(c: CollectionMeta, refresh: boolean, deadline: number): Promise<Leader[][]> {
    const cached = this.leaders.get(c.collectionID);
    if (cached && !refresh) return cached;
    const kv = await this.store.get(keys.leaders(this.cfg.common.rootPath, c.collectionID)).catch(() => undefined);
    let replicas: Leader[][];
    if (kv) replicas = parseLeaders(kv.value, kv.key);
    else {
      const res = await this.coordinator.call(deadline, (qc, timeoutMs) => qc.GetShardLeaders({ name: c.name, db_name: dbOf(c) }, { timeoutMs }));
      replicas = res.replicas.map((r) => r.shards.map((s) => ({ ...s, replica_id: r.replica_id })));
    }
    this.leaders.set(c.collectionID, replicas);
    return replicas;
  }

  /**
   * A circuit breaker per query node (opossum): after repeated retriable failures it opens and calls to that node
   * fail at once (the proxy tries another replica), then half-opens to probe. User errors do not count.
   */
  private breaker(address: string): CircuitBreaker<[() => Promise<unknown>], unknown> {
    let b = this.breakers.get(address);
    if (!b) {
      const p = this.cfg.proxy;
      b = new CircuitBreaker((call: () => Promise<unknown>) => call(), {
        timeout: false,
        errorThresholdPercentage: p.breakerErrorPercent,
        volumeThreshold: p.breakerVolumeThreshold,
        rollingCountTimeout: p.breakerWindowMs,
        resetTimeout: p.breakerResetMs,
        errorFilter: (err: unknown) => (err as { [CANCELLED]?: boolean })[CANCELLED] === true || !toKiteError(err).retriable,
      });
      b.on('open', () => {
        breakerState.set({ node: address }, 2);
        this.log.warn({ node: address }, 'circuit breaker open');
      });
      b.on('halfOpen', () => breakerState.set({ node: address }, 1));
      b.on('close', () => breakerState.set({ node: address }, 0));
      breakerState.set({ node: address }, 0);
      this.breakers.set(address, b);
    }
    return b;
  }

  private node(address: string): Client<QueryNodeApi> {
    let n = this.nodes.get(address);
    if (!n) this.nodes.set(address, (n = connect('QueryNode', address)));
    return n;
  }

  /** Time left for a call to a query node: what the request has left, at least proxy.nodeMinTimeoutMs. */
  nodeTimeoutMs(deadline: number): number {
    return Math.max(this.cfg.proxy.nodeMinTimeoutMs, deadline - Date.now());
  }

  /**
   * Calls `fn` (a read: Search, Query, statistics; writes never come here) on the channel's delegator in some
   * replica: replicas that outlier detection took out of routing come last. When the first call has not answered
   * after the shard's hedge delay it is hedged (the same call to the next replica; the first answer wins, the other
   * is cancelled); on a failure the next replica is tried at once; when every replica failed the leaders are
   * refreshed and the read retried with backoff until the deadline. The error names the channel and why.
   */
  async onChannel<T>(c: CollectionMeta, channel: string, deadline: number, fn: (n: Client<QueryNodeApi>, leader: Leader) => Promise<T>): Promise<T> {
    let refresh = false;
    let lastErr: KiteError | undefined;
    const { retryInitialDelayMs, retryMaxDelayMs } = this.cfg.proxy;
    const shard = `${c.collectionID}/${channel}`;
    this.budget.earn();
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      const replicas = await this.shardLeaders(c, refresh, deadline);
      const serviceable = replicas.map((shards) => shards.find((s) => s.channel === channel && s.serviceable)).filter((s): s is Leader => !!s);
      const start = this.rr++;
      const rotated = serviceable.map((_, i) => serviceable[(start + i) % serviceable.length]!);
      const res = await this.race(shard, this.outliers.order(rotated), deadline, fn);
      if (res.ok) return res.value;
      if (res.err) lastErr = res.err;
      refresh = true;
      await new Promise((r) => setTimeout(r, Math.min(retryMaxDelayMs, retryInitialDelayMs * 2 ** attempt)));
    }
    throw new KiteError('ChannelNotAvailable', `channel ${channel} of collection ${c.name}: no replica answered in time${lastErr ? ` (last error: ${lastErr.message})` : ' (no serviceable delegator)'}`);
  }

  /**
   * One round over `candidates` in order: a call to the first; the next one on a retriable failure, or when the
   * running call has not answered after the hedge delay (and the hedge budget allows). Resolves with the first
   * answer (cancelling the calls still running) or, once every candidate failed, the last error; rejects at once on
   * an error that is not retriable.
   */
  private race<T>(shard: string, candidates: Leader[], deadline: number, fn: (n: Client<QueryNodeApi>, leader: Leader) => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; err?: KiteError }> {
    const { hedgeEnabled } = this.cfg.proxy;
    const delay = this.delays.delayMs(shard);
    return new Promise((resolve, reject) => {
      if (!candidates.length) return resolve({ ok: false });
      let next = 0;
      let running = 0;
      let done = false;
      let hedged = false;
      /** The first answer came from a hedge: the calls it cancels lost the race. */
      let hedgeWon = false;
      let timer: NodeJS.Timeout | undefined;
      let lastErr: KiteError | undefined;
      /** The calls not settled yet: finish() cancels these only (aborting a settled one would only cost). */
      const calls = new Set<AbortController>();
      const finish = (): void => {
        done = true;
        if (timer) clearTimeout(timer);
        for (const a of calls) a.abort();
        calls.clear();
      };
      let refused = false;
      const scheduleHedge = (): void => {
        if (!hedgeEnabled || next >= candidates.length || Date.now() + delay >= deadline) return;
        timer = setTimeout(() => {
          timer = undefined;
          if (done || next >= candidates.length) return;
          // A hedge away from a node taken out of routing since the call was sent (unresponsive, or an outlier) costs
          // no budget: it is not extra load on a cluster that is slow everywhere.
          const away = this.outliers.isEjected(candidates[next - 1]!.address);
          if (!away && !this.budget.take()) {
            if (!refused) hedges.inc({ outcome: 'budget_exhausted' });
            refused = true;
            // Asked again after another delay: reads earn tokens meanwhile, or the node is ejected.
            scheduleHedge();
            return;
          }
          hedged = true;
          launch(true);
        }, delay);
      };
      const launch = (isHedge: boolean): void => {
        const leader = candidates[next++]!;
        const address = leader.address;
        const ac = new AbortController();
        calls.add(ac);
        running++;
        const t0 = Date.now();
        // A node ejected as unresponsive that has not answered since (out of routing, or back on probation) gets one
        // outlier window to answer, so that a read does not wait its whole deadline on it instead of trying the
        // replicas again (when the other one failed, say, it is the last candidate of the round, with no hedge).
        const cap = this.outliers.isUnresponsive(address) ? this.cfg.proxy.outlierWindowMs : undefined;
        let timedOut = false;
        const capTimer = cap === undefined ? undefined : setTimeout(() => {
          timedOut = true;
          ac.abort();
        }, cap);
        this.breaker(address).fire(() => fn(withSignal(this.node(address), ac.signal), leader)).then(
          (v) => {
            calls.delete(ac);
            clearTimeout(capTimer);
            running--;
            const ms = Date.now() - t0;
            this.delays.record(shard, ms);
            this.outliers.record(address, ms > delay, false);
            if (done) return;
            if (hedged) hedges.inc({ outcome: isHedge ? 'hedge_won' : 'primary_won' });
            hedgeWon = hedged && isHedge;
            finish();
            resolve({ ok: true, value: v as T });
          },
          (e: unknown) => {
            calls.delete(ac);
            clearTimeout(capTimer);
            running--;
            if (ac.signal.aborted && !timedOut) {
              // Cancelled: a call that another replica beat after the hedge delay was slow and got no answer; a
              // losing hedge says nothing.
              if (!isHedge) this.outliers.record(address, true, false, false);
              if (!isHedge && hedgeWon) this.outliers.hedgeLost(address);
              return;
            }
            const err = timedOut
              ? new KiteError('NodeOffline', `node ${address} did not answer within ${cap} ms (out of routing: unresponsive)`)
              : (e as { code?: string }).code === 'EOPENBREAKER'
                ? new KiteError('NodeOffline', `node ${address} is failing (circuit open)`)
                : toKiteError(e);
            if (err.retriable && (e as { code?: string }).code !== 'EOPENBREAKER') this.outliers.record(address, false, true);
            if (done) return;
            if (!err.retriable) {
              finish();
              return reject(err);
            }
            retries.inc({ reason: err.kind });
            lastErr = err;
            if (next < candidates.length && Date.now() < deadline) {
              launch(false);
              return;
            }
            if (running === 0) {
              if (hedged) hedges.inc({ outcome: 'failed' });
              finish();
              resolve({ ok: false, err: lastErr });
            }
          },
        );
        if (!isHedge && !timer) scheduleHedge();
      };
      launch(false);
    });
  }
}
