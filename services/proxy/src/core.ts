import { KiteError, clip, toKiteError, type KiteConfig, type Logger } from '@kite/common';
import type { MetaStore } from '@kite/metastore';
import type { MilvusMethodName, MilvusRequest, MilvusResponse } from '@kite/proto';
import { beforeDeadline } from '@kite/rpc';
import type { CollectionMeta, DatabaseRecord } from '@kite/segment';
import { MetaCache } from '@kite/session';
import type { Wal } from '@kite/wal';
import { Coordinator } from './coordinator';
import { FilterCache } from './filter-cache';
import { DATABASE_FREE, type RequestContext } from './request';
import { Router } from './router';
import { checkName } from './schema';
import { TimestampAllocator } from './tso';

/** A MilvusService method as the proxy implements it: the decoded request and the call's context in, the response out. */
export type Handler<M extends MilvusMethodName> = (r: MilvusRequest<M>, ctx: RequestContext) => Promise<MilvusResponse<M>>;

/** The methods one module serves. */
export type Handlers = { [M in MilvusMethodName]?: Handler<M> };

/** What the handler modules share: configuration, backends, the catalogue cache, the coordinator, the router. */
export class ProxyCore {
  readonly meta: MetaCache;
  readonly coordinator: Coordinator;
  readonly router: Router;
  /** Timestamps for writes, from ranges of the coordinator's oracle. */
  readonly tso: TimestampAllocator;
  /** Filters parsed and checked (proxy.filterCacheSize). */
  readonly filters: FilterCache;

  constructor(
    readonly cfg: KiteConfig,
    readonly store: MetaStore,
    readonly wal: Wal,
    readonly log: Logger,
  ) {
    this.meta = new MetaCache(store, cfg.common.rootPath, false);
    this.filters = new FilterCache(cfg.proxy.filterCacheSize, { maxLength: cfg.proxy.maxFilterLength });
    this.coordinator = new Coordinator(cfg, store);
    this.router = new Router(cfg, store, this.coordinator, log);
    this.tso = new TimestampAllocator((count, deadline) => this.coordinator.timestamps(count, deadline), {
      batchSize: cfg.proxy.timestampBatchSize,
      maxAgeMs: cfg.proxy.timestampMaxAgeMs,
    });
  }

  async start(): Promise<void> {
    await this.meta.start();
    await this.coordinator.start();
    await this.router.start();
  }

  async close(): Promise<void> {
    await this.router.close();
    await this.coordinator.close();
    await this.meta.close();
  }

  /**
   * After the coordinator acknowledged a DDL: waits (until the request's deadline) for the watch-backed catalogue
   * cache to reach the meta store's revision as of now, so the change is visible to the next call through this proxy.
   */
  async synced(ctx: RequestContext): Promise<void> {
    let rev: number;
    try {
      rev = await beforeDeadline(this.meta.storeRevision(), ctx.deadline, 'answer');
    } catch (e) {
      throw new KiteError('ServiceUnavailable', `the meta store did not tell its revision before the deadline: ${toKiteError(e).message}`, { cause: e, retriable: true });
    }
    await this.meta.waitForRevision(rev, ctx.deadline);
  }

  /**
   * A collection of the call's database by name or alias. When the cache does not know it, the cache is brought up
   * to the store's current revision first: a DDL just acknowledged (through another proxy) may still be on its way
   * through the watch.
   */
  async collection(name: string, ctx: RequestContext): Promise<CollectionMeta> {
    checkName('collection', name);
    const c = this.meta.find(name, ctx.db);
    if (c) return c;
    await this.synced(ctx);
    return this.meta.get(name, ctx.db);
  }

  /**
   * The database `name` (the call's own by default), or DatabaseNotFound (Milvus's code 800). Like `collection`, an
   * unknown name is looked up again once the cache reflects the store as of now.
   */
  async database(ctx: RequestContext, name: string = ctx.db): Promise<DatabaseRecord> {
    const known = this.meta.database(name);
    if (known) return known;
    await this.synced(ctx);
    const d = this.meta.database(name);
    if (!d) throw new KiteError('DatabaseNotFound', `database not found[database=${clip(name, 128)}]`);
    return d;
  }

  partitionID(c: CollectionMeta, name: string | undefined): number {
    const p = c.partitions.find((x) => x.name === (name || '_default'));
    if (!p) throw new KiteError('PartitionNotFound', `partition not found[partition=${clip(String(name), 128)}]`);
    return p.partitionID;
  }
}

/**
 * The handlers with the call's database checked first: every call that acts within a database (all but
 * DATABASE_FREE) fails with DatabaseNotFound (code 800) when it names one that does not exist.
 */
export function inDatabase(core: ProxyCore, handlers: Handlers): Handlers {
  const out: Record<string, unknown> = {};
  for (const [method, fn] of Object.entries(handlers) as [MilvusMethodName, Handler<MilvusMethodName>][]) {
    out[method] = DATABASE_FREE.has(method)
      ? fn
      : async (r: MilvusRequest<MilvusMethodName>, ctx: RequestContext) => {
          await core.database(ctx);
          return fn(r, ctx);
        };
  }
  return out as Handlers;
}
