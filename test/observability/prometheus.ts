/**
 * Debian's `prometheus` and `promtool` (apt-get install prometheus) for tests: start a server on a free loopback
 * port with a temporary storage directory, ask its HTTP API (/api/v1/query, query_range, label values, targets;
 * PrometheusApi, which also talks to any other server by URL), and stop it. The server is a child of the test
 * process; `stop()` ends it by pid (SIGTERM, then SIGKILL).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, sleep } from '../harness/util';

export const PROMETHEUS_BIN = process.env.KITE_PROMETHEUS_BIN ?? 'prometheus';
export const PROMTOOL_BIN = process.env.KITE_PROMTOOL_BIN ?? 'promtool';

/** A sample as the HTTP API returns it: [unix seconds, value as a string ("NaN", "+Inf" included)]. */
export type Sample = [number, string];

export interface InstantSeries {
  metric: Record<string, string>;
  value: Sample;
}

export interface RangeSeries {
  metric: Record<string, string>;
  values: Sample[];
}

export interface ActiveTarget {
  labels: Record<string, string>;
  scrapeUrl: string;
  health: 'up' | 'down' | 'unknown';
  lastError: string;
}

/** Fails with the install hint when the Debian package is missing, instead of an ENOENT from spawn. */
export function requireBinary(bin: string): void {
  const res = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  if (res.error || res.status !== 0) {
    throw new Error(
      `${bin} is not runnable (${res.error?.message ?? res.stderr}); install Debian's prometheus package: ` +
        'apt-get install -y prometheus (scripts/install-system-deps.sh does it)',
    );
  }
}

/** `promtool check config FILE`: exit code and output. */
export function promtoolCheckConfig(file: string): { code: number | null; output: string } {
  const res = spawnSync(PROMTOOL_BIN, ['check', 'config', file], { encoding: 'utf8', timeout: 30_000 });
  return { code: res.status, output: `${res.stdout ?? ''}${res.stderr ?? ''}${res.error ? res.error.message : ''}` };
}

/**
 * Prometheus's HTTP API at `url` (a server this module started, or any other, e.g. for scripts/render-dashboard.ts).
 * Every call ends within `timeoutMs`.
 */
export class PrometheusApi {
  constructor(
    readonly url: string,
    readonly timeoutMs = 30_000,
  ) {}

  protected async api<T>(endpoint: string, params: Record<string, string | string[]>): Promise<T> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) for (const one of Array.isArray(v) ? v : [v]) qs.append(k, one);
    const res = await fetch(`${this.url}${endpoint}?${qs.toString()}`, { signal: AbortSignal.timeout(this.timeoutMs) }).catch((e: Error) => {
      const cause = (e.cause as Error | undefined)?.message;
      throw new Error(`cannot reach Prometheus at ${this.url} within ${this.timeoutMs} ms (${e.message}${cause ? `: ${cause}` : ''}); is it running there?`);
    });
    const json = (await res.json().catch(() => {
      throw new Error(`${this.url}${endpoint} answered HTTP ${res.status} without JSON: is ${this.url} a Prometheus server?`);
    })) as { status: string; data?: T; error?: string; errorType?: string };
    if (json.status !== 'success' || json.data === undefined) {
      throw new Error(`${endpoint} ${JSON.stringify(params)}: ${json.errorType ?? res.status}: ${json.error ?? 'no data'}`);
    }
    return json.data;
  }

  /** An instant query at `time` (unix seconds; now when omitted); a vector result as series, a scalar as one. */
  async query(expr: string, time?: number): Promise<InstantSeries[]> {
    const data = await this.api<{ resultType: string; result: unknown }>('/api/v1/query', {
      query: expr,
      ...(time !== undefined ? { time: String(time) } : {}),
    });
    if (data.resultType === 'vector') return data.result as InstantSeries[];
    if (data.resultType === 'scalar') return [{ metric: {}, value: data.result as Sample }];
    throw new Error(`query ${expr} returned a ${data.resultType}, not a vector`);
  }

  async queryRange(expr: string, start: number, end: number, stepSeconds: number): Promise<RangeSeries[]> {
    const data = await this.api<{ resultType: string; result: RangeSeries[] }>('/api/v1/query_range', {
      query: expr,
      start: String(start),
      end: String(end),
      step: String(stepSeconds),
    });
    return data.result;
  }

  /** Values of `label` over series matching `match` (what Grafana's label_values(match, label) lists). */
  async labelValues(label: string, match: string): Promise<string[]> {
    return this.api<string[]>(`/api/v1/label/${encodeURIComponent(label)}/values`, { 'match[]': match });
  }

  async targets(): Promise<ActiveTarget[]> {
    const res = await fetch(`${this.url}/api/v1/targets?state=active`, { signal: AbortSignal.timeout(this.timeoutMs) });
    const json = (await res.json()) as { data: { activeTargets: ActiveTarget[] } };
    return json.data.activeTargets;
  }

}

export class PrometheusServer extends PrometheusApi {
  private exited = false;
  private readonly exit: Promise<void>;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    super(`http://127.0.0.1:${port}`);
    this.exit = new Promise<void>((resolve) => {
      const done = (): void => {
        this.exited = true;
        resolve();
      };
      child.once('exit', done);
      child.once('error', done);
    });
  }

  /** Starts `prometheus --config.file=configFile` with its TSDB under `dir`; resolves once /-/ready answers 200. */
  static async start(configFile: string, dir: string, readyTimeoutMs = 60_000): Promise<PrometheusServer> {
    const port = await freePort();
    const logFile = path.join(dir, 'prometheus.log');
    const log = fs.openSync(logFile, 'a');
    const child = spawn(
      PROMETHEUS_BIN,
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${path.join(dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--storage.tsdb.retention.time=1d',
        '--log.level=warn',
      ],
      { stdio: ['ignore', log, log] },
    );
    fs.closeSync(log);
    const server = new PrometheusServer(port, dir, child, logFile);
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (server.exited) throw new Error(`prometheus exited during start-up:\n${server.logTail()}`);
      const ok = await fetch(`${server.url}/-/ready`).then((r) => r.ok, () => false);
      if (ok) return server;
      if (Date.now() > deadline) {
        await server.stop();
        throw new Error(`prometheus not ready on :${port} after ${readyTimeoutMs} ms:\n${server.logTail()}`);
      }
      await sleep(200);
    }
  }

  logTail(bytes = 3000): string {
    try {
      const text = fs.readFileSync(this.logFile, 'utf8');
      return text.slice(-bytes);
    } catch {
      return '(no log)';
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.exited || this.child.pid === undefined) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exit;
    clearTimeout(timer);
  }
}
