/**
 * A Kite process: the components it runs (one for a cluster role, four for standalone), its HTTP server for
 * /healthz /ready /metrics, its own lifecycle state, and its stop: in reverse order of start, within
 * `common.stopTimeoutMs`, on SIGTERM/SIGINT.
 */
import { Lifecycle, type KiteConfig, type Logger } from '@kite/common';
import type { MetaStore } from '@kite/metastore';
import { startHttp, type HttpHandler, type HttpServer } from '@kite/observe';
import { randomInternalSecret, useInternalSecret } from '@kite/rpc';
import { RunningComponent, type Hosted } from './component';
import { listening, METRICS_LISTEN_HOST, StartedParts, type Setting } from './startup';

interface Member {
  name: string;
  ready(): boolean;
  details(): Record<string, unknown>;
}

export class ComponentHost {
  private readonly parts: StartedParts;
  private readonly members: Member[] = [];
  private readonly lifecycle: Lifecycle;
  private stopping: Promise<void> | undefined;
  /** Components' internal services are also callable in process (standalone with internal.inProcessCalls). */
  private readonly inProcess: boolean;
  http: HttpServer | undefined;
  /** HTTP routes of the components that serve (Hosted.httpHandler), tried in order of start. */
  private readonly httpRoutes: HttpHandler[] = [];

  /**
   * `opts.singleProcess`: every internal call stays inside this process (standalone), so without internal.secret a
   * random secret of its own guards the internal ports, and (with internal.inProcessCalls) the components call each
   * other's handlers directly rather than over gRPC (@kite/rpc serveInProcess); a cluster role without it accepts any internal call (and
   * says so in a warning).
   */
  constructor(
    private readonly cfg: KiteConfig,
    private readonly log: Logger,
    opts: { singleProcess?: boolean } = {},
  ) {
    this.inProcess = opts.singleProcess === true && cfg.internal.inProcessCalls;
    const secret = cfg.internal.secret || (opts.singleProcess ? randomInternalSecret() : '');
    useInternalSecret(secret);
    if (secret === '') {
      log.warn('internal.secret is empty: internal gRPC ports accept calls from anyone who reaches them; set KITE_INTERNAL_SECRET, the same on every process');
    }
    this.parts = new StartedParts(log, cfg.common.startUnwindTimeoutMs);
    this.lifecycle = new Lifecycle(log);
    this.lifecycle.transition(['initializing'], 'starting');
  }

  /** Something the process opened (backends): stopped after everything added later. */
  add(what: string, stop: () => Promise<void>): void {
    this.parts.add(what, stop);
  }

  /**
   * Starts the HTTP server for /metrics /healthz /ready on `port` (its `setting` is named if it cannot bind).
   * /ready answers 200 once the process serves and every component is ready. A cluster role starts it first
   * (/healthz answers while a standby coordinator waits); standalone starts it last.
   */
  async startHttp(port: number, setting: Setting): Promise<HttpServer> {
    const checks = { ready: () => this.ready(), details: () => this.details() };
    const http = await listening('HTTP server for /metrics /healthz /ready', setting, () =>
      startHttp(this.cfg.common.metricsListenHost, port, checks, this.log, (req, res, next) => this.routeHttp(req, res, next)),
      METRICS_LISTEN_HOST,
    );
    this.http = http;
    this.parts.add('HTTP server', () => http.close());
    return http;
  }

  /** Passes an HTTP request through the components' routes, in order; `next` when none answers it. */
  private routeHttp(req: Parameters<HttpHandler>[0], res: Parameters<HttpHandler>[1], next: (err?: unknown) => void): void {
    const routes = [...this.httpRoutes];
    const step = (i: number, err?: unknown): void => {
      const route = routes[i];
      if (err !== undefined || !route) return next(err);
      route(req, res, (e) => step(i + 1, e));
    };
    step(0);
  }

  /** Starts a component on its own gRPC server and session; stopped (gracefully) before what was added earlier. */
  async serve(component: Hosted, opts: { store: MetaStore; port: number; portSetting?: Setting; log?: Logger; name?: string }): Promise<RunningComponent> {
    const running = new RunningComponent(component, { ...opts, cfg: this.cfg, log: opts.log ?? this.log, inProcess: this.inProcess });
    this.parts.add(running.name, () => running.stop(this.deadline ?? Date.now() + this.cfg.common.stopTimeoutMs));
    this.members.push({ name: running.name, ready: () => running.ready(), details: () => running.details() });
    await running.start();
    // Its HTTP routes answer once it serves (before that, a request to them gets the server's 404).
    const route = component.httpHandler?.();
    if (route) this.httpRoutes.push(route);
    return running;
  }

  /** Everything started: the process serves (its /ready can answer 200). */
  started(): void {
    this.lifecycle.transition(['starting'], 'serving');
  }

  get state(): string {
    return this.lifecycle.state;
  }

  ready(): boolean {
    return this.lifecycle.is('serving') && this.members.every((m) => m.ready());
  }

  /** One component: its fields (role, serverID, state, ...); several: each under its name. */
  details(): Record<string, unknown> {
    if (this.members.length === 1) return { ...this.members[0]!.details(), process: this.lifecycle.state };
    return { state: this.lifecycle.state, components: Object.fromEntries(this.members.map((m) => [m.name, m.details()])) };
  }

  /** When the stop in progress must end (epoch ms). */
  private deadline: number | undefined;

  /** Graceful stop of everything, newest first, within common.stopTimeoutMs; rejects with the first failure. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.lifecycle.transition(['starting', 'serving'], 'stopping');
      const timeoutMs = this.cfg.common.stopTimeoutMs;
      this.deadline = Date.now() + timeoutMs;
      try {
        await this.parts.stopAll(timeoutMs);
      } finally {
        this.lifecycle.transition(['stopping'], 'stopped');
      }
    })();
    return this.stopping;
  }

  /** After a failed start: stops what started (bounded by common.startUnwindTimeoutMs) and rethrows `e`. */
  fail(e: unknown): Promise<never> {
    this.lifecycle.transition(['starting', 'serving'], 'stopping');
    return this.parts.fail(e);
  }

  /**
   * Stops on the first SIGTERM/SIGINT, gracefully, then exits (0, or 1 when the stop failed or overran its
   * deadline); a second signal exits at once.
   */
  stopOnSignals(exit: (code: number) => void = (code) => process.exit(code)): void {
    let signalled = false;
    const handler = (signal: string): void => {
      if (signalled) return exit(1);
      signalled = true;
      this.log.info({ signal, timeoutMs: this.cfg.common.stopTimeoutMs }, 'stopping');
      this.stop().then(
        () => exit(0),
        (e: unknown) => {
          this.log.error({ err: String(e) }, 'stop failed');
          exit(1);
        },
      );
    };
    process.on('SIGTERM', () => handler('SIGTERM'));
    process.on('SIGINT', () => handler('SIGINT'));
  }
}
