import type * as grpc from '@grpc/grpc-js';
import type { KiteConfig, Logger } from '@kite/common';
import { RunningComponent, type HostContext, type Hosted } from '@kite/host';
import type { Lease, MetaStore } from '@kite/metastore';
import type { ObjectStore } from '@kite/objectstore';
import type { Wal } from '@kite/wal';
import { addService } from '@kite/rpc';
import { KITE_VERSION, type Session } from '@kite/session';
import { codecs, keys } from '@kite/segment';
import { KiteError } from '@kite/common';
import { ExponentialBackoff, handleAll, retry } from 'cockatiel';
import { Coordinator } from './coordinator';

/**
 * The coordinator process: it becomes active by creating the exclusive session key `<root>/session/querycoord`
 * under its own lease (a standby waits on a watch until that key is gone), then recovers its state from the meta
 * store and serves. If the active coordinator loses its lease it steps down at once (fencing: its reconcile loop
 * stops and every RPC answers "not ready"), then campaigns again like a standby, so a coordinator that outlived an
 * etcd outage becomes active again without a process restart.
 *
 * Its gRPC server and session are the host's (@kite/host): it serves once it is the active coordinator.
 */
export class QueryCoordServer implements Hosted {
  readonly role = 'querycoord' as const;
  coordinator: Coordinator | undefined;
  private running: RunningComponent | undefined;
  private session: Session | undefined;
  private exclusive: Lease | undefined;
  private stopped = false;
  private campaigning: Promise<void> | undefined;
  address = '';

  constructor(
    private readonly cfg: KiteConfig,
    private readonly store: MetaStore,
    private readonly wal: Wal,
    private readonly objects: ObjectStore,
    private readonly log: Logger,
    /** Called when this coordinator steps down after losing its exclusive lease (tests observe it). */
    private readonly onFenced: () => void = () => undefined,
  ) {}

  get serverID(): number {
    return this.session?.info?.serverID ?? 0;
  }

  private get key(): string {
    return keys.coordinatorSession(this.cfg.common.rootPath);
  }

  /** Runs on its own (no HTTP server), e.g. in tests; a process runs it on a `ComponentHost`. */
  async start(port = this.cfg.querycoord.port): Promise<void> {
    this.running = new RunningComponent(this, { cfg: this.cfg, store: this.store, log: this.log, port });
    await this.running.start();
  }

  addServices(server: grpc.Server): void {
    addService(server, 'QueryCoord', this.delegate());
  }

  attach(ctx: HostContext): void {
    this.address = ctx.address;
    this.session = ctx.session;
  }

  /** Stands by until it is the active coordinator. */
  async serve(): Promise<void> {
    this.campaigning = this.campaign();
    await this.campaigning;
  }

  ready(): boolean {
    return !!this.coordinator;
  }

  details(): Record<string, unknown> {
    return { active: !!this.coordinator };
  }

  /**
   * The RPC implementation the server holds: each call goes to the coordinator active in this process right now,
   * or fails with a retriable "not ready" while this process stands by or has stepped down.
   */
  private delegate(): Coordinator {
    return new globalThis.Proxy({} as Coordinator, {
      get: (_t, method: string | symbol) => {
        if (typeof method !== 'string' || typeof (Coordinator.prototype as unknown as Record<string, unknown>)[method] !== 'function') return undefined;
        return (req: unknown) => {
          const c = this.coordinator;
          if (!c) {
            const why = this.exclusive ? 'is taking over (recovering its state)' : 'is not the active one (standing by)';
            return Promise.reject(new KiteError('ServiceNotReady', `query coordinator ${this.address} ${why}; retry shortly`));
          }
          return (c as unknown as Record<string, (r: unknown) => Promise<unknown>>)[method]!.call(c, req);
        };
      },
    });
  }

