import type { CollectionMeta, DataTypeName, SegmentMeta } from '@kite/segment';

/**
 * Bounds the sealed-segment loads a query node runs at once: at most `concurrency` loads, and at most `maxBytes`
 * estimated bytes (objects read from the object store, decoded and deserialized) in flight. Loads start in the order
 * they were asked for; one load larger than the whole budget still runs, alone, so no segment is refused for its
 * size. A weighted semaphore with a count cap: p-limit (already in the tree through other packages) caps the count
 * but has no weights.
 */
export class LoadLimiter {
  private active = 0;
  private inflight = 0;
  private readonly queue: { bytes: number; start: () => void }[] = [];

  constructor(
    readonly concurrency: number,
    readonly maxBytes: number,
  ) {}

  /** Loads running now and their estimated bytes (for metrics and tests). */
  get running(): { loads: number; bytes: number; queued: number } {
    return { loads: this.active, bytes: this.inflight, queued: this.queue.length };
  }

  /** Runs `fn` once a slot and `bytes` of the budget are free; the slot and bytes are returned when it settles. */
  async run<T>(bytes: number, fn: () => Promise<T>): Promise<T> {
    const b = Math.max(0, bytes);
    await new Promise<void>((start) => {
      this.queue.push({ bytes: b, start });
      this.pump();
    });
    try {
      return await fn();
    } finally {
      this.active--;
      this.inflight -= b;
      this.pump();
    }
  }

  /** Starts waiting loads from the head of the queue while they fit (FIFO: a large load is not overtaken forever). */
  private pump(): void {
    while (this.queue.length > 0 && this.active < this.concurrency) {
      const head = this.queue[0]!;
      if (this.active > 0 && this.inflight + head.bytes > this.maxBytes) return;
      this.queue.shift();
      this.active++;
      this.inflight += head.bytes;
      head.start();
    }
  }
}

/** Bytes per value of fixed-width scalar types in a segment's data file (VarChar, JSON and Array are estimated). */
const SCALAR_BYTES: Partial<Record<DataTypeName, number>> = { Bool: 1, Int8: 1, Int16: 2, Int32: 4, Int64: 8, Float: 4, Double: 8 };
/** Assumed bytes of a variable-length value (VarChar, JSON, Array, a sparse row) when nothing better is known. */
const VARIABLE_BYTES = 64;

/**
 * Estimated bytes a segment's load holds at its peak: its data file (rows x row width from the schema, plus the
 * primary key and timestamp) and the index files its record lists (exact sizes). An estimate for the load budget,
 * not an accounting of the heap.
 */
export function segmentLoadBytes(meta: SegmentMeta, coll: CollectionMeta): number {
  let row = 16; // row id / timestamp columns
  for (const f of coll.fields) {
    const dim = Number(f.typeParams.dim ?? 0);
    switch (f.dataType) {
      case 'FloatVector': row += dim * 4; break;
      case 'Float16Vector':
      case 'BFloat16Vector': row += dim * 2; break;
      case 'Int8Vector': row += dim; break;
      case 'BinaryVector': row += Math.ceil(dim / 8); break;
      default: row += SCALAR_BYTES[f.dataType] ?? VARIABLE_BYTES;
    }
  }
  const indexBytes = meta.indexes.reduce((s, x) => s + (x.key ? x.bytes : 0), 0);
  return meta.numRows * row + indexBytes;
}
