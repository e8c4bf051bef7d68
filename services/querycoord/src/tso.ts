import { composeTs, LOGICAL_MASK } from '@kite/common';
import type { MetaStore } from '@kite/metastore';
import { keys } from '@kite/segment';

/** How far ahead the oracle reserves physical time (config querycoord.tsoWindowMs, querycoord.tsoRenewBeforeMs). */
export interface TsoWindow {
  /** The reservation reaches this far past the timestamp being issued. */
  windowMs: number;
  /** The next reservation is written once the issued timestamps come within this of the reserved end. */
  renewBeforeMs: number;
}

/**
 * The timestamp oracle: hybrid timestamps (physical ms << 18 | logical), strictly increasing. The physical part is
 * reserved ahead in the meta store (a window of `windowMs`), so after a restart or a coordinator fail-over the
 * oracle starts past anything it may have issued.
 */
export class Tso {
  private physical = 0;
  private logicalNext = 0;
  private reservedUntil = 0;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: MetaStore,
    private readonly root: string,
    private readonly window: TsoWindow,
  ) {}

  async start(): Promise<void> {
    const kv = await this.store.get(keys.tso(this.root));
    const last = kv ? Number(kv.value) : 0;
    this.physical = Math.max(Date.now(), last + 1);
    await this.reserve(this.physical + this.window.windowMs);
  }

  private async reserve(until: number): Promise<void> {
    await this.store.put(keys.tso(this.root), String(until));
    this.reservedUntil = until;
  }

  /** Allocates `count` consecutive timestamps; returns the first. */
  alloc(count: number): Promise<bigint> {
    const run = this.chain.then(async () => {
      const now = Date.now();
      if (now > this.physical) {
        this.physical = now;
        this.logicalNext = 0;
      }
      if (this.logicalNext + count > Number(LOGICAL_MASK)) {
        this.physical += 1;
        this.logicalNext = 0;
      }
      if (this.physical >= this.reservedUntil - this.window.renewBeforeMs) await this.reserve(this.physical + this.window.windowMs);
      const ts = composeTs(this.physical, this.logicalNext);
      this.logicalNext += count;
      return ts;
    });
    this.chain = run.catch(() => undefined);
    return run;
  }
}

/** Allocates unique ids (collections, partitions, segments, indexes, auto primary keys) in persisted batches. */
export class IdAllocator {
  private next = 0;
  private end = 0;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: MetaStore,
    private readonly root: string,
    /** Ids reserved in the meta store at once (config querycoord.idBatchSize). */
    private readonly batch: number,
  ) {}

  alloc(count: number): Promise<number> {
    const run = this.chain.then(async () => {
      if (this.next + count > this.end) {
        const kv = await this.store.get(keys.idAllocator(this.root));
        // Ids start at a recognisable base so they never collide with small user-given numbers in logs.
        const base = kv ? Number(kv.value) : 448_000_000_000_000;
        const end = base + Math.max(this.batch, count);
        const res = await this.store.txn(
          [{ key: keys.idAllocator(this.root), target: 'version', op: '==', value: kv ? kv.version : 0 }],
          [{ type: 'put', key: keys.idAllocator(this.root), value: String(end) }],
        );
        if (!res.succeeded) throw new Error('id allocator: concurrent allocation, retry');
        this.next = base;
        this.end = end;
      }
      const start = this.next;
      this.next += count;
      return start;
    });
    this.chain = run.catch(() => undefined);
    return run;
  }
}
