import type { MetaStore, WatchEvent } from '@kite/metastore';
import { channelsOf, codecs, idAfter, keys, type ChannelCheckpoint, type CollectionMeta, type SegmentMeta } from '@kite/segment';
import { within } from './deadline';

/** What a loaded collection must serve: its channels, and per channel its flushed segments that hold rows. */
export interface CollectionTarget {
  readonly collection: CollectionMeta;
  readonly channels: readonly string[];
  /** Flushed segments with rows: every replica must have each loaded on one of its nodes. */
  readonly segments: readonly SegmentMeta[];
  /** Every flushed segment of the collection (delete-only ones too) by id, in the order the meta store had them. */
  readonly all: ReadonlyMap<number, SegmentMeta>;
}

/** Segments of a channel in offset order (they tile its offsets). */
export function segmentsOn(t: CollectionTarget, channel: string): SegmentMeta[] {
  return [...t.all.values()].filter((s) => s.channel === channel).sort((a, b) => a.startOffset - b.startOffset);
}

/** A target over a fixed segment list (tests, and `TargetManager.next`). */
export function makeTarget(collection: CollectionMeta, segs: Iterable<SegmentMeta>): CollectionTarget {
  const all = new Map<number, SegmentMeta>();
  for (const s of segs) all.set(s.segmentID, s);
  return { collection, channels: channelsOf(collection), segments: [...all.values()].filter((s) => s.numRows > 0), all };
}

/**
 * What should be loaded, after Milvus's target manager: the *next* target of a collection is built from the meta
 * store's segment records as they are now (followed by a watch); the *current* target is the last next target that
 * every replica served in full, so it names what searches can count on.
 */
export class TargetManager {
  private readonly segments = new Map<number, Map<number, SegmentMeta>>();
  private readonly currents = new Map<number, CollectionTarget>();
  private closeWatch: (() => Promise<void>) | undefined;

  constructor(
    private readonly store: MetaStore,
    private readonly root: string,
    private readonly metaTimeoutMs: number,
    private readonly onChange: () => void = () => undefined,
  ) {}

  async start(): Promise<void> {
    const prefix = keys.segments(this.root);
    const segs = await this.store.getPrefix(prefix);
    for (const kv of segs.kvs) this.put(codecs.segment.decode(kv.value, kv.key));
    const w = await this.store.watchPrefix(prefix, segs.revision + 1, {
      onEvents: (evs: WatchEvent[]) => {
        for (const ev of evs) {
          if (ev.type === 'put') this.put(codecs.segment.decode(ev.kv.value, ev.kv.key));
          else this.remove(ev.key);
        }
        this.onChange();
      },
      onResync: (snap) => {
        this.segments.clear();
        for (const kv of snap.kvs) this.put(codecs.segment.decode(kv.value, kv.key));
      },
    });
    this.closeWatch = () => w.close();
  }

  async stop(): Promise<void> {
    await this.closeWatch?.();
  }

  /** Records a segment (the meta store watch does; tests call it directly). */
  put(s: SegmentMeta): void {
    let m = this.segments.get(s.collectionID);
    if (!m) this.segments.set(s.collectionID, (m = new Map()));
    m.set(s.segmentID, s);
  }

  private remove(key: string): void {
    for (const [coll, m] of this.segments) {
      const prefix = keys.segments(this.root, coll);
      if (key.startsWith(prefix)) m.delete(idAfter(prefix, key));
    }
  }

  /** The collection's next target: what it must serve as of the latest segment records. */
  next(c: CollectionMeta): CollectionTarget {
    return makeTarget(c, this.segments.get(c.collectionID)?.values() ?? []);
  }

  current(collectionID: number): CollectionTarget | undefined {
    return this.currents.get(collectionID);
  }

  /** Makes `t` the current target (every replica serves it). */
  promote(t: CollectionTarget): void {
    this.currents.set(t.collection.collectionID, t);
  }

  segment(collectionID: number, segmentID: number): SegmentMeta | undefined {
    return this.segments.get(collectionID)?.get(segmentID);
  }

  /** Forgets a dropped or released collection's targets (segment records of a dropped one go too). */
  drop(collectionID: number, dropped: boolean): void {
    this.currents.delete(collectionID);
    if (dropped) this.segments.delete(collectionID);
  }

  /** The channel's consumed checkpoint (where a data node resumes), bounded by the meta timeout. */
  async checkpoint(collectionID: number, channel: string): Promise<ChannelCheckpoint | undefined> {
    const key = keys.checkpoint(this.root, collectionID, channel);
    const kv = await within(this.store.get(key), this.metaTimeoutMs, `meta store get ${key}`);
    return kv ? codecs.checkpoint.decode(kv.value, kv.key) : undefined;
  }
}
