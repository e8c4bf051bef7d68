import { EventEmitter } from 'node:events';
import { KiteError, clip } from '@kite/common';
import type { KeyValue, MetaStore, WatchEvent } from '@kite/metastore';
import { DEFAULT_DB, aliasOfKey, codecs, databaseOfKey, dbOf, idAfter, keys, segmentKeyIds, type ChannelCheckpoint, type CollectionMeta, type DatabaseRecord, type SegmentMeta } from '@kite/segment';

/** One watched prefix: the revision up to which the cache reflects it, and each key's last change. */
interface Followed {
  prefix: string;
  /** Every change under the prefix at or below this revision is applied (events at or below it are skipped). */
  revision: number;
  /** Key -> modRevision of the value the cache holds. */
  seen: Map<string, number>;
}

/**
 * A read-only, watch-backed view of the catalogue (databases, collections, aliases) and segment records, for proxies and
 * nodes. Events: `collection` (meta or undefined when dropped, id), `segment` (meta or undefined, collectionID, segmentID).
 *
 * It tracks the meta store revision it reflects, per watched prefix, so a caller that changed the catalogue through
 * another process (a DDL the coordinator acknowledged) can wait until the cache shows the change:
 * `waitForRevision(await cache.storeRevision(), deadline)`.
 */
export class MetaCache extends EventEmitter {
  private readonly collections = new Map<number, CollectionMeta>();
  /** Database -> alias -> collection name. */
  private readonly aliases = new Map<string, Map<string, string>>();
  private readonly databases = new Map<string, DatabaseRecord>();
  private readonly segments = new Map<number, Map<number, SegmentMeta>>();
  private readonly closers: (() => Promise<void>)[] = [];
  private readonly followed: Followed[] = [];
  /** Fires (no arguments) after a watch applied changes and its revision moved on. */
  private readonly progress = new EventEmitter();

  constructor(
    private readonly store: MetaStore,
    private readonly root: string,
    private readonly withSegments = true,
  ) {
    super();
    this.setMaxListeners(1000);
    this.progress.setMaxListeners(0);
  }

  async start(): Promise<void> {
    await this.follow(
      keys.collections(this.root),
      (k, v) => {
        const c = codecs.collection.decode(v, k);
        this.collections.set(c.collectionID, c);
        this.emit('collection', c, c.collectionID);
      },
      (k) => {
        const id = idAfter(keys.collections(this.root), k);
        this.collections.delete(id);
        this.segments.delete(id);
        this.emit('collection', undefined, id);
      },
      () => this.collections.clear(),
    );
    await this.follow(
      keys.aliases(this.root),
      (k, v) => {
        const { db, alias } = aliasOfKey(this.root, k);
        let m = this.aliases.get(db);
        if (!m) this.aliases.set(db, (m = new Map()));
        m.set(alias, v);
      },
      (k) => {
        const { db, alias } = aliasOfKey(this.root, k);
        this.aliases.get(db)?.delete(alias);
      },
      () => this.aliases.clear(),
    );
    await this.follow(
      keys.databases(this.root),
      (k, v) => this.databases.set(databaseOfKey(this.root, k), codecs.database.decode(v, k)),
      (k) => this.databases.delete(databaseOfKey(this.root, k)),
      () => this.databases.clear(),
    );
    if (this.withSegments) {
      await this.follow(
        keys.segments(this.root),
        (k, v) => {
          const s = codecs.segment.decode(v, k);
          let m = this.segments.get(s.collectionID);
          if (!m) this.segments.set(s.collectionID, (m = new Map()));
          m.set(s.segmentID, s);
          this.emit('segment', s, s.collectionID, s.segmentID);
        },
        (k) => {
          const { collectionID, segmentID } = segmentKeyIds(this.root, k);
          this.segments.get(collectionID)?.delete(segmentID);
          this.emit('segment', undefined, collectionID, segmentID);
        },
        () => this.segments.clear(),
      );
    }
  }

  private async follow(prefix: string, put: (k: string, v: string) => void, del: (k: string) => void, clear: () => void): Promise<void> {
    const snap = await this.store.getPrefix(prefix);
    const f: Followed = { prefix, revision: snap.revision, seen: new Map() };
    const load = (kvs: KeyValue[]): void => {
      for (const kv of kvs) {
        put(kv.key, kv.value);
        f.seen.set(kv.key, kv.modRevision);
      }
    };
    load(snap.kvs);
    this.followed.push(f);
    const w = await this.store.watchPrefix(prefix, snap.revision + 1, {
      onEvents: (evs: WatchEvent[]) => {
        for (const ev of evs) {
          const rev = ev.type === 'put' ? ev.kv.modRevision : ev.modRevision;
          // Already reflected: a read confirmed the prefix at a later revision (waitForRevision) before this arrived.
          if (rev <= f.revision) continue;
          if (ev.type === 'put') {
            put(ev.kv.key, ev.kv.value);
            f.seen.set(ev.kv.key, rev);
          } else {
            del(ev.key);
            f.seen.delete(ev.key);
          }
          f.revision = rev;
        }
        this.progress.emit('advanced');
      },
      onResync: (s) => {
        clear();
        f.seen.clear();
        load(s.kvs);
        f.revision = s.revision;
        this.progress.emit('advanced');
      },
    });
    this.closers.push(() => w.close());
  }

