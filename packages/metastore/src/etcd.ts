/**
 * EtcdMetaStore: the cluster MetaStore, over etcd v3 through `etcd3`. Revisions are etcd's revisions.
 *
 * Only etcd3's connection pool and raw RPC clients are used. Watches and lease keep-alives are our own, because of
 * the library's known gaps (docs/architecture.md, "Backends"):
 * - Its watchers resume from the revision in the last response *header*, which can be ahead of the events actually
 *   delivered (catch-up batches, the creation response), so a reconnect can skip events. Here a watch resumes from
 *   the revision after the last event it delivered, and a compacted resume point becomes an `onResync` re-list.
 * - Its leases report `lost` only 2×TTL after the last keep-alive. Here a lease is lost once no keep-alive has
 *   succeeded for one TTL (etcd may have expired it by then), or as soon as etcd answers a keep-alive with TTL 0.
 * - Half-open TCP connections: gRPC keep-alive pings on the channel and deadlines on every unary call.
 * - The library's default per-host circuit breaker would fail every call for 5 s after a brief etcd restart; it is
 *   replaced by a short exponential retry of connection errors.
 */
import { KiteError, silentLogger, type Logger } from '@kite/common';
import { ExponentialBackoff, handleWhen, noop, retry } from 'cockatiel';
import {
  Etcd3,
  EtcdLeaseInvalidError,
  isRecoverableError,
  type ICompare,
  type IDuplexStream,
  type IKeyValue,
  type ILeaseKeepAliveRequest,
  type ILeaseKeepAliveResponse,
  type IRequestOp,
  type IWatchRequest,
  type IWatchResponse,
} from 'etcd3';
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

export interface EtcdMetaStoreOptions {
  /** Client URLs, e.g. `['http://127.0.0.1:2379']`. */
  endpoints: string[];
  /** Deadline of one unary call (get, put, txn...), ms. */
  callTimeoutMs?: number;
  /** Attempts for a call that fails with a connection error (etcd restarting, leader change), with backoff. */
  callAttempts?: number;
  /** gRPC keep-alive ping interval, ms: how soon a half-open connection is noticed. etcd refuses pings < 5 s. */
  grpcKeepaliveMs?: number;
  /** Longest wait between watch reconnect attempts, ms (starts at 100 ms and doubles). */
  watchMaxBackoffMs?: number;
  /**
   * User and password when etcd has auth enabled (etcd3 trades them for a token and sends it on every call).
   * `settings` names the configuration keys they came from, for error messages.
   */
  auth?: { username: string; password: string; settings?: string };
  /**
   * TLS for `https://` endpoints: `ca` (PEM) to trust a private CA (default the system CAs), `cert` and `key` (PEM)
   * for etcd's client-certificate authentication.
   */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  logger?: Logger;
}

/** A get or txn should answer in milliseconds; 10 s leaves room for a leader election without hanging forever. */
export const DEFAULT_ETCD_CALL_TIMEOUT_MS = 10_000;
/** 5 attempts with 100 ms doubling backoff ride over about 1.5 s of etcd being away (a restart). */
export const DEFAULT_ETCD_CALL_ATTEMPTS = 5;
/** Twice etcd's default minimum ping interval (`--grpc-keepalive-min-time` 5 s). */
export const DEFAULT_ETCD_GRPC_KEEPALIVE_MS = 10_000;
export const DEFAULT_ETCD_WATCH_MAX_BACKOFF_MS = 2_000;

const WATCH_MIN_BACKOFF_MS = 100;
/** Retry delay of a failed keep-alive (the loss timer decides when to give up). */
const KEEPALIVE_RETRY_MS = 250;
/** Shortest wait for a keep-alive answer. */
const KEEPALIVE_MIN_TIMEOUT_MS = 1_000;

type KeepAliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;
type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The smallest key greater than every key starting with `prefix` (etcd's range_end for a prefix). */
export function prefixRangeEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix, 'utf8');
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // empty prefix (or all 0xff): every key
}

