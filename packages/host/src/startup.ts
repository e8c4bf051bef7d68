/**
 * Start-up that tells the truth: a listener that cannot bind or a data directory held by another process stops the
 * start with a `ListenFailed`/`DirectoryLocked` error naming the address or directory and the setting to change,
 * after what had already started is stopped again (sessions revoked, stores closed and unlocked).
 */
import { envName, errnoOf, HOST_ERRNOS, isKiteError, KiteError, type Logger } from '@kite/common';

/** A setting an operator can change: the command's flag for it, if it has one, and its configuration key. */
export interface Setting {
  flag?: string;
  key: string;
}

/** `--port (config proxy.port, env KITE_PROXY_PORT)`, or without the flag for a command that has none. */
export function settingText(s: Setting): string {
  return s.flag ? `${s.flag} (config ${s.key}, env ${envName(s.key)})` : `config ${s.key} (env ${envName(s.key)})`;
}

/** The address settings: the public Milvus port, the internal ports, the HTTP server. */
export const LISTEN_HOST: Setting = { key: 'common.listenHost' };
export const INTERNAL_LISTEN_HOST: Setting = { key: 'internal.listenHost' };
export const METRICS_LISTEN_HOST: Setting = { key: 'common.metricsListenHost' };

/**
 * Runs `start`, which binds a server; a `ListenFailed` from it gets `what` in front of its message (the address and
 * reason) and the fix after it: the port setting, or the listen host when the address is the problem or the server
 * takes any free port (`port` undefined).
 */
export async function listening<T>(what: string, port: Setting | undefined, start: () => Promise<T>, host: Setting = LISTEN_HOST): Promise<T> {
  try {
    return await start();
  } catch (e) {
    if (!isKiteError(e) || e.kind !== 'ListenFailed') throw e;
    const errno = errnoOf(e.cause ?? e);
    const fix =
      port === undefined || (errno !== undefined && HOST_ERRNOS.has(errno))
        ? `check the address in ${settingText(host)}`
        : `stop the process that holds it or choose another port with ${settingText(port)}`;
    throw new KiteError('ListenFailed', `${what}: ${e.message}; ${fix}`, { cause: e });
  }
}

/** A `DirectoryLocked` from opening the stores under the data dir, restated for the data dir and its setting. */
export function dataDirLocked(e: KiteError, dataDir: string, holder: number | undefined, setting: Setting): KiteError {
  const who = holder === undefined ? 'another process' : `process ${holder}`;
  return new KiteError(
    'DirectoryLocked',
    `data directory ${dataDir} is in use by ${who} (another Kite instance?): stop it, or give this one its own ` +
      `directory with ${settingText(setting)}`,
    { cause: e },
  );
}

/**
 * What a start-up has brought up so far, each with its stop. A failed step stops them again in reverse order,
 * each bounded, so the process exits with nothing registered or locked in its name.
 */
export class StartedParts {
  private readonly parts: Array<{ what: string; stop: () => Promise<void> }> = [];

  constructor(
    private readonly log: Logger,
    /** How long stopping after a failed start may take in all (config common.startUnwindTimeoutMs). */
    private readonly unwindTimeoutMs: number,
  ) {}

  /** Records a part (before its start completes, so a half-done start is stopped too). */
  add(what: string, stop: () => Promise<void>): void {
    this.parts.push({ what, stop });
  }

  /**
   * Stops every part, newest first; a part that fails is logged and the rest are still stopped, then the first
   * failure is thrown (a graceful stop that went wrong still exits non-zero). With `timeoutMs`, the whole stop gets
   * that long (see `unwind`).
   */
  async stopAll(timeoutMs?: number): Promise<void> {
    const failures = await this.unwind(timeoutMs);
    if (failures.length > 0) throw failures[0];
  }

  /** After a failed start: stops what started, all of it within a bounded time, and rethrows the start's failure. */
  async fail(e: unknown): Promise<never> {
    await this.unwind(this.unwindTimeoutMs);
    throw e;
  }

  /**
   * Stops every part newest first, each failure logged and collected. With `timeoutMs`, all of it together gets
   * that long: a part that overruns is left to the process exit, counted as a failure (`DeadlineExceeded`), and
   * the next one is stopped.
   */
  private async unwind(timeoutMs: number | undefined): Promise<unknown[]> {
    const failures: unknown[] = [];
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    for (const { what, stop } of this.parts.splice(0).reverse()) {
      let timer: NodeJS.Timeout | undefined;
      const limit =
        deadline === undefined
          ? undefined
          : new Promise<'timeout'>((resolve) => {
              timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
            });
      try {
        const out = await (limit ? Promise.race([stop(), limit]) : stop());
        if (out === 'timeout') {
          this.log.warn({ part: what, timeoutMs }, 'stop did not finish in time');
          failures.push(new KiteError('DeadlineExceeded', `stopping ${what} did not finish within ${timeoutMs} ms`));
        }
      } catch (e) {
        this.log.error({ part: what, err: String(e) }, 'stop failed');
        failures.push(e);
      } finally {
        clearTimeout(timer);
      }
    }
    return failures;
  }
}
