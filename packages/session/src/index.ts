import { EventEmitter } from 'node:events';
import { ExponentialBackoff, handleAll, retry } from 'cockatiel';
import { KiteError, type Logger } from '@kite/common';
import type { Lease, MetaStore, WatchEvent } from '@kite/metastore';

import { codecs, keys, type Role, type SessionRecord } from '@kite/segment';

export type { Role } from '@kite/segment';
/** The value of a session key (see @kite/segment's layout). */
export type SessionInfo = SessionRecord;

export const KITE_VERSION = '2.6.0-kite.0.1.0';

const sessionPrefix = keys.sessions;
const sessionKey = keys.session;
const counterKey = keys.serverIdCounter;

/** Allocates a cluster-unique serverID with a compare-and-swap counter. */
export async function allocServerId(store: MetaStore, root: string): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const cur = await store.get(counterKey(root));
    const next = (cur ? Number(cur.value) : 0) + 1;
    const res = await store.txn(
      [{ key: counterKey(root), target: 'version', op: '==', value: cur ? cur.version : 0 }],
      [{ type: 'put', key: counterKey(root), value: String(next) }],
    );
    if (res.succeeded) return next;
  }
  throw new KiteError('MetaFailed', 'could not allocate a serverID: too much contention on the counter');
}

/**
 * A process's session: a leased key kept alive in the background. When the lease is lost the session emits `lost`;
 * the owner must stop serving what it was assigned and call `register()` again (a new serverID: fencing).
 */
export class Session extends EventEmitter {
  info: SessionInfo | undefined;
  private lease: Lease | undefined;
  /** Set by revoke(): a rejoin in progress gives up. */
  private readonly closing = new AbortController();
  private rejoining: Promise<SessionInfo | undefined> | undefined;

  constructor(
    private readonly store: MetaStore,
    private readonly root: string,
    private readonly ttlSeconds: number,
    private readonly base: Omit<SessionInfo, 'serverID' | 'startedAt' | 'stopping' | 'version'>,
    private readonly log: Logger,
  ) {
    super();
  }

  get serverID(): number {
    if (!this.info) throw new KiteError('ServiceNotReady', 'session not registered');
    return this.info.serverID;
  }

  async register(): Promise<SessionInfo> {
    if (this.closing.signal.aborted) throw new KiteError('ServiceNotReady', 'session revoked: the component is stopping');
    const serverID = await allocServerId(this.store, this.root);
    const lease = await this.store.grantLease(this.ttlSeconds);
    const info: SessionInfo = { ...this.base, serverID, version: KITE_VERSION, startedAt: Date.now(), stopping: false };
    await this.store.put(sessionKey(this.root, info.role, serverID), codecs.session.encode(info), { lease: lease.id });
    this.lease = lease;
    this.info = info;
    lease.onLost((reason) => {
      if (this.lease !== lease) return;
      this.log.error({ serverID, reason }, 'session lease lost');
      this.lease = undefined;
      this.emit('lost', reason);
    });
    this.log.info({ serverID, role: info.role, address: info.address }, 'session registered');
    return info;
  }

  /** True while the session's lease is held (false after `lost` until a rejoin succeeds, and after revoke). */
  get live(): boolean {
    return this.lease !== undefined;
  }

  /**
   * After `lost`: registers again under a new serverID. The meta store is often what failed (an etcd outage outlives
   * the lease), so each attempt is retried with exponential backoff (250 ms doubling to 5 s) until one succeeds or
   * the session is revoked; concurrent calls share one attempt. Resolves undefined when revoked first.
   */
  rejoin(): Promise<SessionInfo | undefined> {
    if (this.rejoining) return this.rejoining;
    const policy = retry(handleAll, { maxAttempts: Number.MAX_SAFE_INTEGER, backoff: new ExponentialBackoff({ initialDelay: 250, maxDelay: 5000 }) });
    policy.onRetry(({ attempt, delay, ...rest }) => {
      const err = 'error' in rest ? String(rest.error) : 'no result';
      this.log.warn({ attempt, delayMs: Math.round(delay), err }, 're-register failed; retrying');
    });
    this.rejoining = policy
      .execute(({ signal }) => {
        if (signal.aborted) throw new KiteError('ServiceNotReady', 'session revoked: the component is stopping');
        return this.register();
      }, this.closing.signal)
      .then(
        (info) => info,
        (err: unknown) => {
          if (!this.closing.signal.aborted) this.log.error({ err: String(err) }, 're-register gave up');
          return undefined;
        },
      )
      .finally(() => (this.rejoining = undefined));
    return this.rejoining;
  }

  /** Marks the session `stopping` so the coordinator moves work away before the lease is revoked. */
  async markStopping(): Promise<void> {
    if (!this.info || !this.lease) return;
    this.info = { ...this.info, stopping: true };
    await this.store.put(sessionKey(this.root, this.info.role, this.info.serverID), codecs.session.encode(this.info), { lease: this.lease.id });
  }

  async revoke(): Promise<void> {
    this.closing.abort();
    const lease = this.lease;
    this.lease = undefined;
    if (lease) await lease.revoke().catch(() => undefined);
  }
}

/** Keeps a live view of every session under the root, from a list plus a watch (re-listed on resync). */
export class SessionView extends EventEmitter {
  readonly sessions = new Map<string, SessionInfo>();
  private closeWatch: (() => Promise<void>) | undefined;

  constructor(
    private readonly store: MetaStore,
    private readonly root: string,
  ) {
    super();
  }

  async start(): Promise<void> {
    const prefix = sessionPrefix(this.root);
    const snap = await this.store.getPrefix(prefix);
    this.reset(snap.kvs.map((kv) => [kv.key, kv.value]));
    const w = await this.store.watchPrefix(prefix, snap.revision + 1, {
      onEvents: (events: WatchEvent[]) => {
        for (const ev of events) {
          if (ev.type === 'put') this.set(ev.kv.key, ev.kv.value);
          else this.remove(ev.key);
        }
      },
      onResync: (s) => this.reset(s.kvs.map((kv) => [kv.key, kv.value])),
    });
    this.closeWatch = () => w.close();
  }

  private reset(entries: [string, string][]): void {
    const seen = new Set<string>();
    for (const [k, v] of entries) {
      seen.add(k);
      this.set(k, v);
    }
    for (const k of [...this.sessions.keys()]) if (!seen.has(k)) this.remove(k);
  }

  private set(key: string, value: string): void {
    if (key === keys.coordinatorSession(this.root)) return; // the active coordinator's exclusive key, not a session
    let info: SessionInfo;
    try {
      info = codecs.session.decode(value, key);
    } catch {
      return;
    }
    const prev = this.sessions.get(key);
    this.sessions.set(key, info);
    this.emit(prev ? 'update' : 'up', info, prev);
  }

  private remove(key: string): void {
    const prev = this.sessions.get(key);
    if (!prev) return;
    this.sessions.delete(key);
    this.emit('down', prev);
  }

  byRole(role: Role): SessionInfo[] {
    return [...this.sessions.values()].filter((s) => s.role === role).sort((a, b) => a.serverID - b.serverID);
  }

  get(role: Role, serverID: number): SessionInfo | undefined {
    return this.sessions.get(sessionKey(this.root, role, serverID));
  }

  async close(): Promise<void> {
    await this.closeWatch?.();
  }
}
export * from './metacache';