function toKeyValue(kv: IKeyValue): KeyValue {
  const out: KeyValue = {
    key: kv.key.toString('utf8'),
    value: kv.value.toString('utf8'),
    modRevision: Number(kv.mod_revision),
    createRevision: Number(kv.create_revision),
    version: Number(kv.version),
  };
  if (kv.lease && kv.lease !== '0') out.lease = String(kv.lease);
  return out;
}

const COMPARE_RESULT = { '==': 'Equal', '!=': 'NotEqual', '<': 'Less', '>': 'Greater' } as const;

function toCompare(c: Compare): ICompare {
  const key = Buffer.from(c.key, 'utf8');
  const result = COMPARE_RESULT[c.op];
  switch (c.target) {
    case 'value':
      return { key, result, target: 'Value', value: Buffer.from(c.value, 'utf8') };
    case 'version':
      return { key, result, target: 'Version', version: c.value };
    case 'modRevision':
      return { key, result, target: 'Mod', mod_revision: c.value };
    case 'createRevision':
      return { key, result, target: 'Create', create_revision: c.value };
  }
}

function toRequestOp(op: TxnOp): IRequestOp {
  switch (op.type) {
    case 'put':
      return {
        request_put: {
          key: Buffer.from(op.key, 'utf8'),
          value: Buffer.from(op.value, 'utf8'),
          ...(op.lease !== undefined ? { lease: op.lease } : {}),
        },
      };
    case 'delete':
      return { request_delete_range: { key: Buffer.from(op.key, 'utf8') } };
    case 'deletePrefix':
      return {
        request_delete_range: { key: Buffer.from(op.prefix, 'utf8'), range_end: prefixRangeEnd(op.prefix) },
      };
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class EtcdMetaStore implements MetaStore {
  private readonly client: Etcd3;
  private readonly log: Logger;
  private readonly watchers = new Set<EtcdPrefixWatcher>();
  private readonly leases = new Set<EtcdLease>();
  private closed = false;
  readonly watchMaxBackoffMs: number;
  /** The configuration keys of the etcd user and password (named when etcd refuses them). */
  private authSettings = 'meta.etcdUserName and meta.etcdPassword';

  constructor(options: EtcdMetaStoreOptions) {
    if (options.endpoints.length === 0) {
      throw new KiteError('ParameterInvalid', 'etcd endpoints are empty: give at least one URL like http://127.0.0.1:2379');
    }
    const callTimeoutMs = options.callTimeoutMs ?? DEFAULT_ETCD_CALL_TIMEOUT_MS;
    const keepaliveMs = options.grpcKeepaliveMs ?? DEFAULT_ETCD_GRPC_KEEPALIVE_MS;
    this.watchMaxBackoffMs = options.watchMaxBackoffMs ?? DEFAULT_ETCD_WATCH_MAX_BACKOFF_MS;
    this.log = (options.logger ?? silentLogger).child({ component: 'etcd-metastore' });
    const tls = options.tls;
    if (tls && (tls.ca || tls.cert || tls.key)) {
      const plain = options.endpoints.filter((e) => !e.startsWith('https://'));
      if (plain.length > 0) {
        throw new KiteError('ParameterInvalid', `etcd TLS options are set but endpoint ${plain[0]} is not https://: use https:// endpoints (meta.etcdEndpoints)`);
      }
      if (Boolean(tls.cert) !== Boolean(tls.key)) {
        throw new KiteError('ParameterInvalid', 'etcd client certificate and key must be given together (meta.etcdCertPemPath and meta.etcdKeyPemPath)');
      }
    }
    if (options.auth) {
      this.authSettings = options.auth.settings ?? this.authSettings;
      if (!options.auth.username || !options.auth.password) {
        throw new KiteError('ParameterInvalid', `etcd user and password must be set together: set both of ${this.authSettings}, or neither`);
      }
    }
    this.client = new Etcd3({
      hosts: options.endpoints,
      ...(options.auth ? { auth: { username: options.auth.username, password: options.auth.password } } : {}),
      ...(tls && (tls.ca || tls.cert)
        ? {
            credentials: {
              // Without a CA the system CAs are trusted (what grpc-js does for https:// with no credentials).
              rootCertificate: tls.ca ?? (undefined as unknown as Buffer),
              ...(tls.key ? { privateKey: tls.key } : {}),
              ...(tls.cert ? { certChain: tls.cert } : {}),
            },
          }
        : {}),
      grpcOptions: {
        'grpc.keepalive_time_ms': keepaliveMs,
        'grpc.keepalive_timeout_ms': Math.max(1000, Math.floor(keepaliveMs / 2)),
        'grpc.keepalive_permit_without_calls': 1,
        'grpc.max_receive_message_length': -1,
        'grpc.max_send_message_length': -1,
      },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
      faultHandling: {
        host: () => noop,
        global: retry(handleWhen(isRecoverableError), {
          maxAttempts: (options.callAttempts ?? DEFAULT_ETCD_CALL_ATTEMPTS) - 1,
          backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }),
        }),
      },
    });
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const res = await this.call('get', key, () => this.client.kv.range({ key: Buffer.from(key, 'utf8') }));
    const kv = res.kvs[0];
    return kv ? toKeyValue(kv) : undefined;
  }

  async getPrefix(prefix: string): Promise<RangeResult> {
    const res = await this.call('getPrefix', prefix, () =>
      this.client.kv.range({ key: Buffer.from(prefix, 'utf8'), range_end: prefixRangeEnd(prefix) }),
    );
    return { kvs: res.kvs.map(toKeyValue), revision: Number(res.header.revision) };
  }

  async put(key: string, value: string, options?: { lease?: string }): Promise<number> {
    const res = await this.call('put', key, () =>
      this.client.kv.put({
        key: Buffer.from(key, 'utf8'),
        value: Buffer.from(value, 'utf8'),
        ...(options?.lease !== undefined ? { lease: options.lease } : {}),
      }),
    );
    return Number(res.header.revision);
  }

  async delete(key: string): Promise<boolean> {
    const res = await this.call('delete', key, () => this.client.kv.deleteRange({ key: Buffer.from(key, 'utf8') }));
    return Number(res.deleted) > 0;
  }

  async deletePrefix(prefix: string): Promise<number> {
    const res = await this.call('deletePrefix', prefix, () =>
      this.client.kv.deleteRange({ key: Buffer.from(prefix, 'utf8'), range_end: prefixRangeEnd(prefix) }),
    );
    return Number(res.deleted);
  }

  async txn(compares: Compare[], success: TxnOp[], failure: TxnOp[] = []): Promise<TxnResult> {
    const op = success[0] ?? failure[0];
    const what = compares[0]?.key ?? (op ? (op.type === 'deletePrefix' ? op.prefix : op.key) : '');
    const res = await this.call('txn', what, () =>
      this.client.kv.txn({
        compare: compares.map(toCompare),
        success: success.map(toRequestOp),
        failure: failure.map(toRequestOp),
      }),
    );
    return { succeeded: res.succeeded, revision: Number(res.header.revision) };
  }

  async watchPrefix(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watcher> {
    this.checkOpen();
    const watcher = new EtcdPrefixWatcher(this, this.client, prefix, fromRevision, handlers, this.log);
    this.watchers.add(watcher);
    try {
      await watcher.start();
    } catch (err) {
      this.watchers.delete(watcher);
      throw new KiteError('MetaFailed', `etcd watch on prefix "${prefix}" failed to start: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    return watcher;
  }

  async grantLease(ttlSeconds: number, options: LeaseOptions = {}): Promise<Lease> {
    this.checkOpen();
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) {
      throw new KiteError('ParameterInvalid', `lease ttlSeconds must be a whole number of seconds >= 1, got ${ttlSeconds}`);
    }
    const sentAt = Date.now();
    const res = await this.call('grantLease', '', () => this.client.leaseClient.leaseGrant({ TTL: ttlSeconds }));
    // etcd raises a TTL below its minimum (1.5 × election timeout) and says so in the answer.
    const lease = new EtcdLease(this, this.client, String(res.ID), Number(res.TTL), options.keepAlive !== false, sentAt, this.log);
    this.leases.add(lease);
    return lease;
  }

  async compact(revision: number): Promise<void> {
    try {
      await this.call('compact', String(revision), () => this.client.kv.compact({ revision, physical: true }));
    } catch (err) {
      // Compacting to a revision at or before the last compaction is a no-op, as in the embedded store.
      if (err instanceof KiteError && /has been compacted/.test(err.message)) return;
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.watchers].map((w) => w.close()));
    for (const lease of this.leases) lease.detach();
    this.leases.clear();
    this.client.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** @internal */
  forgetWatcher(w: EtcdPrefixWatcher): void {
    this.watchers.delete(w);
  }

  /** @internal */
  forgetLease(l: EtcdLease): void {
    this.leases.delete(l);
  }

  /** @internal Runs one etcd call, mapping its errors to KiteErrors that name the operation and key. */
  async call<T>(op: string, key: string, fn: () => Promise<T>): Promise<T> {
    this.checkOpen();
    try {
      return await fn();
    } catch (err) {
      throw this.translate(op, key, err);
    }
  }

  private translate(op: string, key: string, err: unknown): KiteError {
    const msg = errorMessage(err);
    const where = key ? `etcd ${op} "${key}"` : `etcd ${op}`;
    if (err instanceof EtcdLeaseInvalidError || /lease not found/.test(msg)) {
      return new KiteError('MetaFailed', `${where}: lease not found (expired or revoked): grant a new lease`, {
        cause: err,
        retriable: false,
      });
    }
    if (/authentication failed, invalid user ID or password/.test(msg)) {
      return new KiteError('MetaFailed', `${where}: etcd refused the user name or password: check ${this.authSettings}`, {
        cause: err,
        retriable: false,
      });
    }
    if (/user name is empty|user name not found/.test(msg)) {
      return new KiteError('MetaFailed', `${where}: etcd has authentication enabled and needs a user: set ${this.authSettings}`, {
        cause: err,
        retriable: false,
      });
    }
    if (/permission denied/.test(msg)) {
      return new KiteError('MetaFailed', `${where}: etcd permission denied: give the etcd user (${this.authSettings}) a role with readwrite on the meta root path`, {
        cause: err,
        retriable: false,
      });
    }
    if (/request is too large/.test(msg)) {
      return new KiteError('RequestTooLarge', `${where}: value too large for etcd (--max-request-bytes, 1.5 MiB by default)`, {
        cause: err,
      });
    }
    if (/duplicate key given in txn request/.test(msg)) {
      return new KiteError('ParameterInvalid', `${where}: a txn branch touches the same key twice`, { cause: err });
    }
    if (/required revision is a future revision/.test(msg)) {
      return new KiteError('ParameterInvalid', `${where}: revision is newer than the store's current revision`, {
        cause: err,
      });
    }
    const transient = err instanceof Error && (isRecoverableError(err) || /deadline|unavailable|closed/i.test(msg));
    return new KiteError('MetaFailed', `${where} failed: ${msg}`, { cause: err, retriable: transient });
  }

  private checkOpen(): void {
    if (this.closed) throw new KiteError('ServiceNotReady', 'etcd meta store is closed');
  }
}

