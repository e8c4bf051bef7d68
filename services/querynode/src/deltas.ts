import type { MetaStore } from '@kite/metastore';
import type { ObjectStore } from '@kite/objectstore';
import { codecs, decodeBatch, keys, type CollectionMeta, type SegmentMeta } from '@kite/segment';
import type { MetaCache } from '@kite/session';
import { DeleteSet } from './exec';

interface ChannelDeltas {
  applied: Set<number>;
  set: DeleteSet;
}

/** The delete logs of a channel's sealed segments, applied once each, for searches and queries on a worker. */
export class SealedDeltas {
  private readonly deltas = new Map<string, ChannelDeltas>();

  constructor(
    private readonly root: string,
    private readonly store: MetaStore,
    private readonly objects: ObjectStore,
    private readonly meta: MetaCache,
  ) {}

  /** Makes sure the delta logs of every segment of `channel` that ends at or below `watermark` are applied. */
  async upTo(c: CollectionMeta, channel: string, watermark: number): Promise<DeleteSet> {
    let d = this.deltas.get(channel);
    if (!d) this.deltas.set(channel, (d = { applied: new Set(), set: new DeleteSet() }));
    let segs = this.meta.segmentsOf(c.collectionID).filter((s) => s.channel === channel);
    const covered = (list: SegmentMeta[]): number => {
      let w = 0;
      for (const s of [...list].sort((a, b) => a.startOffset - b.startOffset)) {
        if (s.startOffset > w) break;
        w = Math.max(w, s.endOffset);
      }
      return w;
    };
    if (covered(segs) < watermark) {
      const fresh = await this.store.getPrefix(keys.segments(this.root, c.collectionID));
      segs = fresh.kvs.map((kv) => codecs.segment.decode(kv.value, kv.key)).filter((s) => s.channel === channel);
    }
    for (const s of segs) {
      if (s.endOffset > watermark || d.applied.has(s.segmentID)) continue;
      if (s.deltaKey) d.set.addBatch(decodeBatch(await this.objects.get(s.deltaKey)));
      d.applied.add(s.segmentID);
    }
    return d.set;
  }
}