  /** The lowest meta store revision every watched prefix is known to reflect. */
  get revision(): number {
    return this.followed.reduce((min, f) => Math.min(min, f.revision), Infinity);
  }

  /** The meta store's current revision (one small read). */
  async storeRevision(): Promise<number> {
    return (await this.store.getPrefix(keys.aliases(this.root))).revision;
  }

  /**
   * Resolves once the cache reflects every change to its prefixes up to store revision `rev`, e.g. the revision read
   * right after a DDL was acknowledged. Waits for the watches' events; a prefix with nothing in flight has no event
   * to wait for, so when one is behind, one read of it shows whether it is only quiet (the store holds exactly what
   * the cache holds: it is then current as of that read) or has changes still on their way (wait for them, then look
   * again). Fails with a retriable DeadlineExceeded at `deadline` (epoch ms).
   */
  async waitForRevision(rev: number, deadline: number): Promise<void> {
    for (const f of this.followed) {
      while (f.revision < rev) {
        const next = this.nextProgress(deadline, rev);
        try {
          const snap = await Promise.race([this.store.getPrefix(f.prefix), next.promise.then(() => undefined)]);
          if (f.revision >= rev) break;
          if (snap && sameKeys(f.seen, snap.kvs)) {
            f.revision = Math.max(f.revision, snap.revision);
            break;
          }
          await next.promise;
        } finally {
          next.cancel();
        }
      }
    }
  }

  /** A promise that resolves at the next applied change of any watch, or rejects at the deadline. */
  private nextProgress(deadline: number, rev: number): { promise: Promise<void>; cancel(): void } {
    let cancel = (): void => undefined;
    const promise = new Promise<void>((resolve, reject) => {
      const onProgress = (): void => {
        cancel();
        resolve();
      };
      const timer = setTimeout(() => {
        cancel();
        reject(new KiteError('DeadlineExceeded', `the catalogue cache did not reach meta store revision ${rev} (it is at ${this.revision}) before the deadline`, { retriable: true }));
      }, Math.max(0, deadline - Date.now()));
      cancel = () => {
        clearTimeout(timer);
        this.progress.off('advanced', onProgress);
      };
      this.progress.on('advanced', onProgress);
    });
    promise.catch(() => undefined);
    return { promise, cancel };
  }

  async close(): Promise<void> {
    await Promise.all(this.closers.map((c) => c()));
  }

  /** Every collection, or those of database `db`. */
  all(db?: string): CollectionMeta[] {
    const list = [...this.collections.values()];
    return db === undefined ? list : list.filter((c) => dbOf(c) === db);
  }

  /** A database by name; "default" always exists (with no properties until they are altered). */
  database(name: string): DatabaseRecord | undefined {
    return this.databases.get(name) ?? (name === DEFAULT_DB ? defaultDatabase() : undefined);
  }

  /** Every database, "default" first. */
  allDatabases(): DatabaseRecord[] {
    const rest = [...this.databases.values()].filter((d) => d.name !== DEFAULT_DB).sort((a, b) => a.id - b.id);
    return [this.database(DEFAULT_DB) ?? defaultDatabase(), ...rest];
  }

  byID(id: number): CollectionMeta | undefined {
    return this.collections.get(id);
  }

  /** A collection of database `db` by name or by an alias of that database. */
  find(nameOrAlias: string, db: string): CollectionMeta | undefined {
    const name = this.aliases.get(db)?.get(nameOrAlias) ?? nameOrAlias;
    for (const c of this.collections.values()) if (c.name === name && dbOf(c) === db) return c;
    return undefined;
  }

  get(nameOrAlias: string, db: string): CollectionMeta {
    const c = this.find(nameOrAlias, db);
    if (!c) throw new KiteError('CollectionNotFound', `collection not found[database=${clip(db, 128)}][collection=${clip(nameOrAlias, 128)}]`);
    return c;
  }

  mustByID(id: number): CollectionMeta {
    const c = this.collections.get(id);
    if (!c) throw new KiteError('CollectionNotFound', `collection not found[collectionID=${id}]`);
    return c;
  }

  aliasesOf(name: string, db: string): string[] {
    return this.allAliases(db).filter(([, t]) => t === name).map(([a]) => a);
  }

  /** The aliases of database `db`: [alias, collection name]. */
  allAliases(db: string): [string, string][] {
    return [...(this.aliases.get(db) ?? [])];
  }

  segmentsOf(collectionID: number): SegmentMeta[] {
    return [...(this.segments.get(collectionID)?.values() ?? [])];
  }

  segment(collectionID: number, segmentID: number): SegmentMeta | undefined {
    return this.segments.get(collectionID)?.get(segmentID);
  }

  async checkpoint(collectionID: number, channel: string): Promise<ChannelCheckpoint | undefined> {
    const kv = await this.store.get(keys.checkpoint(this.root, collectionID, channel));
    return kv ? codecs.checkpoint.decode(kv.value, kv.key) : undefined;
  }
}

/** "default" as it is before any AlterDatabase stored it. */
export function defaultDatabase(): DatabaseRecord {
  return { name: DEFAULT_DB, id: 1, createdTs: '0', properties: {} };
}

/** Whether `kvs` (a read of a prefix) holds exactly the keys of `seen`, each at the same modRevision. */
function sameKeys(seen: Map<string, number>, kvs: KeyValue[]): boolean {
  if (kvs.length !== seen.size) return false;
  return kvs.every((kv) => seen.get(kv.key) === kv.modRevision);
}