/**
 * One prefix watch on its own gRPC stream. `next` is the first revision not yet delivered; every (re)connect asks
 * etcd for events from there, so a broken stream loses nothing. When etcd has compacted past `next`, the watcher
 * re-lists the prefix, hands the snapshot to `onResync` and continues after it.
 */
class EtcdPrefixWatcher implements Watcher {
  private next: number;
  private stream: WatchStream | undefined;
  /** Bumped whenever a stream is abandoned, so late callbacks from it are ignored. */
  private generation = 0;
  private closed = false;
  private backoffMs = WATCH_MIN_BACKOFF_MS;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private starting: { resolve(): void; reject(err: Error): void } | undefined;
  private readonly key: Buffer;
  private readonly rangeEnd: Buffer;

  constructor(
    private readonly store: EtcdMetaStore,
    private readonly client: Etcd3,
    private readonly prefix: string,
    fromRevision: number,
    private readonly handlers: WatchHandlers,
    private readonly log: Logger,
  ) {
    this.next = fromRevision > 0 ? Math.floor(fromRevision) : 0;
    this.key = Buffer.from(prefix, 'utf8');
    this.rangeEnd = prefixRangeEnd(prefix);
  }

  /** Resolves once etcd created the watch (or the watcher resynced); rejects if the first attempt fails. */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.starting = { resolve, reject };
      void this.connect();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.abandonStream();
    this.store.forgetWatcher(this);
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const gen = ++this.generation;
    let stream: WatchStream;
    try {
      stream = await this.client.watchClient.watch();
    } catch (err) {
      this.broken(gen, err);
      return;
    }
    if (this.closed || gen !== this.generation) {
      stream.cancel();
      return;
    }
    this.stream = stream;
    stream.on('data', (res) => this.onResponse(gen, res));
    stream.on('error', (err) => this.broken(gen, err));
    stream.on('end', () => this.broken(gen, new Error('etcd closed the watch stream')));
    stream.write({
      create_request: {
        key: this.key,
        range_end: this.rangeEnd,
        prev_kv: true,
        progress_notify: true,
        ...(this.next > 0 ? { start_revision: this.next } : {}),
      },
    });
  }

  private onResponse(gen: number, res: IWatchResponse): void {
    if (gen !== this.generation || this.closed) return;
    if (res.canceled) {
      if (Number(res.compact_revision) > 0) {
        this.log.info({ prefix: this.prefix, from: this.next, compacted: res.compact_revision }, 'watch behind compaction; resyncing');
        this.abandonStream();
        void this.resync();
      } else {
        this.broken(gen, new Error(`etcd canceled the watch: ${res.cancel_reason || 'no reason given'}`));
      }
      return;
    }
    if (res.created) {
      this.backoffMs = WATCH_MIN_BACKOFF_MS;
      if (this.next <= 0) this.next = Number(res.header.revision) + 1;
      this.settleStart();
    }
    if (res.events.length === 0) return;
    const events: WatchEvent[] = [];
    let last = this.next - 1;
    for (const ev of res.events) {
      const rev = Number(ev.kv.mod_revision);
      if (rev < this.next) continue; // already delivered before a reconnect
      last = Math.max(last, rev);
      const prevValue = ev.prev_kv ? ev.prev_kv.value.toString('utf8') : undefined;
      if (ev.type === 'Delete') {
        events.push({ type: 'delete', key: ev.kv.key.toString('utf8'), modRevision: rev, ...(prevValue !== undefined ? { prevValue } : {}) });
      } else {
        events.push({ type: 'put', kv: toKeyValue(ev.kv), ...(prevValue !== undefined ? { prevValue } : {}) });
      }
    }
    if (events.length === 0) return;
    // etcd sends all events of one revision in one response, so everything up to `last` is delivered.
    this.next = last + 1;
    try {
      this.handlers.onEvents(events);
    } catch (err) {
      this.log.error({ prefix: this.prefix, err: errorMessage(err) }, 'watch handler threw');
    }
  }

  private broken(gen: number, err: unknown): void {
    if (gen !== this.generation || this.closed) return;
    this.abandonStream();
    if (this.starting) {
      const { reject } = this.starting;
      this.starting = undefined;
      void this.close();
      reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.log.warn({ prefix: this.prefix, from: this.next, err: errorMessage(err), retryInMs: this.backoffMs }, 'watch broke; reconnecting');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => void this.connect(), this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, this.store.watchMaxBackoffMs);
  }

  private async resync(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      try {
        const snapshot = await this.store.getPrefix(this.prefix);
        if (this.closed) return;
        this.next = snapshot.revision + 1;
        try {
          this.handlers.onResync(snapshot);
        } catch (err) {
          this.log.error({ prefix: this.prefix, err: errorMessage(err) }, 'watch resync handler threw');
        }
        break;
      } catch (err) {
        if (this.store.isClosed) {
          this.handlers.onError?.(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        this.log.warn({ prefix: this.prefix, err: errorMessage(err) }, 'watch resync listing failed; retrying');
        await sleep(this.backoffMs);
        this.backoffMs = Math.min(this.backoffMs * 2, this.store.watchMaxBackoffMs);
      }
    }
    this.settleStart();
    void this.connect();
  }

  private settleStart(): void {
    const starting = this.starting;
    this.starting = undefined;
    starting?.resolve();
  }

  private abandonStream(): void {
    this.generation++;
    const stream = this.stream;
    this.stream = undefined;
    stream?.cancel();
  }
}

