/** Where a TimestampAllocator gets its ranges: `count` consecutive timestamps from the oracle, the first returned. */
export type TimestampSource = (count: number, deadline: number) => Promise<bigint>;

export interface TimestampAllocatorOptions {
  /** Timestamps asked for per call to the oracle (proxy.timestampBatchSize). */
  batchSize: number;
  /** A cached range is used for this long after it was asked for, then dropped (proxy.timestampMaxAgeMs). */
  maxAgeMs: number;
  /** Clock in epoch ms (tests). */
  now?: () => number;
}

/**
 * Hands out hybrid timestamps from ranges the timestamp oracle (the coordinator's AllocTimestamp) allocates
 * `batchSize` at a time, instead of one oracle call per write.
 *
 * Every timestamp of a range is below every timestamp the oracle hands out after allocating the range (it is
 * strictly increasing), and this allocator hands them out in order, so a proxy's writes get increasing timestamps and
 * each is below anything allocated later anywhere. A range is used for at most `maxAgeMs` after it was asked for,
 * which bounds how far behind wall time (and behind a timestamp another proxy just took fresh) a cached timestamp
 * can be. Callers arriving while a refill is in flight share it; when it fails, each of them gets its error.
 */
export class TimestampAllocator {
  private next = 0n;
  private end = 0n;
  /** When the current range was asked for (epoch ms). */
  private askedAt = -Infinity;
  /** Refills started so far, and which of them the current range came from (orders asks against arrivals exactly). */
  private asks = 0;
  private rangeAsk = 0;
  private refill: Promise<void> | undefined;
  private readonly now: () => number;

  constructor(
    private readonly source: TimestampSource,
    private readonly opts: TimestampAllocatorOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * One timestamp. A caller that has to wait for a refill gives it its deadline when it starts one (a refill it
   * joins runs under the deadline of the caller that started it).
   */
  async alloc(deadline: number): Promise<bigint> {
    const asksBefore = this.asks;
    for (;;) {
      // A range asked for after this caller arrived is fresh enough for it whatever maxAgeMs says (maxAgeMs 0); one
      // asked for before it arrived only within maxAgeMs.
      const fresh = this.rangeAsk > asksBefore || (this.opts.maxAgeMs > 0 && this.now() - this.askedAt <= this.opts.maxAgeMs);
      if (this.next < this.end && fresh) return this.next++;
      this.refill ??= this.fetch(deadline).finally(() => (this.refill = undefined));
      await this.refill;
    }
  }

  /** Forgets the cached range (the next caller asks the oracle). */
  reset(): void {
    this.next = this.end = 0n;
  }

  private async fetch(deadline: number): Promise<void> {
    const count = Math.max(1, this.opts.batchSize);
    const askedAt = this.now();
    const ask = ++this.asks;
    const start = await this.source(count, deadline);
    this.next = start;
    this.end = start + BigInt(count);
    this.askedAt = askedAt;
    this.rangeAsk = ask;
  }
}
