import type * as grpc from '@grpc/grpc-js';
import express from 'express';
import type { KiteConfig, Logger } from '@kite/common';
import type { HostContext, Hosted } from '@kite/host';
import type { HttpHandler } from '@kite/observe';
import type { MetaStore } from '@kite/metastore';
import type { MetaCache, Session } from '@kite/session';
import type { Wal } from '@kite/wal';
import { adminHandlers } from './admin';
import { analyzeHandlers } from './analyze';
import { compactionHandlers } from './compaction';
import { importHandlers } from './import';
import { ProxyCore, inDatabase } from './core';
import { ddlHandlers } from './ddl';
import { fieldEvolutionHandlers } from './field-evolution';
import { indexHandlers } from './indexes';
import { operationHandlers } from './operations';
import { hybridHandlers } from './hybrid';
import { readHandlers } from './read';
import { restRouter } from './rest';
import { webUiRouter } from './webui';
import { Security, credentialHandlers, rbacHandlers } from './security';
import type { Handlers } from './core';
import { addMilvusService, milvusServerOptions } from './server';
import { writeHandlers } from './write';

export { statusOf } from './status';

/**
 * The proxy: Milvus's public MilvusService. It validates requests against the schema, assigns ids and timestamps,
 * writes changes to the WAL (acknowledged once durable there), and routes reads to the shard delegators, retrying
 * on another replica when one fails. The handlers live by concern: ddl.ts and indexes.ts (catalogue), write.ts,
 * read.ts, admin.ts; routing in router.ts, the coordinator link in coordinator.ts, the service in server.ts.
 *
 * Its gRPC server and session are the host's (@kite/host). A proxy holds no assignments: after a lost lease the
 * host's new session is all it needs.
 */
export class Proxy implements Hosted {
  readonly role = 'proxy' as const;
  /** Calls in flight finish when the server shuts down (within the stop deadline) instead of being cancelled. */
  readonly gracefulShutdown = true;
  private readonly core: ProxyCore;
  /** Users and credentials; with security.authorizationEnabled every call is authenticated against them. */
  private readonly security: Security;
  private session: Session | undefined;

  constructor(
    private readonly cfg: KiteConfig,
    store: MetaStore,
    wal: Wal,
    private readonly log: Logger,
  ) {
    this.core = new ProxyCore(cfg, store, wal, log);
    this.security = new Security(cfg, store, log);
  }

  get meta(): MetaCache {
    return this.core.meta;
  }

  get serverID(): number {
    return this.session?.info?.serverID ?? 0;
  }

  /** Ready: registered and knows the active coordinator. */
  ready(): boolean {
    return this.core.coordinator.known && !!this.session?.info;
  }

  serverOptions(): grpc.ServerOptions {
    return milvusServerOptions(this.cfg);
  }

  /** Before the server binds: the catalogue cache, the active coordinator and the shard leaders, each kept current by a watch. */
  async prepare(): Promise<void> {
    await this.core.start();
    await this.security.start();
  }

  /** MilvusService's handlers, shared by the gRPC server and the RESTful API. */
  private handlersValue: Handlers | undefined;

  private get handlers(): Handlers {
    this.handlersValue ??= {
      ...inDatabase(this.core, {
        ...adminHandlers(this.core, () => this.serverID),
        ...ddlHandlers(this.core),
        ...fieldEvolutionHandlers(this.core),
        ...indexHandlers(this.core),
        ...writeHandlers(this.core),
        ...readHandlers(this.core),
        ...hybridHandlers(this.core),
        ...analyzeHandlers(this.core),
        ...compactionHandlers(this.core),
        ...operationHandlers(this.core),
        ...importHandlers(this.core),
      }),
      // Users, roles and grants are cluster-wide (a grant names its own database).
      ...credentialHandlers(this.security),
      ...rbacHandlers(this.security),
    };
    return this.handlersValue;
  }

  addServices(server: grpc.Server): void {
    addMilvusService(server, this.cfg, this.handlers, this.log, this.security);
  }

  /**
   * On the process's HTTP port: the web UI (/webui, webui/index.ts), and Milvus's RESTful API v2 (/v2/vectordb/...)
   * through the same handlers and checks as the gRPC server.
   */
  httpHandler(): HttpHandler {
    const routes = express.Router();
    routes.use(webUiRouter({ cfg: this.cfg, core: this.core, log: this.log, security: this.security }));
    routes.use(restRouter({ cfg: this.cfg, handlers: this.handlers, log: this.log, security: this.security }));
    return routes as unknown as HttpHandler;
  }

  attach(ctx: HostContext): void {
    this.session = ctx.session;
  }

  /** After the gRPC server shut down: the watches and clients `prepare` opened. */
  async close(): Promise<void> {
    await this.security.close();
    await this.core.close();
  }
}
