import { EventEmitter } from 'node:events';
import { KiteError, clip } from '@kite/common';
import type { MetaStore, WatchEvent } from '@kite/metastore';
import { codecs, idAfter, keys, type ChannelCheckpoint, type CollectionMeta, type SegmentMeta } from '@kite/segment';

/**
 * A read-only, watch-backed view of the catalogue (collections, aliases) and segment records, for proxies and
 * nodes. Events: `collection` (meta or undefined when dropped, id), `segment` (meta or undefined, collectionID, segmentID).
 */
export class MetaCache extends EventEmitter {
  private readonly collections = new Map<number, CollectionMeta>();
  private readonly aliases = new Map<string, string>();
  private readonly segments = new Map<number, Map<number, SegmentMeta>>();
  private readonly closers: (() => Promise<void>)[] = [];

  constructor(
    private readonly store: MetaStore,
    private readonly root: string,
    private readonly withSegments = true,
  ) {
    super();
    this.setMaxListeners(1000);
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
      (k, v) => this.aliases.set(k.slice(keys.aliases(this.root).length), v),
      (k) => this.aliases.delete(k.slice(keys.aliases(this.root).length)),
      () => this.aliases.clear(),
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
          const [coll, seg] = k.slice(keys.segments(this.root).length).split('/').map(Number);
          this.segments.get(coll!)?.delete(seg!);
          this.emit('segment', undefined, coll, seg);
        },
        () => this.segments.clear(),
      );
    }
  }

  private async follow(prefix: string, put: (k: string, v: string) => void, del: (k: string) => void, clear: () => void): Promise<void> {
    const snap = await this.store.getPrefix(prefix);
    for (const kv of snap.kvs) put(kv.key, kv.value);
    const w = await this.store.watchPrefix(prefix, snap.revision + 1, {
      onEvents: (evs: WatchEvent[]) => {
        for (const ev of evs) {
          if (ev.type === 'put') put(ev.kv.key, ev.kv.value);
          else del(ev.key);
        }
      },
      onResync: (s) => {
        clear();
        for (const kv of s.kvs) put(kv.key, kv.value);
      },
    });
    this.closers.push(() => w.close());
  }

  async close(): Promise<void> {
    await Promise.all(this.closers.map((c) => c()));
  }

  all(): CollectionMeta[] {
    return [...this.collections.values()];
  }

  byID(id: number): CollectionMeta | undefined {
    return this.collections.get(id);
  }

  find(nameOrAlias: string): CollectionMeta | undefined {
    const name = this.aliases.get(nameOrAlias) ?? nameOrAlias;
    for (const c of this.collections.values()) if (c.name === name) return c;
    return undefined;
  }

  get(nameOrAlias: string): CollectionMeta {
    const c = this.find(nameOrAlias);
    if (!c) throw new KiteError('CollectionNotFound', `collection not found[collection=${clip(nameOrAlias, 128)}]`);
    return c;
  }

  mustByID(id: number): CollectionMeta {
    const c = this.collections.get(id);
    if (!c) throw new KiteError('CollectionNotFound', `collection not found[collectionID=${id}]`);
    return c;
  }

  aliasesOf(name: string): string[] {
    return [...this.aliases].filter(([, t]) => t === name).map(([a]) => a);
  }

  allAliases(): [string, string][] {
    return [...this.aliases];
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
