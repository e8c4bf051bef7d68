import type { MetaStore } from '@kite/metastore';
import type { ObjectStore } from '@kite/objectstore';
import { codecs, decodeBatch, keys, type CollectionMeta, type SegmentMeta } from '@kite/segment';
import type { MetaCache } from '@kite/session';
import { DeleteSet, type PkIndex } from './exec';

/** A sealed segment this node holds, as the delete set of its channel is pruned against it. */
export interface HeldSegment {
  segmentID: number;
  pkIndex: PkIndex;
}

interface ChannelDeltas {
  applied: Set<number>;
  set: DeleteSet;
  /** The segments held when the set was last pruned (their keys were kept). */
  considered: Set<number>;
  /** Some delete was dropped by a prune: a segment loaded since may need it, so the set is read again for it. */
  pruned: boolean;
  /** The set's size after the last prune; the next one runs once it has doubled. */
  sizeAfterPrune: number;
}

/**
 * The delete logs of a channel's sealed segments, applied once each, for searches and queries on a worker.
 *
 * A delete log holds the deletes written while its segment was growing, whatever rows they hit, so the union of a
 * channel's logs grows with every delete the channel ever carried. The set is therefore pruned to the deletes whose
 * key a sealed segment this node holds has (`held`): a delete of a key none of them has cannot hide any row it
 * serves. A segment loaded after a prune may hold such a key, so the set is then read again from the logs (the
 * segment's load reads its channel's delete logs, as a fresh node would).
 */
export class SealedDeltas {
  private readonly deltas = new Map<string, ChannelDeltas>();

  /** `minPruneSize`: no prune below this many deletes (pruning is a pass over the set and the held segments). */
  constructor(
    private readonly root: string,
    private readonly store: MetaStore,
    private readonly objects: ObjectStore,
    private readonly meta: MetaCache,
    private readonly held: (channel: string) => HeldSegment[] = () => [],
    private readonly minPruneSize = 10_000,
  ) {}

  /** Entries in the delete sets of all channels. */
  get size(): number {
    let n = 0;
    for (const d of this.deltas.values()) n += d.set.size;
    return n;
  }

  /** Drops the sets of channels this node holds no sealed segment of any more (read again if one comes back). */
  forgetUnheld(): void {
    for (const channel of [...this.deltas.keys()]) if (this.held(channel).length === 0) this.deltas.delete(channel);
  }

  /** Makes sure the delta logs of every segment of `channel` that ends at or below `watermark` are applied. */
  async upTo(c: CollectionMeta, channel: string, watermark: number): Promise<DeleteSet> {
    let d = this.deltas.get(channel);
    if (d?.pruned && this.held(channel).some((s) => !d!.considered.has(s.segmentID))) d = undefined;
    if (!d) this.deltas.set(channel, (d = { applied: new Set(), set: new DeleteSet(), considered: new Set(), pruned: false, sizeAfterPrune: 0 }));
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
    if (this.deltas.get(channel) === d && d.set.size >= Math.max(this.minPruneSize, 2 * d.sizeAfterPrune)) this.prune(channel, d);
    return d.set;
  }

  /**
   * Keeps only the deletes of keys a held segment of the channel has. A new set, not removals: a search that has
   * the old one keeps it. Synchronous, so the held segments it records are the ones it kept keys for.
   */
  private prune(channel: string, d: ChannelDeltas): void {
    const held = this.held(channel);
    const kept = new DeleteSet();
    for (const [pk, ts] of d.set.map) {
      if (held.some((s) => s.pkIndex.has(pk))) kept.add(pk, ts);
    }
    d.pruned ||= kept.size < d.set.size;
    d.set = kept;
    d.considered = new Set(held.map((s) => s.segmentID));
    d.sizeAfterPrune = kept.size;
  }
}