  /**
   * Stands by until the exclusive key is ours, then recovers and serves; meta store failures are retried, backing off
   * from querycoord.campaignRetryInitialMs to querycoord.campaignRetryMaxMs.
   */
  private async campaign(): Promise<void> {
    const { campaignRetryInitialMs: initialDelay, campaignRetryMaxMs: maxDelay } = this.cfg.querycoord;
    const policy = retry(handleAll, { maxAttempts: Number.MAX_SAFE_INTEGER, backoff: new ExponentialBackoff({ initialDelay, maxDelay }) });
    policy.onRetry((e) => this.log.warn({ err: 'error' in e ? String(e.error) : '' }, 'coordinator campaign failed; retrying'));
    await policy.execute(async () => {
      if (this.stopped) return;
      if (!this.exclusive) await this.becomeActive(await this.waitSession());
      if (this.stopped) return;
      const c = new Coordinator(this.cfg, this.store, this.wal, this.objects, this.log);
      try {
        await c.start();
      } catch (err) {
        await c.stop().catch(() => undefined);
        throw err;
      }
      if (this.stopped || !this.exclusive) {
        await c.stop();
        if (!this.stopped) throw new KiteError('ServiceNotReady', 'lost the exclusive session while recovering');
        return;
      }
      this.coordinator = c;
      this.log.info({ address: this.address, serverID: this.serverID }, 'query coordinator active');
    });
  }

  /** The session's serverID once a rejoin after a lost lease has succeeded. */
  private async waitSession(): Promise<number> {
    const info = this.session?.live ? this.session.info : await this.session?.rejoin();
    if (!info) throw new KiteError('ServiceNotReady', 'no session');
    return info.serverID;
  }

  /** Fencing: the exclusive lease is gone, so another coordinator may be active; stop acting at once, then campaign. */
  private stepDown(reason: string): void {
    this.log.error({ reason }, 'lost the exclusive coordinator session: stepping down');
    const c = this.coordinator;
    this.coordinator = undefined;
    this.exclusive = undefined;
    this.onFenced();
    void (async () => {
      await c?.stop().catch((e: unknown) => this.log.warn({ err: String(e) }, 'stopping the fenced coordinator failed'));
      await this.campaigning?.catch(() => undefined);
      if (this.stopped) return;
      this.campaigning = this.campaign();
      await this.campaigning;
    })().catch((e: unknown) => this.log.error({ err: String(e) }, 'campaign ended'));
  }

  /** Waits until this process holds the exclusive coordinator key. */
  private async becomeActive(serverID: number): Promise<void> {
    const value = codecs.activeCoordinator.encode({ serverID, address: this.address, version: KITE_VERSION, startedAt: Date.now() });
    for (;;) {
      const lease = await this.store.grantLease(this.cfg.common.sessionTtlSeconds);
      const res = await this.store.txn(
        [{ key: this.key, target: 'createRevision', op: '==', value: 0 }],
        [{ type: 'put', key: this.key, value, lease: lease.id }],
      );
      if (res.succeeded) {
        this.exclusive = lease;
        lease.onLost((reason) => {
          if (this.exclusive === lease) this.stepDown(reason);
        });
        return;
      }
      await lease.revoke();
      this.log.info('another coordinator is active: standing by');
      let gone!: () => void;
      const released = new Promise<void>((resolve) => (gone = resolve));
      const w = await this.store.watchPrefix(this.key, res.revision + 1, {
        onEvents: (evs) => {
          if (evs.some((e) => e.type === 'delete')) gone();
        },
        onResync: (snap) => {
          if (snap.kvs.length === 0) gone();
        },
      });
      // The key may have gone between the failed txn and the watch.
      if (!(await this.store.get(this.key))) gone();
      await released;
      await w.close();
    }
  }

  /** Stops acting as the coordinator and gives up the exclusive key; the host then revokes the session. */
  async drain(): Promise<void> {
    this.stopped = true;
    await this.coordinator?.stop();
    await this.exclusive?.revoke().catch(() => undefined);
  }

  /** Stops what `start` started. */
  async stop(): Promise<void> {
    await this.running?.stop();
  }
}
