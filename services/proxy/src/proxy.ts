import type * as grpc from '@grpc/grpc-js';
import type { KiteConfig, Logger } from '@kite/common';
import type { MetaStore } from '@kite/metastore';
import { bindServer } from '@kite/rpc';
import { Session } from '@kite/session';
import type { MetaCache } from '@kite/session';
import type { Wal } from '@kite/wal';
import { adminHandlers } from './admin';
import { ProxyCore } from './core';
import { ddlHandlers } from './ddl';
import { indexHandlers } from './indexes';
import { readHandlers } from './read';
import { milvusServer } from './server';
import { writeHandlers } from './write';

export { statusOf } from './status';

/**
 * The proxy: Milvus's public MilvusService. It validates requests against the schema, assigns ids and timestamps,
 * writes changes to the WAL (acknowledged once durable there), and routes reads to the shard delegators, retrying
 * on another replica when one fails. The handlers live by concern: ddl.ts and indexes.ts (catalogue), write.ts,
 * read.ts, admin.ts; routing in router.ts, the coordinator link in coordinator.ts, the server in server.ts.
 */
export class Proxy {
  private readonly core: ProxyCore;
  private server: grpc.Server | undefined;
  private session: Session | undefined;
  port = 0;

  constructor(
    private readonly cfg: KiteConfig,
    private readonly store: MetaStore,
    wal: Wal,
    private readonly log: Logger,
  ) {
    this.core = new ProxyCore(cfg, store, wal, log);
  }

  get meta(): MetaCache {
    return this.core.meta;
  }

  /** Ready: registered and knows the active coordinator. */
  ready(): boolean {
    return this.core.coordinator.known && !!this.session?.info;
  }

  get serverID(): number {
    return this.session?.info?.serverID ?? 0;
  }

  async start(port = this.cfg.proxy.port): Promise<number> {
    await this.core.start();
    this.server = milvusServer(this.cfg, {
      ...adminHandlers(this.core, () => this.serverID),
      ...ddlHandlers(this.core),
      ...indexHandlers(this.core),
      ...writeHandlers(this.core),
      ...readHandlers(this.core),
    }, this.log);
    this.port = await bindServer(this.server, this.cfg.common.listenHost, port);
    this.session = new Session(this.store, this.cfg.common.rootPath, this.cfg.common.sessionTtlSeconds, {
      role: 'proxy', address: `${this.cfg.common.advertiseHost}:${this.port}`, metricsAddress: '',
    }, this.log);
    this.session.on('lost', () => {
      // A proxy holds no assignments: it only needs a live session again.
      void this.session?.rejoin();
    });
    await this.session.register();
    return this.port;
  }

  async stop(): Promise<void> {
    await this.session?.revoke();
    await new Promise<void>((r) => (this.server ? this.server.tryShutdown(() => r()) : r()));
    await this.core.close();
  }
}
