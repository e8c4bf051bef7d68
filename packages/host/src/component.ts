/**
 * One component's life in a process, the same for every role: its gRPC server, its session, its lifecycle state
 * (starting, serving, stopping, stopped) and a graceful stop. A component supplies only what is its own (the
 * services it serves, what it opens before serving, how it hands work over and what it closes) as a `Hosted`.
 */
import * as grpc from '@grpc/grpc-js';
import { KiteError, Lifecycle, type KiteConfig, type LifecycleState, type Logger } from '@kite/common';
import type { MetaStore } from '@kite/metastore';
import { gauge, type HttpHandler } from '@kite/observe';
import { bindServer, publicServerCredentials, serveInProcess, SERVER_OPTIONS, type LocalRegistration } from '@kite/rpc';
import { Session, type Role } from '@kite/session';
import { INTERNAL_LISTEN_HOST, listening, LISTEN_HOST, type Setting } from './startup';

const STATES: readonly LifecycleState[] = ['starting', 'serving', 'stopping', 'stopped'];
/** The states each state is entered from; any other transition is refused (and logged). */
const FROM: Record<LifecycleState, LifecycleState[]> = {
  initializing: [],
  starting: ['initializing'],
  serving: ['starting'],
  stopping: ['starting', 'serving'],
  stopped: ['stopping'],
};
const stateGauge = gauge(
  'kite_component_state',
  'lifecycle state of each component in this process: 1 for its current state (starting, serving, stopping, stopped), 0 for the others',
  ['component', 'state'],
);

/** What the host gives a component once its gRPC server is bound (before its session registers). */
export interface HostContext {
  /** `advertiseHost:port`: how other processes reach the component. */
  readonly address: string;
  /** The bound gRPC port. */
  readonly port: number;
  /** The component's session; the host registers it, rejoins it after a loss and revokes it on stop. */
  readonly session: Session;
}

/**
 * A component the host can run. Start: `prepare`, `addServices`, bind, `attach`, register the session, `serve`.
 * Stop: mark the session stopping (if `announceStopping`), `drain`, revoke the session, shut the gRPC server down,
 * `close`. Every hook but `addServices` is optional.
 */
export interface Hosted {
  readonly role: Role;
  /** Marks the session `stopping` before `drain`, so the coordinator moves the component's work elsewhere. */
  readonly announceStopping?: boolean;
  /** Lets in-flight calls finish when the server shuts down (within the stop deadline) instead of cancelling them. */
  readonly gracefulShutdown?: boolean;
  /** gRPC server options (default: @kite/rpc's SERVER_OPTIONS). */
  serverOptions?(): grpc.ServerOptions;
  /** Before the gRPC server binds: caches, watches, clients. Undone by `close` (also after a failed start). */
  prepare?(): Promise<void>;
  /** Adds the component's services to its gRPC server, before it binds. */
  addServices(server: grpc.Server): void;
  /** The bound address and the session, before the session registers. */
  attach?(ctx: HostContext): void;
  /** After the session registered; the component serves once this resolves (a standby coordinator waits here). */
  serve?(): Promise<void>;
  /** The session's lease was lost: drop what was assigned under it. The host registers a new session afterwards. */
  sessionLost?(): Promise<void>;
  /** Graceful stop while still serving and registered: hand work over, finishing by `deadline` (epoch ms). */
  drain?(deadline: number): Promise<void>;
  /** After the gRPC server shut down: closes what `prepare` opened. */
  close?(): Promise<void>;
  /** Readiness beyond "serving" (default: the session is live). */
  ready?(): boolean;
  /** Extra fields for /ready and /healthz. */
  details?(): Record<string, unknown>;
  /** Routes the component serves on the process's HTTP server (the proxy's RESTful API), once it serves. */
  httpHandler?(): HttpHandler;
}

export interface ComponentOptions {
  cfg: KiteConfig;
  /** The meta store its session lives in. */
  store: MetaStore;
  log: Logger;
  /** gRPC port to bind (0: any free port). */
  port: number;
  /** The setting that moves the port, named when it cannot be bound; undefined for a port taken freely (0). */
  portSetting?: Setting;
  /** Name in logs, errors and the state gauge (default: the role). */
  name?: string;
  /**
   * Also serve the internal services to clients in this process directly (@kite/rpc serveInProcess), from the
   * bind until the gRPC server shuts down. Standalone only: a cluster process's components are called over gRPC.
   */
  inProcess?: boolean;
}

/** A hosted component: start it once, stop it once (stop also undoes a start that failed half-way). */
export class RunningComponent {
  readonly name: string;
  private readonly lifecycle: Lifecycle;
  private server: grpc.Server | undefined;
  private local: LocalRegistration | undefined;
  private sessionValue: Session | undefined;
  private stopping: Promise<void> | undefined;
  address = '';
  port = 0;

  constructor(
    readonly component: Hosted,
    private readonly opts: ComponentOptions,
  ) {
    this.name = opts.name ?? component.role;
    this.lifecycle = new Lifecycle(opts.log);
    this.enter('starting');
  }

  get state(): LifecycleState {
    return this.lifecycle.state;
  }

  get session(): Session | undefined {
    return this.sessionValue;
  }

  get serverID(): number {
    return this.sessionValue?.info?.serverID ?? 0;
  }

  /** Serving, and the component's own readiness (default: its session is live). */
  ready(): boolean {
    if (this.state !== 'serving') return false;
    return this.component.ready ? this.component.ready() : this.sessionValue?.live === true;
  }

  details(): Record<string, unknown> {
    return { role: this.component.role, serverID: this.serverID, state: this.state, ...(this.component.details?.() ?? {}) };
  }

