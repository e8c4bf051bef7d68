import CircuitBreaker from 'opossum';
import { KiteError, toKiteError, type KiteConfig, type Logger } from '@kite/common';
import type { MetaStore } from '@kite/metastore';
import { gauge, counter } from '@kite/observe';
import { connect, type Client, type QueryNodeApi, type ShardLeader } from '@kite/rpc';
import { codecs, dbOf, idAfter, keys, type CollectionMeta } from '@kite/segment';
import type { Coordinator } from './coordinator';

export type Leader = ShardLeader & { replica_id: number };

const breakerState = gauge('kite_proxy_circuit_breaker_state', 'per query node: 0 closed, 1 half-open, 2 open', ['node']);
const retries = counter('kite_proxy_retries_total', 'reads retried on another replica or after refreshing shard leaders', ['reason']);

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

  constructor(
    private readonly cfg: KiteConfig,
    private readonly store: MetaStore,
    private readonly coordinator: Coordinator,
    private readonly log: Logger,
  ) {}

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
        errorFilter: (err: unknown) => !toKiteError(err).retriable,
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
   * Calls `fn` on the channel's delegator in some replica: on a failure it tries the next replica at once, then
   * refreshes the leaders and retries with backoff until the deadline. The error names the channel and why.
   */
  async onChannel<T>(c: CollectionMeta, channel: string, deadline: number, fn: (n: Client<QueryNodeApi>, leader: Leader) => Promise<T>): Promise<T> {
    let refresh = false;
    let lastErr: KiteError | undefined;
    const { retryInitialDelayMs, retryMaxDelayMs } = this.cfg.proxy;
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      const replicas = await this.shardLeaders(c, refresh, deadline);
      const candidates = replicas.map((shards) => shards.find((s) => s.channel === channel && s.serviceable)).filter((s): s is Leader => !!s);
      const start = this.rr++;
      for (let i = 0; i < candidates.length; i++) {
        const leader = candidates[(start + i) % candidates.length]!;
        try {
          return (await this.breaker(leader.address).fire(() => fn(this.node(leader.address), leader))) as T;
        } catch (e) {
          lastErr = (e as { code?: string }).code === 'EOPENBREAKER'
            ? new KiteError('NodeOffline', `node ${leader.address} is failing (circuit open)`)
            : toKiteError(e);
          if (!lastErr.retriable) throw lastErr;
          retries.inc({ reason: lastErr.kind });
        }
      }
      refresh = true;
      await new Promise((r) => setTimeout(r, Math.min(retryMaxDelayMs, retryInitialDelayMs * 2 ** attempt)));
    }
    throw new KiteError('ChannelNotAvailable', `channel ${channel} of collection ${c.name}: no replica answered in time${lastErr ? ` (last error: ${lastErr.message})` : ' (no serviceable delegator)'}`);
  }
}
