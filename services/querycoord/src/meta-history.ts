import type { Logger } from '@kite/common';
import { counter, gauge } from '@kite/observe';
import type { MetaStore } from '@kite/metastore';

const compactions = counter('kite_meta_history_compactions_total', 'scheduled compactions of the meta store revision history, by outcome (done, failed)', ['outcome']);
const compactedRevision = gauge('kite_meta_compacted_revision', 'the revision the meta store history was last compacted to by this process');

export interface HistoryCompactionOptions {
  /** Seconds between compactions; 0 turns the schedule off. */
  intervalSeconds: number;
  /** Revisions kept behind the current one. */
  retainRevisions: number;
  /** A key (or prefix) read to learn the store's current revision; any key will do. */
  probeKey: string;
}

/**
 * Compacts the meta store's revision history on a schedule: every `intervalSeconds` it reads the current revision
 * and compacts up to `retainRevisions` behind it, so etcd's history (every old value of every key) stays bounded.
 * One process of the cluster runs it (the active coordinator); a second one would be harmless (compacting to a
 * revision already compacted is a no-op) but pointless.
 */
export class HistoryCompactor {
  private timer: NodeJS.Timeout | undefined;
  private last = 0;
  private busy = false;

  constructor(
    private readonly store: Pick<MetaStore, 'getPrefix' | 'compact'>,
    private readonly o: HistoryCompactionOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.o.intervalSeconds <= 0 || !this.store.compact) return;
    this.timer = setInterval(() => void this.compactOnce(), this.o.intervalSeconds * 1000);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One compaction now; returns the revision compacted to, or undefined when there was nothing to do or it failed. */
  async compactOnce(): Promise<number | undefined> {
    if (this.busy || !this.store.compact) return undefined;
    this.busy = true;
    try {
      const { revision } = await this.store.getPrefix(this.o.probeKey);
      const target = revision - this.o.retainRevisions;
      if (target <= this.last || target < 1) return undefined;
      await this.store.compact(target);
      this.last = target;
      compactions.inc({ outcome: 'done' });
      compactedRevision.set(target);
      this.log.debug({ revision: target, current: revision }, 'meta store history compacted');
      return target;
    } catch (e) {
      compactions.inc({ outcome: 'failed' });
      this.log.warn({ err: String(e) }, 'meta store history compaction failed; retrying on the next one');
      return undefined;
    } finally {
      this.busy = false;
    }
  }
}