  private enter(state: LifecycleState): void {
    if (!this.lifecycle.transition(FROM[state], state)) return;
    for (const s of STATES) stateGauge.set({ component: this.name, state: s }, s === state ? 1 : 0);
  }

  /**
   * Binds the gRPC server, then registers the session (a port that cannot be bound fails with a `ListenFailed`
   * naming the address and `portSetting` before anything is registered), then lets the component serve. A start
   * that fails stops what it had started (within common.startUnwindTimeoutMs) and rethrows.
   */
  async start(): Promise<void> {
    try {
      await this.startSteps();
    } catch (e) {
      await this.stop(Date.now() + this.opts.cfg.common.startUnwindTimeoutMs).catch(() => undefined);
      throw e;
    }
  }

  private async startSteps(): Promise<void> {
    const { cfg, log } = this.opts;
    const c = this.component;
    await c.prepare?.();
    this.checkNotStopped();
    const server = (this.server = new grpc.Server(c.serverOptions?.() ?? SERVER_OPTIONS));
    c.addServices(server);
    const what = `${ROLE_NAMES[c.role]} gRPC server`;
    // The proxy's port is the public one (common.listenHost, TLS by tls.mode); every other port is internal
    // (internal.listenHost, guarded by the cluster secret).
    const isPublic = c.role === 'proxy';
    const host = isPublic ? cfg.common.listenHost : cfg.internal.listenHost;
    const credentials = isPublic ? publicServerCredentials(cfg) : undefined;
    this.port = await listening(what, this.opts.portSetting, () => bindServer(server, host, this.opts.port, credentials), isPublic ? LISTEN_HOST : INTERNAL_LISTEN_HOST);
    this.address = `${cfg.common.advertiseHost}:${this.port}`;
    if (this.opts.inProcess && !isPublic) this.local = serveInProcess(server, this.address);
    if (!isPublic && isLoopback(host) && !isLoopback(cfg.common.advertiseHost)) {
      log.warn(
        { listenHost: host, advertiseHost: cfg.common.advertiseHost },
        'the internal port listens on loopback but is advertised at another address, which other hosts cannot reach: set internal.listenHost (KITE_INTERNAL_LISTEN_HOST) to the advertised address',
      );
    }
    const session = new Session(this.opts.store, cfg.common.rootPath, cfg.common.sessionTtlSeconds, { role: c.role, address: this.address, metricsAddress: '' }, log);
    this.sessionValue = session;
    c.attach?.({ address: this.address, port: this.port, session });
    session.on('lost', () => void this.onSessionLost(session));
    this.checkNotStopped();
    await session.register();
    await c.serve?.();
    this.checkNotStopped();
    this.enter('serving');
  }

  private checkNotStopped(): void {
    if (this.stopping) throw new KiteError('ServiceNotReady', `${this.name} was stopped while starting`);
  }

  private async onSessionLost(session: Session): Promise<void> {
    try {
      await this.component.sessionLost?.();
    } catch (e) {
      this.opts.log.error({ err: String(e) }, 'dropping work after the lease was lost failed');
    }
    await session.rejoin();
  }

  /**
   * Graceful stop, by `deadline` (epoch ms; the drain gets what is left of it): session marked stopping (if the
   * component hands work over), drain, session revoked, gRPC server shut down, component closed. Once only; a
   * second call waits for the first. The first failure is thrown after every step ran.
   */
  stop(deadline = Date.now() + this.opts.cfg.common.stopTimeoutMs): Promise<void> {
    this.stopping ??= this.stopOnce(deadline);
    return this.stopping;
  }

  private async stopOnce(deadline: number): Promise<void> {
    this.enter('stopping');
    const c = this.component;
    const failures: unknown[] = [];
    const step = async (what: string, run: () => Promise<void> | void): Promise<void> => {
      try {
        await run();
      } catch (e) {
        this.opts.log.error({ component: this.name, step: what, err: String(e) }, 'stop step failed');
        failures.push(e);
      }
    };
    if (c.announceStopping) await this.sessionValue?.markStopping().catch(() => undefined);
    if (c.drain) await step('drain', () => c.drain!(deadline));
    await step('revoke session', () => this.sessionValue?.revoke());
    await step('shut down gRPC server', () => this.shutdown(deadline));
    if (c.close) await step('close', () => c.close!());
    this.enter('stopped');
    if (failures.length > 0) throw failures[0];
  }

  private async shutdown(deadline: number): Promise<void> {
    const server = this.server;
    if (!server) return;
    // New in-process calls go to the (closing) gRPC port from here on, as a remote caller's do.
    this.local?.close(!this.component.gracefulShutdown);
    if (!this.component.gracefulShutdown) {
      server.forceShutdown();
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const local = this.local;
    await new Promise<void>((resolve) => {
      let waiting = local ? 2 : 1;
      const one = (): void => {
        if (--waiting === 0) resolve();
      };
      server.tryShutdown(one);
      void local?.idle().then(one);
      timer = setTimeout(() => {
        this.opts.log.warn({ component: this.name }, 'calls still running at the stop deadline: cancelling them');
        server.forceShutdown();
        local?.close(true);
        resolve();
      }, Math.max(0, deadline - Date.now()));
    });
    clearTimeout(timer);
  }
}

/** 127.x.x.x, ::1 or localhost. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** How start-up errors name each role's server. */
const ROLE_NAMES: Record<Role, string> = {
  proxy: 'Milvus',
  querycoord: 'query coordinator',
  querynode: 'query node',
  datanode: 'data node',
};

/** Starts `component` on its own (no HTTP server); a failed start has stopped what it started. */
export async function startComponent(component: Hosted, opts: ComponentOptions): Promise<RunningComponent> {
  const running = new RunningComponent(component, opts);
  await running.start();
  return running;
}