/**
 * A lease kept alive at TTL/3 on its own keep-alive stream. It is lost when etcd answers a keep-alive with TTL 0
 * (expired or revoked elsewhere), or when no keep-alive succeeded for one TTL (etcd may have expired it; the
 * holder must not go on believing it owns its keys). On loss it is revoked on a best-effort basis so that what
 * others see converges with what the holder decided. A lease granted without keep-alive is checked at its expiry.
 */
class EtcdLease implements Lease {
  private state: 'alive' | 'lost' | 'revoked' | 'detached' = 'alive';
  private lostReason: string | undefined;
  private readonly listeners: Array<(reason: string) => void> = [];
  /** Local time the last successful keep-alive (or the grant) was sent: etcd's expiry is later than this + TTL. */
  private lastRefresh: number;
  private loopTimer: NodeJS.Timeout | undefined;
  private lossTimer: NodeJS.Timeout | undefined;
  private stream: KeepAliveStream | undefined;
  private pending: { resolve(ttl: number): void; reject(err: Error): void } | undefined;
  private failing = false;

  constructor(
    private readonly store: EtcdMetaStore,
    private readonly client: Etcd3,
    readonly id: string,
    readonly ttlSeconds: number,
    keepAlive: boolean,
    grantedAt: number,
    private readonly log: Logger,
  ) {
    this.lastRefresh = grantedAt;
    if (keepAlive) {
      this.armLossTimer();
      this.schedule(this.intervalMs);
    } else {
      this.scheduleExpiryCheck(ttlSeconds * 1000 + 100);
    }
  }

