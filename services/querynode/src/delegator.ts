import { KiteError, type Logger } from '@kite/common';
import { parseChannel, type Subscription, type Wal, type WalRecord } from '@kite/wal';
import { decodeWalMsg, pkAt, PK, TS, type Column, type CollectionMeta, type ColumnBatch } from '@kite/segment';
import type { SealedPlacement } from '@kite/rpc';
import { DeleteSet } from './exec';
import { GrowingRows } from './segments';

/**
 * A shard delegator: it replays its channel from `fromOffset`, holds the growing rows and the deletes, and answers
 * a search for the whole channel by searching growing rows itself and fanning out to the nodes that hold the
 * channel's sealed segments (SyncDistribution tells it where). It is serviceable once it has caught up with the
 * channel's end as of its start *and* has been told where the sealed segments are: before its first
 * SyncDistribution it knows only the rows from `fromOffset` on, and answering then would silently miss every
 * sealed row.
 */
export class Delegator {
  readonly growing: GrowingRows;
  /**
   * The deletes the growing rows are checked against: those at or after the watermark. A delete applies only to rows
   * older than itself, and rows below the watermark are masked out of the growing view (sealed segments serve
   * them), so a delete below the watermark can no longer hide a growing row that is seen; sync() drops them. Without
   * that the set held every delete the channel ever carried, and grew without bound under a steady delete load.
   */
  deletes = new DeleteSet();
  /** Deletes at or after the watermark, which the sealed segments' delta logs do not hold yet, with their offsets. */
  private recentDeletes: { pk: bigint | string; ts: bigint; offset: number }[] = [];
  consumed: number;
  /** The WAL has been replayed up to the channel's end as of start(). */
  caughtUp = false;
  /** A SyncDistribution has arrived (the sealed segments' places are known). */
  distributed = false;
  watermark: number;
  sealed: SealedPlacement[] = [];
  private sub: Subscription | undefined;
  private waiters: { offset: number; resolve: () => void }[] = [];
  private catchUpTarget = 0;

  constructor(
    public coll: CollectionMeta,
    readonly channel: string,
    readonly replicaID: number,
    fromOffset: number,
    private readonly wal: Wal,
    private readonly log: Logger,
  ) {
    this.growing = new GrowingRows(coll);
    this.consumed = fromOffset;
    this.watermark = fromOffset;
    this.growing.setWatermark(fromOffset);
  }

  async start(): Promise<void> {
    const ref = parseChannel(this.channel);
    this.catchUpTarget = await this.wal.endOffset(ref);
    if (this.consumed >= this.catchUpTarget) this.caughtUp = true;
    this.sub = this.wal.subscribe(ref, this.consumed, (recs) => this.consume(recs), {
      maxBatch: 256,
      onError: (e) => this.log.warn({ channel: this.channel, err: e.message }, 'delegator read failed; retrying'),
    });
  }

  private async consume(recs: WalRecord[]): Promise<void> {
    for (const r of recs) {
      const m = decodeWalMsg(r.value);
      if (m.collectionID === this.coll.collectionID) {
        if (m.type === 'insert') this.growing.append(m.batch, r.offset);
        else if (m.type === 'delete') this.addDeletes(m.batch, r.offset);
      }
      this.consumed = r.offset + 1;
    }
    if (!this.caughtUp && this.consumed >= this.catchUpTarget) {
      this.caughtUp = true;
      this.log.info({ channel: this.channel, replica: this.replicaID, offset: this.consumed }, 'delegator caught up');
    }
    if (this.waiters.length) {
      const ready = this.waiters.filter((w) => w.offset <= this.consumed);
      this.waiters = this.waiters.filter((w) => w.offset > this.consumed);
      for (const w of ready) w.resolve();
    }
  }

  private addDeletes(b: ColumnBatch, offset: number): void {
    this.deletes.addBatch(b);
    const pks = b.columns.get(PK)!;
    const ts = b.columns.get(TS) as Extract<Column, { kind: 'int64' }>;
    for (let i = 0; i < b.numRows; i++) {
      this.recentDeletes.push({ pk: pkAt(pks, i), ts: ts.data[i]!, offset });
    }
  }

  /** Resolves when everything before `offset` is consumed, or fails when the deadline passes first. */
  waitConsumed(offset: number, timeoutMs: number): Promise<void> {
    if (offset <= this.consumed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { offset, resolve: () => (clearTimeout(t), resolve()) };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new KiteError('DeadlineExceeded', `channel ${this.channel} consumed up to ${this.consumed}, request needs ${offset}: timed out waiting for the WAL`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  get serviceable(): boolean {
    return this.caughtUp && this.distributed;
  }

  sync(sealed: SealedPlacement[], watermark: number): void {
    this.sealed = sealed;
    this.distributed = true;
    if (watermark > this.watermark) {
      this.watermark = watermark;
      this.growing.setWatermark(watermark);
      this.recentDeletes = this.recentDeletes.filter((d) => d.offset >= watermark);
      // A new set rather than removals: a search already running keeps the set it started with.
      const kept = new DeleteSet();
      for (const d of this.recentDeletes) kept.add(d.pk, d.ts);
      this.deletes = kept;
      void this.growing.compact().catch((e: unknown) => this.log.warn({ err: String(e) }, 'growing compaction failed'));
    }
  }

  /** Whether deletes at or after the watermark exist (recentDeleteBatch is not empty). */
  get hasRecentDeletes(): boolean {
    return this.deletes.size > 0;
  }

  /**
   * Deletes the sealed segments' workers must apply on top of their delta logs: those at or after the watermark,
   * which is what `deletes` holds (sync() keeps it so).
   */
  recentDeleteBatch(): ColumnBatch {
    const pkKind = this.coll.fields.find((f) => f.isPrimaryKey)?.dataType === 'VarChar' ? 'string' : 'int64';
    return this.deletes.toBatch(pkKind);
  }

  async stop(): Promise<void> {
    await this.sub?.close();
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
    this.growing.free();
  }
}
