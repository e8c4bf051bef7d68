import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { KiteError, toKiteError, type KiteConfig } from '@kite/common';
import type { MetaStore } from '@kite/metastore';
import { connect, remainingMs, type Client, type QueryCoordApi } from '@kite/rpc';
import { codecs, keys } from '@kite/segment';

/**
 * The proxy's link to the active query coordinator: follows the coordinator's exclusive session key (a fail-over
 * reconnects), and runs data-path calls with retries until the request's deadline.
 */
export class Coordinator {
  private client: Client<QueryCoordApi> | undefined;
  private closeWatch: (() => Promise<void>) | undefined;
  private readonly policy;

  constructor(
    private readonly cfg: KiteConfig,
    private readonly store: MetaStore,
  ) {
    this.policy = retry(handleWhen((e) => toKiteError(e).retriable), {
      maxAttempts: Number.MAX_SAFE_INTEGER,
      backoff: new ExponentialBackoff({ initialDelay: cfg.proxy.retryInitialDelayMs, maxDelay: cfg.proxy.retryMaxDelayMs }),
    });
  }

  /** Whether an active coordinator is known. */
  get known(): boolean {
    return this.client !== undefined;
  }

  async start(): Promise<void> {
    await this.find();
    const key = keys.coordinatorSession(this.cfg.common.rootPath);
    const snap = await this.store.getPrefix(key);
    const w = await this.store.watchPrefix(key, snap.revision + 1, { onEvents: () => void this.find(), onResync: () => void this.find() });
    this.closeWatch = () => w.close();
  }

  async close(): Promise<void> {
    await this.closeWatch?.();
    this.client?.close();
  }

  private async find(): Promise<void> {
    const kv = await this.store.get(keys.coordinatorSession(this.cfg.common.rootPath));
    if (!kv) return;
    const addr = codecs.activeCoordinator.decode(kv.value, kv.key).address;
    if (this.client?.address !== addr) {
      this.client?.close();
      this.client = connect('QueryCoord', addr);
    }
  }

  /** The coordinator's client; ServiceNotReady while none is known. */
  api(): Client<QueryCoordApi> {
    if (!this.client) throw new KiteError('ServiceNotReady', 'the query coordinator is not available yet; retry shortly');
    return this.client;
  }

  /** The rest of the request's time, as the timeout of a coordinator call. */
  within(deadline: number): { timeoutMs: number } {
    return { timeoutMs: remainingMs(deadline, this.cfg.proxy.coordinatorMinTimeoutMs) };
  }

  /**
   * A coordinator call on the data path (timestamps, ids, shard leaders): retriable failures (the coordinator
   * unreachable, or a standby still taking over) are retried with backoff (proxy.retryInitialDelayMs doubling to
   * proxy.retryMaxDelayMs) until the request's deadline, so a coordinator failover delays inserts and searches
   * instead of failing them. Each attempt goes to the coordinator the exclusive session key names at that moment and
   * gets the time left as its timeout.
   */
  call<T>(deadline: number, fn: (qc: Client<QueryCoordApi>, timeoutMs: number) => Promise<T>): Promise<T> {
    const signal = AbortSignal.timeout(remainingMs(deadline));
    let last: unknown;
    return this.policy
      .execute(async () => {
        try {
          return await fn(this.api(), remainingMs(deadline, this.cfg.proxy.coordinatorMinTimeoutMs));
        } catch (err) {
          last = err;
          throw err;
        }
      }, signal)
      .catch((err: unknown) => {
        // Out of time while backing off: say so, with the coordinator's own error, which says more than "cancelled".
        if (!signal.aborted) throw err;
        const why = last === undefined ? 'no answer' : toKiteError(last).message;
        throw new KiteError('ServiceUnavailable', `the query coordinator did not answer before the deadline: ${why}`, { cause: last });
      });
  }

  /** `count` consecutive timestamps from the coordinator's oracle; the first. */
  async timestamps(count: number, deadline: number): Promise<bigint> {
    return BigInt((await this.call(deadline, (qc, timeoutMs) => qc.AllocTimestamp({ count }, { timeoutMs }))).start);
  }
}