  private get intervalMs(): number {
    return (this.ttlSeconds * 1000) / 3;
  }

  onLost(listener: (reason: string) => void): void {
    if (this.state === 'lost') {
      const reason = this.lostReason ?? 'lease lost';
      setImmediate(() => listener(reason));
      return;
    }
    this.listeners.push(listener);
  }

  async isAlive(): Promise<boolean> {
    if (this.state === 'revoked') return false;
    const res = await this.store.call('leaseTimeToLive', this.id, () => this.client.leaseClient.leaseTimeToLive({ ID: this.id }));
    return Number(res.TTL) > 0;
  }

  async revoke(): Promise<void> {
    if (this.state === 'revoked') return;
    this.state = 'revoked';
    this.stop();
    this.store.forgetLease(this);
    try {
      await this.store.call('revokeLease', this.id, () => this.client.leaseClient.leaseRevoke({ ID: this.id }));
    } catch (err) {
      if (err instanceof KiteError && /lease not found/.test(err.message)) return; // gone already
      throw err;
    }
  }

  /** The store closes: stop keeping the lease alive (it expires after its TTL) without calling onLost. */
  detach(): void {
    if (this.state === 'alive') this.state = 'detached';
    this.stop();
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.loopTimer);
    this.loopTimer = setTimeout(() => void this.keepAliveTick(), delayMs);
  }

  private async keepAliveTick(): Promise<void> {
    if (this.state !== 'alive') return;
    const sentAt = Date.now();
    let ttl: number;
    try {
      ttl = await this.keepAliveOnce(Math.max(KEEPALIVE_MIN_TIMEOUT_MS, this.intervalMs));
    } catch (err) {
      if (this.state !== 'alive') return;
      this.dropStream();
      if (!this.failing) this.log.warn({ lease: this.id, err: errorMessage(err) }, 'lease keep-alive failed; retrying');
      this.failing = true;
      this.schedule(Math.min(KEEPALIVE_RETRY_MS, this.intervalMs));
      return;
    }
    if (this.state !== 'alive') return;
    if (ttl <= 0) {
      this.lose('etcd says the lease no longer exists (it expired or was revoked)');
      return;
    }
    if (this.failing) this.log.info({ lease: this.id, ttl }, 'lease keep-alive recovered');
    this.failing = false;
    this.lastRefresh = sentAt;
    this.armLossTimer();
    this.schedule(this.intervalMs);
  }

  private async keepAliveOnce(timeoutMs: number): Promise<number> {
    if (!this.stream) {
      const stream = await this.client.leaseClient.leaseKeepAlive();
      if (this.state !== 'alive') {
        stream.cancel();
        throw new Error('lease no longer kept alive');
      }
      this.stream = stream;
      const fail = (err: Error): void => {
        if (this.stream !== stream) return;
        this.stream = undefined;
        this.pending?.reject(err);
        this.pending = undefined;
      };
      stream.on('data', (res) => {
        if (this.stream !== stream) return;
        this.pending?.resolve(Number(res.TTL));
        this.pending = undefined;
      });
      stream.on('error', fail);
      stream.on('end', () => fail(new Error('etcd closed the keep-alive stream')));
    }
    const stream = this.stream;
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        reject(new Error(`no keep-alive answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending = {
        resolve: (ttl) => {
          clearTimeout(timer);
          resolve(ttl);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      stream.write({ ID: this.id });
    });
  }

  private armLossTimer(): void {
    clearTimeout(this.lossTimer);
    const remaining = this.lastRefresh + this.ttlSeconds * 1000 - Date.now();
    this.lossTimer = setTimeout(
      () => this.lose(`no successful keep-alive for ${this.ttlSeconds} s (the lease TTL); etcd may have expired it`),
      Math.max(0, remaining),
    );
  }

  private scheduleExpiryCheck(delayMs: number): void {
    clearTimeout(this.loopTimer);
    this.loopTimer = setTimeout(() => {
      void (async () => {
        if (this.state !== 'alive') return;
        try {
          const res = await this.client.leaseClient.leaseTimeToLive({ ID: this.id });
          if (this.state !== 'alive') return;
          const ttl = Number(res.TTL);
          if (ttl <= 0) this.lose('the lease expired (it was granted without keep-alive)');
          else this.scheduleExpiryCheck(ttl * 1000 + 100);
        } catch {
          if (this.state === 'alive') this.scheduleExpiryCheck(500);
        }
      })();
    }, delayMs);
  }

  private lose(reason: string): void {
    if (this.state !== 'alive') return;
    this.state = 'lost';
    this.lostReason = reason;
    this.stop();
    this.store.forgetLease(this);
    this.log.warn({ lease: this.id, reason }, 'lease lost');
    // Best effort: make etcd agree with our decision now rather than after the TTL.
    if (!this.store.isClosed) this.client.leaseClient.leaseRevoke({ ID: this.id }).catch(() => undefined);
    for (const listener of this.listeners.splice(0)) {
      try {
        listener(reason);
      } catch (err) {
        this.log.error({ lease: this.id, err: errorMessage(err) }, 'onLost listener threw');
      }
    }
  }

  private stop(): void {
    clearTimeout(this.loopTimer);
    clearTimeout(this.lossTimer);
    this.dropStream();
  }

  private dropStream(): void {
    const stream = this.stream;
    this.stream = undefined;
    this.pending?.reject(new Error('keep-alive stream dropped'));
    this.pending = undefined;
    stream?.cancel();
  }
}
