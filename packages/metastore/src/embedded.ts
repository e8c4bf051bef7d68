/**
 * EmbeddedMetaStore: the standalone MetaStore. The whole key space lives in memory; every mutation is appended to a
 * log under `dir` and fsync'd before the call resolves, with concurrent mutations sharing one fsync (group commit).
 * Once the log grows past `snapshotLogBytes`, the state is written to a snapshot and older log files are dropped.
 *
 * Files in `dir`:
 *   LOCK                  pid of the process that has the store open
 *   log-<seq>.log         CRC-framed JSON records `{r: revision, e: [["p", key, value, lease?] | ["d", key]]}`
 *   snap-<seq>.snap       one CRC-framed JSON snapshot `{revision, kvs: [[key, value, create, mod, version, lease?]]}`
 * A snapshot with sequence s covers every record in logs with sequence < s; recovery loads the newest snapshot and
 * replays logs with sequence >= s, skipping records at or below the snapshot's revision. A torn tail in the newest
 * log (a crash mid-write) is truncated away; it was never acknowledged.
 *
 * Visibility: callers never observe a change before it is durable. Reads take their answer at once but resolve
 * only after the log is fsync'd up to the revision they read; watchers get events only up to the durable revision.
 *
 * Leases: a lease kept alive (the default) lives until revoked or the store closes, since the holder is this
 * process. A lease granted with `keepAlive: false` expires after its TTL. Leases do not survive a restart: keys
 * bound to a lease are deleted on open, in one logged revision, as etcd would once their TTL passed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsyncDir, KiteError, lockDir, silentLogger, writeAll, writeFileAtomic, type Logger } from '@kite/common';
import { encodeFrame, scanFrames } from './files';
import type {
  Compare,
  KeyValue,
  Lease,
  LeaseOptions,
  MetaStore,
  RangeResult,
  TxnOp,
  TxnResult,
  WatchEvent,
  WatchHandlers,
  Watcher,
} from './types';

export interface EmbeddedMetaStoreOptions {
  /** Log size after which a snapshot is written and older logs dropped. Larger: fewer snapshots, slower open. */
  snapshotLogBytes?: number;
  /**
   * Revisions of history kept in memory for watchers that resume from an older revision. A watcher asking for a
   * revision before the kept history gets `onResync` (a full re-list) instead of events.
   */
  historyRevisions?: number;
  /** Approximate bytes (keys and values) of history kept in memory; the older of the two bounds wins. */
  historyBytes?: number;
  /** Shortest lease TTL accepted, in seconds. etcd's practical minimum is about 2; embedded allows shorter. */
  minLeaseTtlSeconds?: number;
  logger?: Logger;
}

export const DEFAULT_SNAPSHOT_LOG_BYTES = 16 * 1024 * 1024;
export const DEFAULT_HISTORY_REVISIONS = 10_000;
export const DEFAULT_HISTORY_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MIN_LEASE_TTL_SECONDS = 1;

export interface EmbeddedMetaStoreStats {
  revision: number;
  durableRevision: number;
  keys: number;
  leases: number;
  watchers: number;
  /** Revisions kept for watchers: oldest replayable revision. */
  historyFrom: number;
  /** fsyncs of the log since open (a group commit makes one for many mutations). */
  logSyncs: number;
  /** Log records written since open. */
  logRecords: number;
  snapshots: number;
}

type LogEntry = ['p', string, string] | ['p', string, string, string] | ['d', string];
interface LogRecord {
  r: number;
  e: LogEntry[];
}
type SnapshotKv = [string, string, number, number, number] | [string, string, number, number, number, string];
interface SnapshotFile {
  revision: number;
  kvs: SnapshotKv[];
}

interface HistoryEntry {
  revision: number;
  events: WatchEvent[];
  bytes: number;
}

