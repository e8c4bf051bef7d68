import * as grpc from '@grpc/grpc-js';
import type { KiteConfig, Logger } from '@kite/common';
import type { Lease, MetaStore } from '@kite/metastore';
import type { ObjectStore } from '@kite/objectstore';
import type { Wal } from '@kite/wal';
import { addService, bindServer, SERVER_OPTIONS } from '@kite/rpc';
import { KITE_VERSION, Session } from '@kite/session';
import { Coordinator } from './coordinator';

/**
 * The coordinator process: it becomes active by creating the exclusive session key `<root>/session/querycoord`
 * under its own lease (a standby waits on a watch until that key is gone), then recovers its state from the meta
 * store and serves. If the active coordinator loses its lease it exits its role at once (fencing).
 */
export class QueryCoordServer {
  coordinator: Coordinator | undefined;
  private server: grpc.Server | undefined;
  private session: Session | undefined;
  private exclusive: Lease | undefined;
  address = '';

  constructor(
    private readonly cfg: KiteConfig,
    private readonly store: MetaStore,
    private readonly wal: Wal,
    private readonly objects: ObjectStore,
    private readonly log: Logger,
    private readonly onFenced: () => void = () => process.exit(1),
  ) {}

  get serverID(): number {
    return this.session?.info?.serverID ?? 0;
  }

  private get key(): string {
    return `${this.cfg.common.rootPath}/session/querycoord`;
  }

  async start(port = this.cfg.querycoord.port): Promise<void> {
    this.server = new grpc.Server(SERVER_OPTIONS);
    const bound = await bindServer(this.server, this.cfg.common.listenHost, port);
    this.address = `${this.cfg.common.advertiseHost}:${bound}`;
    this.session = new Session(this.store, this.cfg.common.rootPath, this.cfg.common.sessionTtlSeconds, { role: 'querycoord', address: this.address, metricsAddress: '' }, this.log);
    const info = await this.session.register();
    await this.becomeActive(info.serverID);
    this.coordinator = new Coordinator(this.cfg, this.store, this.wal, this.objects, this.log);
    await this.coordinator.start();
    addService(this.server, 'QueryCoord', this.coordinator);
    this.log.info({ address: this.address }, 'query coordinator active');
  }

  /** Waits until this process holds the exclusive coordinator key. */
  private async becomeActive(serverID: number): Promise<void> {
    const value = JSON.stringify({ serverID, address: this.address, version: KITE_VERSION, startedAt: Date.now() });
    for (;;) {
      const lease = await this.store.grantLease(this.cfg.common.sessionTtlSeconds);
      const res = await this.store.txn(
        [{ key: this.key, target: 'createRevision', op: '==', value: 0 }],
        [{ type: 'put', key: this.key, value, lease: lease.id }],
      );
      if (res.succeeded) {
        this.exclusive = lease;
        lease.onLost((reason) => {
          this.log.error({ reason }, 'lost the exclusive coordinator session: stepping down');
          this.onFenced();
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

  async stop(): Promise<void> {
    await this.coordinator?.stop();
    await this.exclusive?.revoke().catch(() => undefined);
    await this.session?.revoke();
    this.server?.forceShutdown();
  }
}