interface WatchState {
  prefix: string;
  /** Next revision to deliver. */
  next: number;
  /** False until the first delivery (replay or resync) may start; events wait meanwhile. */
  ready: boolean;
  closed: boolean;
  handlers: WatchHandlers;
}

interface LeaseState {
  id: string;
  ttlSeconds: number;
  keys: Set<string>;
  timer?: NodeJS.Timeout;
  alive: boolean;
  lostReason?: string;
  listeners: Array<(reason: string) => void>;
}

interface PendingWrite {
  frame: Buffer;
  revision: number;
}

interface DurableWaiter {
  revision: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

const LOG_RE = /^log-(\d+)\.log$/;
const SNAP_RE = /^snap-(\d+)\.snap$/;
const seqName = (prefix: string, seq: number, ext: string): string => `${prefix}-${String(seq).padStart(10, '0')}.${ext}`;

function keyOf(e: WatchEvent): string {
  return e.type === 'put' ? e.kv.key : e.key;
}

/** Smallest index i with keys[i] >= key. */
function lowerBound(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((keys[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function compareHolds(kv: KeyValue | undefined, c: Compare): boolean {
  if (c.target === 'value') {
    if (kv === undefined) return false; // etcd: a value compare on a missing key always fails
    return c.op === '==' ? kv.value === c.value : kv.value !== c.value;
  }
  const actual = kv === undefined ? 0 : kv[c.target];
  switch (c.op) {
    case '==':
      return actual === c.value;
    case '!=':
      return actual !== c.value;
    case '<':
      return actual < c.value;
    case '>':
      return actual > c.value;
  }
}

export class EmbeddedMetaStore implements MetaStore {
  private readonly kvs = new Map<string, KeyValue>();
  /** Every key in `kvs`, sorted, for prefix ranges. */
  private sortedKeys: string[] = [];
  /** While replaying the log on open, sortedKeys is rebuilt once at the end instead of per change. */
  private replaying = false;
  private revision = 0;
  private durableRevision = 0;

  /** history[i] holds the events of revision historyBase + i. */
  private history: HistoryEntry[] = [];
  private historyBase = 1;
  private historySize = 0;

  private readonly leases = new Map<string, LeaseState>();
  private leaseCounter = 0;
  private readonly watchers = new Set<WatchState>();

  private pending: PendingWrite[] = [];
  private waiters: DurableWaiter[] = [];
  private flushing: Promise<void> | undefined;
  private snapshotting: Promise<void> | undefined;
  private failure: Error | undefined;
  private closed = false;

  private logSyncs = 0;
  private logRecords = 0;
  private snapshots = 0;

  private constructor(
    private readonly dir: string,
    private logFh: fs.promises.FileHandle,
    private logSeq: number,
    private logBytes: number,
    private readonly unlock: () => Promise<void>,
    private readonly opts: Required<Omit<EmbeddedMetaStoreOptions, 'logger'>>,
    private readonly log: Logger,
  ) {}

  static async open(dir: string, options: EmbeddedMetaStoreOptions = {}): Promise<EmbeddedMetaStore> {
    const opts = {
      snapshotLogBytes: options.snapshotLogBytes ?? DEFAULT_SNAPSHOT_LOG_BYTES,
      historyRevisions: options.historyRevisions ?? DEFAULT_HISTORY_REVISIONS,
      historyBytes: options.historyBytes ?? DEFAULT_HISTORY_BYTES,
      minLeaseTtlSeconds: options.minLeaseTtlSeconds ?? DEFAULT_MIN_LEASE_TTL_SECONDS,
    };
    if (!(opts.historyRevisions >= 1)) throw new KiteError('ParameterInvalid', 'historyRevisions must be at least 1');
    const log = (options.logger ?? silentLogger).child({ component: 'embedded-metastore', dir });
    await fs.promises.mkdir(dir, { recursive: true });
    const unlock = await lockDir(dir, 'meta store');
    try {
      return await EmbeddedMetaStore.recover(dir, unlock, opts, log);
    } catch (e) {
      await unlock();
      throw e;
    }
  }

  private static async recover(
    dir: string,
    unlock: () => Promise<void>,
    opts: Required<Omit<EmbeddedMetaStoreOptions, 'logger'>>,
    log: Logger,
  ): Promise<EmbeddedMetaStore> {
    const names = await fs.promises.readdir(dir);
    const logs: number[] = [];
    const snaps: number[] = [];
    for (const name of names) {
      const l = LOG_RE.exec(name);
      const s = SNAP_RE.exec(name);
      if (l) logs.push(Number(l[1]));
      else if (s) snaps.push(Number(s[1]));
      else if (name.includes('.tmp-')) await fs.promises.rm(path.join(dir, name), { force: true });
    }
    logs.sort((a, b) => a - b);
    snaps.sort((a, b) => b - a);

    // The log handle is opened once replay is done (the newest log may need its torn tail cut first).
    const snapSeq = snaps[0] ?? 0;
    const replayLogs = logs.filter((s) => s >= snapSeq);
    const lastSeq = Math.max(snapSeq, logs[logs.length - 1] ?? 0, 1);
    const lastPath = path.join(dir, seqName('log', lastSeq, 'log'));
    const store = new EmbeddedMetaStore(dir, undefined as never, lastSeq, 0, unlock, opts, log);
    store.replaying = true;

    if (snaps.length > 0) {
      const file = path.join(dir, seqName('snap', snapSeq, 'snap'));
      const scanned = scanFrames(await fs.promises.readFile(file));
      const payload = scanned.payloads[0];
      if (scanned.tornReason !== undefined || payload === undefined) {
        throw new KiteError('IoFailed', `meta store snapshot ${file} is corrupt (${scanned.tornReason ?? 'empty'})`, {
          retriable: false,
        });
      }
      store.loadSnapshot(JSON.parse(payload.toString('utf8')) as SnapshotFile);
    }
    store.historyBase = store.revision + 1;

    for (const [i, seq] of replayLogs.entries()) {
      const file = path.join(dir, seqName('log', seq, 'log'));
      const buf = await fs.promises.readFile(file);
      const scanned = scanFrames(buf);
      if (scanned.tornReason !== undefined) {
        if (i !== replayLogs.length - 1) {
          throw new KiteError('IoFailed', `meta store log ${file} is corrupt before its end: ${scanned.tornReason}`, {
            retriable: false,
          });
        }
        log.warn({ file, reason: scanned.tornReason, dropped: buf.length - scanned.validBytes }, 'truncating torn log tail');
        await fs.promises.truncate(file, scanned.validBytes);
      }
      for (const payload of scanned.payloads) {
        const rec = JSON.parse(payload.toString('utf8')) as LogRecord;
        if (rec.r <= store.revision) continue;
        if (rec.r !== store.revision + 1) {
          throw new KiteError('IoFailed', `meta store log ${file} jumps from revision ${store.revision} to ${rec.r}`, {
            retriable: false,
          });
        }
        store.replayRecord(rec);
      }
    }
    store.durableRevision = store.revision;
    store.replaying = false;
    store.sortedKeys = [...store.kvs.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    store.trimHistory();

    // Logs older than the snapshot are left over from an interrupted cleanup.
    for (const seq of logs.filter((s) => s < snapSeq)) await fs.promises.rm(path.join(dir, seqName('log', seq, 'log')));
    for (const seq of snaps.slice(1)) await fs.promises.rm(path.join(dir, seqName('snap', seq, 'snap')));

    store.logFh = await fs.promises.open(lastPath, 'a');
    store.logBytes = (await store.logFh.stat()).size;
    await fsyncDir(dir);

    // Leases died with the previous process: delete the keys bound to them in one revision.
    const leased = store.sortedKeys.filter((k) => store.kvs.get(k)?.lease !== undefined);
    if (leased.length > 0) {
      log.info({ keys: leased.length }, 'deleting keys bound to leases of the previous run');
      const rev = store.mutate((r) => leased.map((k) => store.applyDelete(k, r)).filter((e) => e !== undefined));
      await store.waitDurable(rev);
    }
    return store;
  }

  // ---- reads ----

  async get(key: string): Promise<KeyValue | undefined> {
    this.checkOpen();
    const kv = this.kvs.get(key);
    await this.waitDurable(this.revision);
    return kv;
  }

  async getPrefix(prefix: string): Promise<RangeResult> {
    this.checkOpen();
    const result = this.range(prefix);
    await this.waitDurable(result.revision);
    return result;
  }

  // ---- writes ----

  async put(key: string, value: string, options?: { lease?: string }): Promise<number> {
    this.checkOpen();
    checkKey(key);
    if (typeof value !== 'string') throw new KiteError('ParameterInvalid', `value of ${key} must be a string`);
    const lease = options?.lease;
    if (lease !== undefined) this.liveLease(lease);
    const rev = this.mutate((r) => [this.applyPut(key, value, lease, r)]);
    await this.waitDurable(rev);
    return rev;
  }

  async delete(key: string): Promise<boolean> {
    this.checkOpen();
    const existed = this.kvs.has(key);
    const rev = this.mutate((r) => {
      const e = this.applyDelete(key, r);
      return e === undefined ? [] : [e];
    });
    await this.waitDurable(rev);
    return existed;
  }

  async deletePrefix(prefix: string): Promise<number> {
    this.checkOpen();
    const keys = this.keysWithPrefix(prefix);
    const rev = this.mutate((r) => keys.map((k) => this.applyDelete(k, r)).filter((e) => e !== undefined));
    await this.waitDurable(rev);
    return keys.length;
  }

  async txn(compares: Compare[], success: TxnOp[], failure: TxnOp[] = []): Promise<TxnResult> {
    this.checkOpen();
    validateOps(success, 'success');
    validateOps(failure, 'failure');
    const succeeded = compares.every((c) => compareHolds(this.kvs.get(c.key), c));
    const ops = succeeded ? success : failure;
    for (const op of ops) if (op.type === 'put' && op.lease !== undefined) this.liveLease(op.lease);
    const rev = this.mutate((r) => {
      const events: WatchEvent[] = [];
      for (const op of ops) {
        if (op.type === 'put') events.push(this.applyPut(op.key, op.value, op.lease, r));
        else if (op.type === 'delete') {
          const e = this.applyDelete(op.key, r);
          if (e) events.push(e);
        } else {
          for (const k of this.keysWithPrefix(op.prefix)) {
            const e = this.applyDelete(k, r);
            if (e) events.push(e);
          }
        }
      }
      return events;
    });
    await this.waitDurable(rev);
    return { succeeded, revision: rev };
  }

  // ---- watch ----

  async watchPrefix(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watcher> {
    this.checkOpen();
    const w: WatchState = {
      prefix,
      next: fromRevision <= 0 ? this.revision + 1 : fromRevision,
      ready: false,
      closed: false,
      handlers,
    };
    this.watchers.add(w);
    // The starting point (replay, or a resync listing taken now) is fixed at the call; delivery starts after the
    // caller has its Watcher in hand.
    if (w.next < this.historyBase) this.resync(w);
    else {
      setImmediate(() => {
        w.ready = true;
        this.pump(w);
      });
    }
    return {
      close: async () => {
        w.closed = true;
        this.watchers.delete(w);
      },
    };
  }

  async compact(revision: number): Promise<void> {
    this.checkOpen();
    if (!Number.isInteger(revision) || revision > this.revision) {
      throw new KiteError(
        'ParameterInvalid',
        `compact revision ${revision} must be an integer no newer than the current revision ${this.revision}`,
      );
    }
    await this.waitDurable(revision);
    this.dropHistory(revision - this.historyBase + 1);
  }

  // ---- leases ----

  async grantLease(ttlSeconds: number, options: LeaseOptions = {}): Promise<Lease> {
    this.checkOpen();
    if (!Number.isFinite(ttlSeconds) || ttlSeconds < this.opts.minLeaseTtlSeconds) {
      throw new KiteError('ParameterInvalid', `lease ttlSeconds must be at least ${this.opts.minLeaseTtlSeconds}, got ${ttlSeconds}`);
    }
    const id = `${Date.now().toString(16)}${(this.leaseCounter++).toString(16).padStart(4, '0')}`;
    const state: LeaseState = { id, ttlSeconds, keys: new Set(), alive: true, listeners: [] };
    if (options.keepAlive === false) {
      state.timer = setTimeout(() => this.loseLease(state, `lease ${id} expired after its ${ttlSeconds}s TTL`), ttlSeconds * 1000);
      state.timer.unref();
    }
    this.leases.set(id, state);
    return new EmbeddedLease(this, state);
  }

  /** @internal */
  leaseAlive(state: LeaseState): boolean {
    return state.alive && !this.closed;
  }

  /** @internal Revokes on the holder's request: keys go, onLost does not fire. */
  async revokeLease(state: LeaseState): Promise<void> {
    this.checkOpen();
    if (!state.alive) return;
    const rev = this.endLease(state);
    await this.waitDurable(rev);
  }

  private loseLease(state: LeaseState, reason: string): void {
    if (!state.alive || this.closed || this.failure) return;
    const rev = this.endLease(state);
    state.lostReason = reason;
    this.log.info({ lease: state.id, reason }, 'lease lost');
    this.waitDurable(rev).then(
      () => fireLost(state, reason),
      () => fireLost(state, reason),
    );
  }

  private endLease(state: LeaseState): number {
    state.alive = false;
    if (state.timer) clearTimeout(state.timer);
    this.leases.delete(state.id);
    const keys = [...state.keys];
    return this.mutate((r) => keys.map((k) => this.applyDelete(k, r)).filter((e) => e !== undefined));
  }

  private liveLease(id: string): LeaseState {
    const state = this.leases.get(id);
    if (!state || !state.alive) {
      throw new KiteError('MetaFailed', `lease ${id} not found (expired or revoked): grant a new lease`, { retriable: false });
    }
    return state;
  }

  // ---- lifecycle ----

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.leases.values()) {
      if (l.timer) clearTimeout(l.timer);
      l.alive = false;
    }
    this.leases.clear();
    await this.flushing;
    await this.snapshotting;
    await this.logFh.close();
    await this.unlock();
    const err = new KiteError('ServiceNotReady', 'meta store closed');
    for (const w of this.watchers) {
      w.closed = true;
      try {
        w.handlers.onError?.(err);
      } catch (e) {
        this.log.warn({ err: String(e) }, 'watch onError handler threw');
      }
    }
    this.watchers.clear();
    for (const waiter of this.waiters) waiter.reject(err);
    this.waiters = [];
  }

  stats(): EmbeddedMetaStoreStats {
    return {
      revision: this.revision,
      durableRevision: this.durableRevision,
      keys: this.kvs.size,
      leases: this.leases.size,
      watchers: this.watchers.size,
      historyFrom: this.historyBase,
      logSyncs: this.logSyncs,
      logRecords: this.logRecords,
      snapshots: this.snapshots,
    };
  }

  // ---- state machine ----

  private checkOpen(): void {
    if (this.closed) throw new KiteError('ServiceNotReady', 'meta store is closed');
    if (this.failure) {
      throw new KiteError('IoFailed', `meta store log write failed earlier (${this.failure.message}): reopen the store`, {
        cause: this.failure,
        retriable: false,
      });
    }
  }

  /**
   * Applies one revision's changes in memory and queues its log record. `apply` gets the new revision and returns the
   * events; with none, nothing changes and the current revision is returned.
   */
  private mutate(apply: (revision: number) => WatchEvent[]): number {
    const rev = this.revision + 1;
    const events = apply(rev);
    if (events.length === 0) return this.revision;
    this.revision = rev;
    this.pushHistory(rev, events);
    const entries: LogEntry[] = events.map((e) => {
      if (e.type === 'delete') return ['d', e.key];
      return e.kv.lease === undefined ? ['p', e.kv.key, e.kv.value] : ['p', e.kv.key, e.kv.value, e.kv.lease];
    });
    this.pending.push({ frame: encodeFrame(Buffer.from(JSON.stringify({ r: rev, e: entries }))), revision: rev });
    if (!this.flushing) this.flushing = this.flushLoop();
    return rev;
  }

  private applyPut(key: string, value: string, lease: string | undefined, rev: number): WatchEvent {
    const prev = this.kvs.get(key);
    const kv: KeyValue = Object.freeze({
      key,
      value,
      modRevision: rev,
      createRevision: prev ? prev.createRevision : rev,
      version: prev ? prev.version + 1 : 1,
      ...(lease === undefined ? {} : { lease }),
    });
    if (!prev) {
      if (!this.replaying) this.sortedKeys.splice(lowerBound(this.sortedKeys, key), 0, key);
    } else if (prev.lease !== undefined && prev.lease !== lease) this.leases.get(prev.lease)?.keys.delete(key);
    if (lease !== undefined) this.leases.get(lease)?.keys.add(key);
    this.kvs.set(key, kv);
    return prev ? { type: 'put', kv, prevValue: prev.value } : { type: 'put', kv };
  }

  private applyDelete(key: string, rev: number): WatchEvent | undefined {
    const prev = this.kvs.get(key);
    if (!prev) return undefined;
    this.kvs.delete(key);
    if (!this.replaying) this.sortedKeys.splice(lowerBound(this.sortedKeys, key), 1);
    if (prev.lease !== undefined) this.leases.get(prev.lease)?.keys.delete(key);
    return { type: 'delete', key, modRevision: rev, prevValue: prev.value };
  }

  private keysWithPrefix(prefix: string): string[] {
    const out: string[] = [];
    for (let i = lowerBound(this.sortedKeys, prefix); i < this.sortedKeys.length; i++) {
      const k = this.sortedKeys[i] as string;
      if (!k.startsWith(prefix)) break;
      out.push(k);
    }
    return out;
  }

  private range(prefix: string): RangeResult {
    return { kvs: this.keysWithPrefix(prefix).map((k) => this.kvs.get(k) as KeyValue), revision: this.revision };
  }

  private loadSnapshot(snap: SnapshotFile): void {
    for (const [key, value, createRevision, modRevision, version, lease] of snap.kvs) {
      const kv: KeyValue = Object.freeze({
        key,
        value,
        createRevision,
        modRevision,
        version,
        ...(lease === undefined ? {} : { lease }),
      });
      this.kvs.set(key, kv);
    }
    this.revision = snap.revision;
  }

  private replayRecord(rec: LogRecord): void {
    const rev = rec.r;
    const events: WatchEvent[] = [];
    for (const e of rec.e) {
      if (e[0] === 'p') events.push(this.applyPut(e[1], e[2], e[3], rev));
      else {
        const ev = this.applyDelete(e[1], rev);
        if (ev) events.push(ev);
      }
    }
    this.revision = rev;
    this.durableRevision = rev;
    this.pushHistory(rev, events);
    if (this.history.length > 2 * this.opts.historyRevisions) this.trimHistory();
  }

  private serializeSnapshot(): Buffer {
    const kvs: SnapshotKv[] = this.sortedKeys.map((k) => {
      const kv = this.kvs.get(k) as KeyValue;
      return kv.lease === undefined
        ? [kv.key, kv.value, kv.createRevision, kv.modRevision, kv.version]
        : [kv.key, kv.value, kv.createRevision, kv.modRevision, kv.version, kv.lease];
    });
    const snap: SnapshotFile = { revision: this.revision, kvs };
    return encodeFrame(Buffer.from(JSON.stringify(snap)));
  }

  // ---- durability ----

  /** Resolves once the log is durable up to `revision`. */
  private waitDurable(revision: number): Promise<void> {
    if (revision <= this.durableRevision) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ revision, resolve, reject }));
  }

  private async flushLoop(): Promise<void> {
    try {
      // Let writers woken in this same turn of the event loop (e.g. by the previous fsync) join this write.
      await new Promise((resolve) => setImmediate(resolve));
      while (this.pending.length > 0) {
        const batch = this.pending;
        this.pending = [];
        const buf = batch.length === 1 ? (batch[0] as PendingWrite).frame : Buffer.concat(batch.map((b) => b.frame));
        await writeAll(this.logFh, buf);
        await this.logFh.datasync();
        this.logSyncs++;
        this.logRecords += batch.length;
        this.logBytes += buf.length;
        this.markDurable((batch[batch.length - 1] as PendingWrite).revision);
        if (this.logBytes >= this.opts.snapshotLogBytes && !this.snapshotting && !this.closed) {
          await this.rotateAndSnapshot();
        }
      }
    } catch (e) {
      this.fail(e as Error);
    } finally {
      this.flushing = undefined;
    }
  }

  private fail(err: Error): void {
    this.log.error({ err: err.message }, 'meta store log write failed; the store refuses further requests');
    this.failure = err;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(new KiteError('IoFailed', `meta store log write failed: ${err.message}`, { cause: err }));
    for (const w of this.watchers) {
      w.closed = true;
      try {
        w.handlers.onError?.(err);
      } catch {
        // a throwing handler must not hide the failure
      }
    }
    this.watchers.clear();
  }

  private markDurable(revision: number): void {
    this.durableRevision = revision;
    let n = 0;
    while (n < this.waiters.length && (this.waiters[n] as DurableWaiter).revision <= revision) n++;
    const done = this.waiters.splice(0, n);
    for (const w of done) w.resolve();
    for (const w of this.watchers) this.pump(w);
    this.trimHistory();
  }

  /** Starts a new log file and writes a snapshot in the background; older files go once the snapshot is durable. */
  private async rotateAndSnapshot(): Promise<void> {
    const seq = this.logSeq + 1;
    const fh = await fs.promises.open(path.join(this.dir, seqName('log', seq, 'log')), 'a');
    await fsyncDir(this.dir);
    const old = this.logFh;
    this.logFh = fh;
    this.logSeq = seq;
    this.logBytes = 0;
    await old.close();
    // The snapshot may include mutations still queued for the new log; replay skips them by revision.
    const data = this.serializeSnapshot();
    this.snapshotting = (async () => {
      await writeFileAtomic(path.join(this.dir, seqName('snap', seq, 'snap')), data);
      this.snapshots++;
      for (const name of await fs.promises.readdir(this.dir)) {
        const l = LOG_RE.exec(name) ?? SNAP_RE.exec(name);
        if (l && Number(l[1]) < seq) await fs.promises.rm(path.join(this.dir, name), { force: true });
      }
      await fsyncDir(this.dir);
    })()
      .catch((e: Error) => this.log.warn({ err: e.message }, 'meta store snapshot failed; the log keeps growing'))
      .finally(() => {
        this.snapshotting = undefined;
      });
  }

  // ---- watch delivery ----

  private pump(w: WatchState): void {
    while (!w.closed && w.ready && w.next <= this.durableRevision) {
      if (w.next < this.historyBase) {
        this.resync(w);
        return;
      }
      const entry = this.history[w.next - this.historyBase] as HistoryEntry;
      w.next++;
      const events = w.prefix === '' ? entry.events : entry.events.filter((e) => keyOf(e).startsWith(w.prefix));
      if (events.length === 0) continue;
      try {
        w.handlers.onEvents(events);
      } catch (e) {
        this.log.warn({ err: String(e), prefix: w.prefix }, 'watch onEvents handler threw');
      }
    }
  }

  private resync(w: WatchState): void {
    const snapshot = this.range(w.prefix);
    w.ready = false;
    w.next = snapshot.revision + 1;
    const deliver = (): void => {
      if (w.closed) return;
      try {
        w.handlers.onResync(snapshot);
      } catch (e) {
        this.log.warn({ err: String(e), prefix: w.prefix }, 'watch onResync handler threw');
      }
      w.ready = true;
      this.pump(w);
    };
    this.waitDurable(snapshot.revision).then(
      () => setImmediate(deliver),
      () => undefined, // close() and fail() report to onError
    );
  }

  private pushHistory(revision: number, events: WatchEvent[]): void {
    let bytes = 64;
    for (const e of events) {
      bytes += 2 * (keyOf(e).length + (e.type === 'put' ? e.kv.value.length : 0) + (e.prevValue?.length ?? 0)) + 64;
    }
    this.history.push({ revision, events, bytes });
    this.historySize += bytes;
  }

  /** Drops history beyond the configured bounds; only durable revisions, which every ready watcher has seen. */
  private trimHistory(): void {
    const durable = this.durableRevision - this.historyBase + 1;
    let drop = Math.max(0, this.history.length - this.opts.historyRevisions);
    let size = this.historySize;
    for (let i = 0; i < drop; i++) size -= (this.history[i] as HistoryEntry).bytes;
    while (size > this.opts.historyBytes && drop < this.history.length) size -= (this.history[drop++] as HistoryEntry).bytes;
    this.dropHistory(Math.min(drop, durable));
  }

  private dropHistory(n: number): void {
    if (n <= 0) return;
    for (const e of this.history.splice(0, n)) this.historySize -= e.bytes;
    this.historyBase += n;
  }
}

function fireLost(state: LeaseState, reason: string): void {
  const listeners = state.listeners;
  state.listeners = [];
  for (const l of listeners) {
    try {
      l(reason);
    } catch {
      // one listener's failure must not keep the others from hearing of the loss
    }
  }
}

class EmbeddedLease implements Lease {
  constructor(
    private readonly store: EmbeddedMetaStore,
    private readonly state: LeaseState,
  ) {}

  get id(): string {
    return this.state.id;
  }

  get ttlSeconds(): number {
    return this.state.ttlSeconds;
  }

  onLost(listener: (reason: string) => void): void {
    const reason = this.state.lostReason;
    if (reason !== undefined) setImmediate(() => listener(reason));
    else this.state.listeners.push(listener);
  }

  async isAlive(): Promise<boolean> {
    return this.store.leaseAlive(this.state);
  }

  revoke(): Promise<void> {
    return this.store.revokeLease(this.state);
  }
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) {
    throw new KiteError('ParameterInvalid', 'meta store key must be a non-empty string');
  }
}

/** etcd refuses a transaction branch that changes one key twice; so does this store, to behave the same. */
function validateOps(ops: TxnOp[], branch: string): void {
  const puts = new Set<string>();
  const deletes: string[] = [];
  const prefixes: string[] = [];
  for (const op of ops) {
    if (op.type === 'put') {
      checkKey(op.key);
      if (puts.has(op.key)) throw new KiteError('ParameterInvalid', `txn ${branch} puts key ${op.key} twice`);
      puts.add(op.key);
    } else if (op.type === 'delete') deletes.push(op.key);
    else prefixes.push(op.prefix);
  }
  for (const k of puts) {
    if (deletes.includes(k) || prefixes.some((p) => k.startsWith(p))) {
      throw new KiteError('ParameterInvalid', `txn ${branch} both puts and deletes key ${k}`);
    }
  }
}
